"""The recipe inside Kedro: `auto` values resolved once, before the catalog is built, so
that every node, hook and notebook sees the chosen values; a value given wins. Then the
blocks nodes declare as dataclasses are those objects (Kedro's typed parameters)."""

import contextlib
import logging

from kedro.framework.context import KedroContext
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Pipeline, node
from kedro.validation.parameter_validator import ParameterValidator

from resnet_finetune.data.images import ImageChecks
from resnet_finetune.models import resnet
from resnet_finetune.training import Compute
from resnet_finetune.training.engine import TrainingOptions
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
        parameters = catalog.load("parameters")
        recipe = parameters["recipe"]
        training = catalog.load("params:finetune.training")
        compute = catalog.load("params:compute")
        checks = catalog.load("params:target.validation")
    logging.getLogger("resnet_finetune").removeHandler(handler)
    assert target_input.image_size == (48, 48)  # the images' short side, 60 → 48
    assert target_input.batch_size == 8  # given: kept
    assert backbone.weights == "none" and backbone.architecture == "resnet18"
    assert recipe["start"] == "scratch" and "offline" in recipe["start_reason"]
    # Typed by the nodes' hints after the recipe: objects with chosen values, no `auto`
    # (early stopping: none from scratch), one tree for `parameters` and `params:`.
    assert isinstance(training, TrainingOptions) and training.early_stopping_patience is None
    assert parameters["finetune"]["training"] == training
    assert isinstance(compute, Compute) and compute.precision == "auto"  # Compute decides
    assert checks == ImageChecks(min_side=8, max_pixels=90_000_000, background=(255, 255, 255))
    starts = [message.split(" (")[0].split(":")[0] for message in records]
    assert starts.count("ImageNet weights unavailable") == 1  # once, however often read
    assert starts.count("Recipe for this run") == 1


def test_the_recipe_knows_whether_the_pipelines_run_train_and_train_the_baseline(tmp_path):
    """What decides whether the time budget is shared with the baseline, and whether the
    machine is timed and the recipe printed at all: the pipelines the session was asked
    for (unnamed: all of them, the baseline among them)."""
    project = make_project(tmp_path / "project")
    bootstrap_project(ROOT)
    with contextlib.chdir(project), KedroSession.create(project_path=project) as session:
        context = session.load_context()
        runs = {}
        for names in (
            None,
            ["finetune"],
            ["baseline"],
            ["transfer"],
            ["pretrain"],
            ["evaluate", "predict"],
            ["export"],
        ):
            context._pipelines_to_validate = names
            scope = context._recipe_scope()
            runs[str(names)] = (scope["trains"], scope["baseline_runs"])
    assert runs == {
        "None": (True, True),
        "['finetune']": (True, True),
        "['baseline']": (True, True),
        "['transfer']": (True, False),
        "['pretrain']": (True, False),
        "['evaluate', 'predict']": (False, False),
        "['export']": (False, False),
    }


def test_kedro_makes_a_params_input_the_dataclass_its_node_hint_names():
    """The Kedro behaviour resnet_finetune.context relies on (Kedro 1.7): the context's
    ``params`` (hence the catalog's ``params:`` entries) come from
    ``_get_validated_params``, and ``ParameterValidator`` makes each ``params:`` input the
    dataclass its node function's type hint names, the rest of the tree as it was."""

    def fit(training: TrainingOptions, compute: Compute, seed: int, dropout: float) -> None:
        """A node with typed blocks."""

    inputs = ["params:finetune.training", "params:compute", "params:seed", "params:finetune.d"]
    pipelines = {"fit": Pipeline([node(fit, inputs, None)])}
    given = {"finetune": {"training": {"epochs": 3}, "d": 0.2}, "compute": {}, "seed": 1}
    typed = ParameterValidator(pipelines).validate_raw_params(given)
    assert typed == {
        "finetune": {"training": TrainingOptions(epochs=3), "d": 0.2},
        "compute": Compute(),
        "seed": 1,
    }
    assert given["finetune"]["training"] == {"epochs": 3}  # a typed copy, the input kept
    assert "_get_validated_params" in KedroContext.params.fget.__code__.co_names
