"""The documentation is true where a machine can tell: every relative link (and its
anchor) leads somewhere, every ``docs/*.md`` that conf/ or src/ names exists, and every
Python block either runs here, is run by the test it names, or says it is an illustration.

Mark a Python block on the line before its fence:
``<!-- run by tests/...py -->`` (that test reads the block from this file and runs it) or
``<!-- illustration: why it cannot run here -->``; an unmarked block is run by
``test_unmarked_python_blocks_run`` from an empty folder.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "notebooks/README.md"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_BLOCK = re.compile(r"^(?:(<!--[^\n]*-->)\n)?```python\n(.*?)^```", re.M | re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def python_blocks() -> list[tuple[str, str, str]]:
    """``(file, marker, code)`` of every Python block of the docs."""
    return [
        (str(path.relative_to(ROOT)), marker, code)
        for path in DOCS
        for marker, code in _BLOCK.findall(path.read_text(encoding="utf-8"))
    ]


def test_every_relative_link_and_anchor_leads_somewhere():
    broken = []
    for path in [*DOCS, *NOTEBOOKS]:
        for link in _LINK.findall(_markdown(path)):
            if re.match(r"[a-z]+:", link):
                continue
            target, _, anchor = link.partition("#")
            file = (path.parent / target).resolve() if target else path
            if not file.exists():
                broken.append(f"{path.relative_to(ROOT)}: {link} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{path.relative_to(ROOT)}: {link} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_doc_that_conf_or_src_names_exists():
    named = {
        (match, str(path.relative_to(ROOT)))
        for folder in ("conf", "src")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".yml", ".yaml")
        for match in re.findall(r"docs/[\w.-]+\.md", path.read_text(encoding="utf-8"))
    }
    missing = sorted(f"{where}: {doc}" for doc, where in named if not (ROOT / doc).exists())
    assert not missing, missing


def test_every_python_block_runs_or_says_why_not():
    for file, marker, _ in python_blocks():
        if not marker:
            continue  # run by test_unmarked_python_blocks_run
        said = re.fullmatch(r"<!-- (run by (tests/\S+\.py)|illustration: .+) -->", marker)
        assert said, f"{file}: unknown marker {marker!r} before a Python block"
        if said.group(2):
            runner = ROOT / said.group(2)
            assert runner.is_file(), f"{file}: {said.group(2)} does not exist"
            assert Path(file).name in runner.read_text(), f"{runner} does not read {file}"


@pytest.mark.parametrize(
    "file, code",
    [(file, code) for file, marker, code in python_blocks() if not marker],
    ids=lambda value: value.splitlines()[0][:40] if "\n" in value else value,
)
def test_unmarked_python_blocks_run(file, code, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{file}:\n{code}\n{done.stderr[-2000:]}"
