"""kedro-viz on the project of the shared fine-tuning run: the server's API, the page as
headless Chromium draws it, and the static site of ``kedro viz build``."""

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from resnet_finetune.pipeline_registry import register_pipelines
from tests.chromium import chromium_command
from tests.pipelines.conftest import latest

KEDRO = [sys.executable, "-m", "kedro"]
LAYERS = [
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
]


@contextlib.contextmanager
def process_group(args: list[str], **popen):
    """``args`` in a process group of its own, all of it killed on exit: ``kedro viz``
    leaves a server child behind, Chromium its renderers."""
    process = subprocess.Popen(args, start_new_session=True, **popen)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port() -> int:
    # kedro-viz refuses ports above 49151; the kernel hands out ports up to 60999.
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port <= 49151:
            return port


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def viz_build(finetune_run, tmp_path_factory):
    """``kedro viz build --include-previews``, started first so that it runs while the
    server starts (both spend most of their time importing)."""
    log = tmp_path_factory.mktemp("viz_build") / "build.log"
    with (
        log.open("wb") as out,
        process_group(
            [*KEDRO, "viz", "build", "--include-previews"],
            cwd=finetune_run,
            stdout=out,
            stderr=subprocess.STDOUT,
        ) as process,
    ):
        yield process, log


@pytest.fixture(scope="module")
def viz(finetune_run, viz_build, tmp_path_factory) -> str:
    """The address of ``kedro viz run`` serving the project, once its API answers."""
    port = free_port()
    log = tmp_path_factory.mktemp("viz_run") / "run.log"
    command = [*KEDRO, "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"]
    with (
        log.open("wb") as out,
        process_group(command, cwd=finetune_run, stdout=out, stderr=subprocess.STDOUT) as server,
    ):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                get_json(f"{url}/api/main")
                break
            except OSError:
                assert server.poll() is None, f"kedro viz run exited:\n{tail(log)}"
                assert time.monotonic() < deadline, f"no answer in 300 s:\n{tail(log)}"
                time.sleep(0.5)
        yield url


def by_name(graph: dict) -> dict[str, dict]:
    """The graph's task, dataset and parameter nodes by their full names."""
    return {
        node.get("full_name") or node["name"]: node
        for node in graph["nodes"]
        if node["type"] != "modularPipeline"
    }


def test_viz_run_shows_every_pipeline_with_its_nodes_edges_and_layers(viz):
    registered = register_pipelines()
    main = get_json(f"{viz}/api/main")
    assert {p["id"] for p in main["pipelines"]} == set(registered)
    assert main["selected_pipeline"] == "__default__"
    assert main["layers"] == LAYERS

    layers_used = set()
    for name, pipeline in registered.items():
        graph = get_json(f"{viz}/api/pipelines/{name}")
        nodes = by_name(graph)
        assert {n for n, node in nodes.items() if node["type"] == "task"} == {
            node.name for node in pipeline.nodes
        }, name
        assert {n for n, node in nodes.items() if node["type"] != "task"} == pipeline.datasets()
        names = {node["id"]: full for full, node in nodes.items()}
        edges = {
            (names[e["source"]], names[e["target"]])
            for e in graph["edges"]
            if e["source"] in names and e["target"] in names
        }
        assert edges == {(d, node.name) for node in pipeline.nodes for d in node.inputs} | {
            (node.name, d) for node in pipeline.nodes for d in node.outputs
        }, name
        # Every dataset, those resolved from dataset factories included, sits in a layer.
        unlayered = [n for n, node in nodes.items() if node["type"] == "data" and not node["layer"]]
        assert unlayered == [], name
        layers_used |= {node["layer"] for node in nodes.values() if node["type"] == "data"}
        # Namespaces come as collapsible modular pipelines.
        namespaces = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        assert {n["id"] for n in graph["nodes"] if n["type"] == "modularPipeline"} == namespaces
    assert layers_used == set(LAYERS)

    # The data flow runs down the layers, in the catalog's order.
    finetune = by_name(get_json(f"{viz}/api/pipelines/finetune"))
    assert [n for n in LAYERS if n in {node.get("layer") for node in finetune.values()}] == [
        "raw",
        "primary",
        "feature",
        "model_input",
        "models",
        "model_output",
        "reporting",
    ]
    assert finetune["source.image_root"]["layer"] == "raw"
    assert finetune["target.train_batches"]["layer"] == "model_input"
    assert finetune["finetune_history"]["layer"] == "reporting"


