"""The notebooks, executed in a Jupyter kernel inside the test project, as a user opens them.

Cells whose results are checked carry a tag (cell metadata) naming them."""

import ast
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from resnet_finetune.models import architecture_report, build_resnet
from tests.pipelines.conftest import ROOT, versions

# kedro.ipython prints values with rich, in colour.
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def execute(folder: Path, name: str) -> nbformat.NotebookNode:
    """Run ``folder/name`` from ``folder``, as Jupyter does."""
    notebook = nbformat.read(folder / name, as_version=4)
    # "python3" is this interpreter's own kernel (ipykernel): nothing to register.
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return notebook


@pytest.fixture(scope="module")
def notebooks(finetune_run, run_pipeline) -> dict[str, nbformat.NotebookNode]:
    """Both notebooks executed in the project's notebooks/ folder, where
    ``%load_ext kedro.ipython`` finds the project by walking up.

    02 needs no run's outputs: its kernel works while ``evaluate`` writes the second
    version of the metrics that 01 compares (a third of the time, on two cores)."""
    folder = finetune_run / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scratch = pool.submit(execute, folder, "02_resnet_from_scratch.ipynb")
        run_pipeline("evaluate")
        return {"explore": execute(folder, "01_explore_results.ipynb"), "scratch": scratch.result()}


def _cell(notebook, tag: str):
    (cell,) = (c for c in notebook.cells if tag in c.metadata.get("tags", []))
    return cell


def result(notebook, tag: str) -> str:
    """The text of the value the cell tagged ``tag`` ends with (its ``Out[]``)."""
    (value,) = (o for o in _cell(notebook, tag).outputs if o.output_type == "execute_result")
    return _COLOURS.sub("", value.data["text/plain"])


def shows_a_figure(notebook, tag: str) -> bool:
    return any("image/png" in o.get("data", {}) for o in _cell(notebook, tag).outputs)


def test_explore_results_shows_the_latest_outputs_two_versions_and_the_mlflow_runs(
    finetune_run, notebooks
):
    notebook = notebooks["explore"]

    folder = finetune_run / "data/08_reporting/metrics.json"
    names = versions(finetune_run, "data/08_reporting/metrics.json")[-2:]
    older, latest = (json.loads((folder / v / "metrics.json").read_text()) for v in names)
    keys = ("accuracy", "top_k_accuracy", "macro_f1", "num_test_images")
    assert ast.literal_eval(result(notebook, "latest-metrics")) == {k: latest[k] for k in keys}
    assert shows_a_figure(notebook, "learning-curves")

    comparison = result(notebook, "compare-versions")
    assert comparison.strip().splitlines()[0].split() == [*names, "change"]
    for key in ("accuracy", "top_k_accuracy", "macro_f1"):
        row = re.search(rf"^{key}\s+(\S+)\s+(\S+)\s+(\S+)$", comparison, re.MULTILINE)
        shown = [float(number) for number in row.groups()]
        expected = [older[key], latest[key], latest[key] - older[key]]
        assert shown == pytest.approx(expected, abs=5e-5)  # rounded to 4 decimals

    runs = result(notebook, "mlflow-runs")
    for pipeline in ("finetune", "evaluate"):
        assert re.search(rf"{pipeline} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\s+FINISHED", runs)
    uri = f"sqlite:///{finetune_run / 'mlflow.db'}"
    registered = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(
        "name = 'resnet_finetune'"
    )
    assert ast.literal_eval(result(notebook, "registered-versions")) == {
        int(version.version): version.run_id for version in registered
    }
    # The project's tracking database, not a new one in the notebook's folder.
    assert not (finetune_run / "notebooks" / "mlflow.db").exists()


def test_resnet_from_scratch_reports_the_architecture_and_trains_plain_and_residual(
    finetune_run, notebooks
):
    notebook = notebooks["scratch"]
    settings = yaml.safe_load((finetune_run / "conf/base/parameters_notebooks.yml").read_text())
    settings = settings["from_scratch"]

    model = build_resnet(
        settings["architecture"],
        input_shape=(*settings["image_size"], 3),
        num_classes=10,
        width=settings["width"],
    )
    assert ast.literal_eval(result(notebook, "architecture-report")) == architecture_report(model)

    table = result(notebook, "depth-table")
    parameters_by_depth = {}
    for network in settings["networks"]:
        row = re.search(
            rf"^{network}\s+(\d+)\s+(True|False)\s+(\d+)\s+(\S+)\s+(\S+)$", table, re.MULTILINE
        )
        layers, shortcuts, parameters, train_error, val_error = row.groups()
        assert int(layers) == int(re.sub(r"\D", "", network))
        assert shortcuts == str(network.startswith("resnet"))
        assert 0 <= float(train_error) <= 1 and 0 <= float(val_error) <= 1
        parameters_by_depth.setdefault(layers, set()).add(parameters)
    # Identity shortcuts (option A) add no parameter: plain and residual nets weigh the same.
    assert all(len(counts) == 1 for counts in parameters_by_depth.values())
    assert shows_a_figure(notebook, "curves")
