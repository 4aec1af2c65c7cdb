"""The real ``kedro`` command in a fresh clone: README's commands as written, the
documented overrides (conf/local, an environment, a list item by index), a mistake in
the parameters, and what a run prints and leaves behind."""

import re
import subprocess
import sys

import click
import pytest
import yaml
from click.testing import CliRunner

from tests.cli.conftest import ROOT, clone_project, git, image_folder, kedro
from tests.cli.test_readme import (
    BAD_PARAMETER,
    IMAGES,
    OWN_IMAGES,
    REFINETUNE,
    shown_commands,
)
from tests.pipelines.conftest import TINY

# Library noise that a run used to print (TensorFlow's C++ start-up, absl, Kedro's
# telemetry and deprecations, MLflow's and OmegaConf's warnings).
NOISE = re.compile(
    r"WARNING|Traceback|absl|oneDNN|cuda|cpu_feature_guard|UserWarning|DeprecationWarning"
    r"|Heap|anonymous usage|register_new_resolver|Mlflow run"
)


def assert_quiet(done: subprocess.CompletedProcess, max_lines: int) -> list[str]:
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, "\n".join(output[-60:])
    noise = [line for line in output if NOISE.search(line)]
    assert not noise, noise
    assert len(output) <= max_lines, "\n".join(output)
    return output


@pytest.fixture(scope="module")
def own_images_run(tiny_clone, tmp_path_factory):
    """README's "your own images" command, in a clone with tiny sizes in conf/local."""
    images = image_folder(tmp_path_factory.mktemp("images") / "images")
    return kedro(tiny_clone, OWN_IMAGES.replace(IMAGES, str(images)))


def test_readme_own_images_command_runs_quietly_and_names_its_outputs(tiny_clone, own_images_run):
    output = assert_quiet(own_images_run, max_lines=75)  # with the recipe block
    [nodes] = [int(m.group(1)) for line in output if (m := re.search(r", (\d+) nodes$", line))]
    assert sum(bool(re.search(rf"\[\s*\d+/{nodes}\] ", line)) for line in output) == nodes
    report = next(line for line in output if "evaluation_report: " in line)
    assert (tiny_clone / report.split("evaluation_report: ")[1]).is_file()
    [mlflow] = [line for line in output if "MLflow: run 'finetune " in line]
    assert re.search(
        r"its page http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32} ", mlflow
    )
    [manifest] = (tiny_clone / "data/03_primary").glob("target_manifest.csv/*/*.csv")
    assert "owl" in manifest.read_text()  # the user's images were read
    # tiny conf/local (nested keys only) merged with conf/base: no telemetry file, no
    # change to tracked files, nothing untracked that git does not ignore
    assert git(tiny_clone, "status", "--porcelain") == ""


def test_readme_refinetune_command_overrides_one_item_of_a_list(tiny_clone, own_images_run):
    # the run on your own images started from scratch, so no pretrained model is saved
    # yet: README's command says how to make one instead of training from a random start
    missing = kedro(tiny_clone, REFINETUNE)
    assert missing.returncode == 2
    assert "run `kedro run --pipeline finetune` (or `--pipeline pretrain`) first" in (
        missing.stdout + missing.stderr
    )
    assert_quiet(kedro(tiny_clone, "kedro run --pipeline pretrain"), max_lines=45)
    done = kedro(tiny_clone, REFINETUNE)
    output = assert_quiet(done, max_lines=55)  # with the recipe block
    # conf/local gives the tiny phases (1 epoch each); --params sets phase 1 to 5 epochs
    assert sum("epoch 1/1:" in line for line in output) == 1
    assert any("epoch 5/5:" in line for line in output)
    assert not any("pretrain_model" in line for line in output)  # the latest one is reused
    assert git(tiny_clone, "status", "--porcelain") == ""


def test_readme_parameter_mistake_prints_the_message_and_no_traceback(tmp_path):
    project = clone_project(tmp_path)
    done = kedro(project, BAD_PARAMETER)
    assert done.returncode == 2
    output = (done.stdout + done.stderr).splitlines()
    shown = shown_commands()[BAD_PARAMETER]
    start = output.index(shown[0])
    assert output[start : start + len(shown)] == shown
    assert len(output) <= 5 and not any("Traceback" in line for line in output), output
    assert git(project, "status", "--porcelain") == ""  # no telemetry, no pyproject change


def test_an_environment_setting_nested_keys_only_runs(tmp_path):
    project = clone_project(tmp_path)
    (project / "conf/tiny").mkdir()
    (project / "conf/tiny/parameters.yml").write_text(yaml.safe_dump(TINY))
    done = kedro(project, "kedro run --pipeline pretrain --env tiny")
    output = assert_quiet(done, max_lines=45)  # with the recipe block
    assert any("epoch 1/1:" in line for line in output)


def test_the_command_line_module_imports_no_heavy_library():
    code = (
        "import sys, resnet_finetune.cli; "
        "print(sorted({'tensorflow', 'keras', 'mlflow', 'pandas', 'jax'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_missing_export_runtime_is_a_message_naming_the_extra(monkeypatch):
    import importlib.util

    import resnet_finetune.cli as cli
    from resnet_finetune.export import ExportRuntimeMissing, require_runtimes

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a),
    )
    require_runtimes(["saved_model"])  # TensorFlow's own: nothing to install
    with pytest.raises(
        ExportRuntimeMissing, match=r'onnxruntime \(for onnx\).*pip install -e "\.\[export\]"'
    ):
        require_runtimes(["saved_model", "onnx"])

    def export_run(**options):
        require_runtimes(["onnx"])  # what the export node does first

    fake = click.Command("run", params=cli._kedro_run().params, callback=export_run)
    monkeypatch.setattr(cli, "_kedro_run", lambda: fake)
    result = CliRunner().invoke(cli._make_run(), ["--pipeline", "export"])
    assert result.exit_code == 1
    assert 'pip install -e ".[export]"' in result.output and "Traceback" not in result.output
