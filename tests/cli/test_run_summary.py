"""Each node's line says how long the run has left, from the recipe's measured estimate."""

import logging
from types import SimpleNamespace

from resnet_finetune.cli import RunSummary


class Catalog:
    def __init__(self, parameters: dict):
        self.parameters = parameters

    def load(self, name: str) -> dict:
        assert name == "parameters"
        return self.parameters


def node_lines(parameters: dict, caplog) -> list[str]:
    summary = RunSummary()
    pipeline = SimpleNamespace(
        nodes=[SimpleNamespace(name="a"), SimpleNamespace(name="b")], inputs=lambda: set()
    )
    with caplog.at_level(logging.INFO, logger="resnet_finetune.cli"):
        summary.before_pipeline_run({"pipeline_names": ["finetune"]}, pipeline, Catalog(parameters))
        for node in pipeline.nodes:
            summary.before_node_run(node)
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]


def test_node_lines_give_the_time_left_of_the_estimate(caplog):
    lines = node_lines({"recipe": {"estimate": {"seconds": 600}}}, caplog)
    assert lines == ["[1/2] a (about 10 min left)", "[2/2] b (about 10 min left)"]


def test_without_an_estimate_the_lines_are_plain(caplog):
    assert node_lines({"recipe": {"start": "pretrain"}}, caplog) == ["[1/2] a", "[2/2] b"]
    caplog.clear()
    assert node_lines({}, caplog) == ["[1/2] a", "[2/2] b"]


def test_a_run_past_its_estimate_says_so(caplog):
    lines = node_lines({"recipe": {"estimate": {"seconds": 0.000001}}}, caplog)
    assert lines[-1] == "[2/2] b (past the estimate)"


def test_the_end_line_puts_the_estimate_beside_the_time_taken(caplog, monkeypatch):
    """The clock starts with the run's context (before the recipe times the machine, the
    span its estimate covers) and the last line says both."""
    import resnet_finetune.cli as cli

    clock = iter([100.0, 100.0 + 3 * 60 + 5, 500.0, 530.0])
    monkeypatch.setattr(cli.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(cli, "_mlflow_run", lambda ui: "MLflow: kedro mlflow ui")
    pipeline = SimpleNamespace(nodes=[], all_outputs=lambda: [], inputs=lambda: set())
    summary = RunSummary()
    with caplog.at_level(logging.INFO, logger="resnet_finetune.cli"):
        for estimate in ({"recipe": {"estimate": {"seconds": 212.4}}}, {}):
            summary.after_context_created(SimpleNamespace())
            summary.before_pipeline_run({}, pipeline, Catalog(estimate))
            summary.after_pipeline_run({"run_id": "v1"}, pipeline, None)
    ends = [r.getMessage().split(";")[0] for r in caplog.records if "done in" in r.getMessage()]
    assert ends == ["done in 3m05s (the recipe's estimate: 212 s)", "done in 0m30s"]


def test_a_run_that_reads_a_saved_model_names_the_version_it_reads(tmp_path, monkeypatch, caplog):
    """evaluate, predict, export: the newest saved model, unless --load-versions names
    another; the first line says which, so that two runs' outputs can be told apart."""
    from kedro.io import DataCatalog, Version
    from kedro_datasets.pickle import PickleDataset

    monkeypatch.chdir(tmp_path)
    path = "data/06_models/finetuned_model.pkl"
    older, newer = "2026-12-01T10.00.00.000Z", "2026-12-02T10.00.00.000Z"
    for version in (older, newer):
        PickleDataset(filepath=path, version=Version(None, version)).save({"weights": version})
    newest, pinned = (
        DataCatalog({"finetuned_model": PickleDataset(filepath=path, version=Version(load, None))})
        for load in (None, older)
    )
    pipeline = SimpleNamespace(nodes=[], inputs=lambda: {"finetuned_model", "params:seed"})
    with caplog.at_level(logging.INFO, logger="resnet_finetune.cli"):
        for catalog in (newest, pinned):
            catalog.load = lambda name: {}
            RunSummary().before_pipeline_run({"pipeline_names": ["evaluate"]}, pipeline, catalog)
    firsts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kedro run")]
    assert firsts == [
        "kedro run: pipeline evaluate, 0 nodes\n  reads finetuned_model: "
        f"{path}/{newer}/finetuned_model.pkl",
        "kedro run: pipeline evaluate, 0 nodes\n  reads finetuned_model: "
        f"{path}/{older}/finetuned_model.pkl",
    ]
