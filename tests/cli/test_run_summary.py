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
    pipeline = SimpleNamespace(nodes=[SimpleNamespace(name="a"), SimpleNamespace(name="b")])
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
