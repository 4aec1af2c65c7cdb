"""The recipe inside Kedro: `auto` values resolved once, before the catalog is built, so
that every node, hook and notebook sees the chosen values; a value given wins."""

import contextlib
import logging

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from resnet_finetune.models import resnet
from tests.conftest import write_image
from tests.pipelines.conftest import ROOT, make_project


def test_catalog_parameters_are_the_recipes(tmp_path, monkeypatch):
    def offline(*_):
        raise resnet.WeightsUnavailable("offline: no network in this test")

    monkeypatch.setattr(resnet, "fetch_imagenet_weights", offline)
    photos = tmp_path / "photos"
    for c, label in enumerate(("ants", "bees")):
        for i in range(12):
            write_image(photos / label / f"{i}.jpg", size=(80, 60), seed=100 * c + i)
    project = make_project(tmp_path / "project")
    bootstrap_project(ROOT)
    records, handler = [], logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("resnet_finetune").addHandler(handler)
    given = {"target": {"data_dir": str(photos), "input": {"batch_size": 8}}}
    with (
        contextlib.chdir(project),
        KedroSession.create(project_path=project, runtime_params=given) as session,
    ):
        catalog = session.load_context()._get_catalog()
        target_input = catalog.load("params:target.input")
        backbone = catalog.load("params:backbone")
        recipe = catalog.load("parameters")["recipe"]
    logging.getLogger("resnet_finetune").removeHandler(handler)
    assert target_input["image_size"] == [48, 48]  # the images' short side, 60 → 48
    assert target_input["batch_size"] == 8  # given: kept
    assert backbone["weights"] == "none" and backbone["architecture"] == "resnet18"
    assert recipe["start"] == "scratch" and "offline" in recipe["start_reason"]
    starts = [message.split(" (")[0].split(":")[0] for message in records]
    assert starts.count("ImageNet weights unavailable") == 1  # once, however often read
    assert starts.count("Recipe for this run") == 1


def test_the_recipe_knows_whether_the_pipelines_run_train_the_baseline(tmp_path):
    """What decides whether the time budget is shared with the baseline: the pipelines the
    session was asked for (unnamed: all of them, the baseline among them)."""
    project = make_project(tmp_path / "project")
    bootstrap_project(ROOT)
    with contextlib.chdir(project), KedroSession.create(project_path=project) as session:
        context = session.load_context()
        runs = {}
        for names in (None, ["finetune"], ["baseline"], ["transfer"], ["evaluate", "predict"]):
            context._pipelines_to_validate = names
            runs[str(names)] = context._baseline_runs()
    assert runs == {
        "None": True,
        "['finetune']": True,
        "['baseline']": True,
        "['transfer']": False,
        "['evaluate', 'predict']": False,
    }
