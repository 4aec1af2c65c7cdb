"""The package installs anywhere it can: ranges in pyproject.toml, exact versions in the
lock file that README's commands and CI install with, every imported package declared."""

import ast
import importlib.metadata
import re
import sys
import tomllib

from tests.cli.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Keras backends other than TensorFlow: imported only when KERAS_BACKEND names them, and
# installed by whoever chooses them (jax is in the test extra to test the library on it).
CHOSEN_BY_THE_USER = {"torch"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]).lower()


def declared(*extras: str) -> dict[str, str]:
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in extras or project["optional-dependencies"]:
        requirements += project["optional-dependencies"][extra]
    return {_name(r): r for r in requirements if _name(r) != _name(project["name"])}


def locked() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    return {_name(line): line.partition("==")[2] for line in pins}


def test_dependencies_are_ranges_and_the_lock_file_pins_each_one():
    for requirement in declared().values():
        assert "==" not in requirement, f"pyproject.toml pins {requirement!r}: give a range"
    pins = locked()
    assert all(pins.values()), "every line of constraints.txt is NAME==VERSION"
    # What `pip install -e ".[test]"` installs (the test extra includes export).
    for name in declared("export", "test"):
        assert name in pins, f"{name} is not in constraints.txt: refresh it (docs/PACKAGING.md)"


def test_every_package_the_code_imports_is_declared():
    distributions = importlib.metadata.packages_distributions()
    names = set(declared())
    undeclared = {}
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top == "resnet_finetune":
                    continue
                owners = {_name(d) for d in distributions.get(top, [top])}
                if not owners & names and top not in CHOSEN_BY_THE_USER:
                    undeclared.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
