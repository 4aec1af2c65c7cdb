"""A run reads back its own saves, whatever another run saved since (two runs at once in
one project): Kedro alone loads the newest version on disk."""

import pandas as pd
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node

from resnet_finetune.hooks import OwnOutputsHook


def catalog_of(tmp_path, save_version: str) -> DataCatalog:
    config = {
        "metrics": {
            "type": "pandas.CSVDataset",
            "filepath": str(tmp_path / "metrics.csv"),
            "versioned": True,
        },
        "report": {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "report.csv")},
    }
    return DataCatalog.from_config(config, save_version=save_version)


def run_pipeline():
    return Pipeline([node(lambda: None, None, "metrics", name="score")])


def test_a_run_loads_its_own_save_not_a_newer_one_of_another_run(tmp_path):
    def this_run(pinned: bool) -> float:
        folder = tmp_path / ("pinned" if pinned else "unpinned")
        mine = catalog_of(folder, "2026-12-03T10.00.00.000Z")
        # another run, started later, has saved its version before this one saves
        catalog_of(folder, "2026-12-03T10.00.05.000Z").save(
            "metrics", pd.DataFrame({"accuracy": [0.9]})
        )
        if pinned:
            OwnOutputsHook().before_pipeline_run(run_pipeline(), mine)
        mine.save("metrics", pd.DataFrame({"accuracy": [0.5]}))
        return mine.load("metrics")["accuracy"].item()

    assert this_run(pinned=True) == 0.5
    # without the hook, Kedro reads the newest: the other run's (what the hook prevents)
    assert this_run(pinned=False) == 0.9


def test_what_the_run_does_not_write_still_loads_the_newest(tmp_path):
    older = catalog_of(tmp_path, "2026-12-03T09.00.00.000Z")
    older.save("metrics", pd.DataFrame({"accuracy": [0.7]}))
    run = catalog_of(tmp_path, "2026-12-03T10.00.00.000Z")
    OwnOutputsHook().before_pipeline_run(Pipeline([]), run)  # writes no metrics
    assert run.load("metrics")["accuracy"].tolist() == [0.7]