def test_viz_previews_the_latest_reports(viz, finetune_run):
    ids = {name: node["id"] for name, node in by_name(get_json(f"{viz}/api/main")).items()}

    def preview(name: str) -> tuple[str | None, object]:
        node = get_json(f"{viz}/api/nodes/{ids[name]}")
        return node.get("preview_type"), node.get("preview")

    kind, metrics = preview("metrics")
    assert kind == "JSONPreview"
    expected = json.loads(latest(finetune_run, "data/08_reporting/metrics.json").read_text())
    assert json.loads(metrics) == expected

    kind, plot = preview("confusion_matrix")
    assert kind == "ImagePreview"
    png = latest(finetune_run, "data/08_reporting/confusion_matrix.png").read_bytes()
    assert base64.b64decode(plot) == png

    # A table from a dataset factory ("{name}_history"): its first rows.
    kind, table = preview("finetune_history")
    assert kind == "TablePreview"
    history = pd.read_csv(latest(finetune_run, "data/08_reporting/finetune_history.csv"))
    assert table == history.head(5).to_dict(orient="split")

    assert preview("finetuned_model") == (None, None)  # a model has no preview


def drawn_nodes(dom: str) -> dict[str, set[str]]:
    """The ids of the node elements kedro-viz drew in its flowchart, by node type."""
    nodes = defaultdict(set)
    for tag in re.findall(r"<g [^>]*data-node-type=[^>]*>", dom):
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        nodes[attributes["data-node-type"]].add(attributes["data-id"])
    return nodes


def test_chromium_draws_the_finetune_pipeline(viz, tmp_path):
    shot, dom, log = tmp_path / "finetune.png", tmp_path / "dom.html", tmp_path / "chromium.log"
    # Parameters are hidden unless the URL's types name them.
    page = f"{viz}/?pid=finetune&types=parameters,nodes,datasets"
    command = chromium_command(
        tmp_path / "profile",
        "--window-size=1280,800",
        "--virtual-time-budget=15000",
        f"--screenshot={shot}",
        "--dump-dom",
        page,
    )
    with dom.open("wb") as out, log.open("wb") as err:
        with process_group(command, stdout=out, stderr=err) as browser:
            assert browser.wait(timeout=180) == 0, tail(log)

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (800, 1280)
    assert pixels.std() > 20, "blank screenshot"

    graph = get_json(f"{viz}/api/pipelines/finetune")
    html = dom.read_text()
    drawn = drawn_nodes(html)
    # Namespaces start collapsed: the tasks outside them, one box for each namespace.
    assert drawn["modularPipeline"] == {"source", "target"}
    assert drawn["task"] == {
        n["id"] for n in graph["nodes"] if n["type"] == "task" and not n["modular_pipelines"]
    }
    assert drawn["parameters"] == {n["id"] for n in graph["nodes"] if n["type"] == "parameters"}
    datasets = {n["id"]: n["name"] for n in graph["nodes"] if n["type"] == "data"}
    assert drawn["data"] <= datasets.keys()
    assert {"metrics", "confusion_matrix", "finetuned_model"} <= {
        datasets[i] for i in drawn["data"]
    }
    # raw and feature data live inside the collapsed namespaces.
    assert re.findall(r'data-id="layer-label--(\w+)"', html) == [
        "primary",
        "model_input",
        "models",
        "model_output",
        "reporting",
    ]


def test_viz_build_writes_a_static_site_with_previews(viz_build, finetune_run):
    process, log = viz_build
    assert process.wait(timeout=300) == 0, tail(log)
    site = finetune_run / "build"
    assert "Kedro-Viz" in (site / "index.html").read_text()
    main = json.loads((site / "api" / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == set(register_pipelines())
    assert main["layers"] == LAYERS
    for name in register_pipelines():
        assert json.loads((site / "api" / "pipelines" / name).read_text())["nodes"]
    metrics_id = by_name(main)["metrics"]["id"]
    metrics = json.loads((site / "api" / "nodes" / metrics_id).read_text())
    expected = json.loads(latest(finetune_run, "data/08_reporting/metrics.json").read_text())
    assert json.loads(metrics["preview"]) == expected
