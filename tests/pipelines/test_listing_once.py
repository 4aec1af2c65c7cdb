"""A ``kedro run`` walks the user's folder once: the recipe, the parameter check and the
ingestion node share that walk (``data.listing``)."""

import contextlib
import os

import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import SequentialRunner

from resnet_finetune.models import resnet
from tests.conftest import write_image
from tests.data.test_listing import age
from tests.pipelines.conftest import ROOT, make_project


def test_a_run_walks_the_users_folder_once(tmp_path, monkeypatch):
    def offline(*_):
        raise resnet.WeightsUnavailable("offline: no network in this test")

    monkeypatch.setattr(resnet, "fetch_imagenet_weights", offline)
    photos = tmp_path / "photos"
    for c, label in enumerate(("ants", "bees")):
        for i in range(12):
            write_image(photos / label / f"{i}.jpg", size=(40, 30), seed=100 * c + i)
    age(photos)
    project = make_project(tmp_path / "project")
    bootstrap_project(ROOT)
    walks, scandir = [], os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": walks.append(str(path)) or scandir(path))
    given = {"target": {"data_dir": str(photos)}}
    with (
        contextlib.chdir(project),
        KedroSession.create(project_path=project, runtime_params=given) as session,
    ):
        try:
            session.run(
                pipeline_names=["transfer"],
                runner=SequentialRunner(),
                to_nodes=["target.ingest_images"],
            )
        finally:
            while mlflow.active_run():
                mlflow.end_run()
    walked = [os.path.realpath(path) for path in walks]
    for folder in (photos, photos / "ants", photos / "bees"):
        assert walked.count(str(folder.resolve())) == 1, folder
