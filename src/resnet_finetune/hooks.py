"""Cross-cutting work around a run: the process's compute (strategy, determinism),
checks that the models a run reads exist, MLflow records, run records, checkpoint
clean-up. Nothing here decides what a pipeline computes.

Heavy libraries (TensorFlow, Keras, MLflow) are imported where they are used, so that
``kedro --help`` starts fast; kedro-mlflow's hook class is the exception (Kedro imports
it for every session anyway, as a plugin).
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import shutil
import subprocess
from datetime import datetime
from importlib.metadata import version
from pathlib import Path, PurePosixPath

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks import MlflowHook

from resnet_finetune.errors import ParameterError
from resnet_finetune.files import write_text_atomically
from resnet_finetune.locks import FileLock
from resnet_finetune.trees import plain

logger = logging.getLogger(__name__)

# Whose versions each run records, with Python's.
_LIBRARIES = ("resnet_finetune", "tensorflow", "keras", "kedro", "mlflow", "numpy")
# Saved models registered in the MLflow model registry, and under which name.
REGISTERED_MODELS = {"finetuned_model": "resnet_finetune"}
# Where each run's record (running, complete, failed, interrupted) is kept, and where a
# run that did not complete leaves its outputs, so that "latest" is always complete.
RUNS_DIR = "data/runs"
INCOMPLETE_DIR = "data/incomplete_runs"


def git_commit(path: Path) -> tuple[str, bool | None]:
    """The commit checked out at ``path`` and whether tracked files differ from it;
    ``("unknown", None)`` outside a git checkout or without git."""
    try:
        head, status = (
            subprocess.run(
                ["git", "-C", str(path), *command], capture_output=True, text=True, check=True
            ).stdout
            for command in (["rev-parse", "HEAD"], ["status", "--porcelain", "-uno"])
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown", None
    return head.strip(), bool(status.strip())


def saved_file(dataset) -> Path:
    """The file (or folder) a local dataset has just written: its version's path when
    versioned."""
    if getattr(dataset, "_version", None) is not None:
        return Path(dataset._get_versioned_path(dataset.resolve_save_version()))
    return Path(PurePosixPath(dataset._filepath))


class MlflowReportsHook:
    """Logs what the catalog declares for MLflow, in each entry's
    ``metadata: {mlflow: {log: ...}}``:

    - ``artifact``: the saved file, under ``reports/`` (figures, tables, HTML, JSON);
    - ``metrics``: the saved file, and its numbers as metrics (``prefix``, ``exclude``);
    - ``history``: the saved file, and one metric series per column, step = epoch;
    - ``dataset``: the saved manifest, and an MLflow dataset input named after its
      namespace with its content hash as digest (the UI's Dataset column);
    - ``model``: the saved model as an ``ImageClassifier`` (images in, class names
      out), registered per ``REGISTERED_MODELS`` once the run is complete.

    Nothing is logged that the catalog does not declare; nothing outside an MLflow run.
    A model version is created only after the run's record says complete (this hook's
    ``after_pipeline_run`` comes after ``RunRecordHook``'s): a run that fails or is
    killed never has one, so ``models:/resnet_finetune/latest`` is a complete run's.
    """

    def __init__(self):
        self._catalog = None
        self._to_register: list[tuple[str, str]] = []  # (model URI, registered name)

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._to_register = []

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        import mlflow

        for model_uri, registered_name in self._to_register:
            mlflow.register_model(model_uri, registered_name)
        self._to_register = []

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._to_register = []

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data) -> None:
        import mlflow

        if mlflow.active_run() is None or self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        declared = ((getattr(dataset, "metadata", None) or {}).get("mlflow")) or {}
        kind = declared.get("log")
        if kind is None:
            return
        path = saved_file(dataset)
        if kind == "model":
            from resnet_finetune.serving import log_classifier

            name = dataset_name.replace(".", "_")
            model_uri = log_classifier(path, name)  # MLflow 3: a logged model, models:/m-…
            if dataset_name in REGISTERED_MODELS:
                self._to_register.append((model_uri, REGISTERED_MODELS[dataset_name]))
            return
        if path.is_dir():
            mlflow.log_artifacts(str(path), f"reports/{path.parent.name}")
        else:
            mlflow.log_artifact(str(path), "reports")
        if kind == "metrics":
            prefix = declared.get("prefix", "")
            from resnet_finetune.evaluation.report import flatten

            # Top-level blocks named in `exclude` (per-class scores, keyed by class names,
            # which are data) stay in the artifact only.
            excluded = set(declared.get("exclude", ()))
            leaves = flatten({key: value for key, value in data.items() if key not in excluded})
            mlflow.log_metrics(
                {
                    f"{prefix}{key}": float(value)
                    for key, value in leaves.items()
                    if isinstance(value, (int, float)) and not isinstance(value, bool)
                }
            )
        elif kind == "history":
            self._log_history(declared.get("prefix", ""), data)
        elif kind == "dataset":
            self._log_dataset(dataset_name.rpartition(".")[0] or dataset_name, data)

    @staticmethod
    def _log_history(prefix: str, history) -> None:
        """Per-epoch metrics; a history of several networks gets one series per network."""
        import mlflow

        step_column = "global_epoch" if "global_epoch" in history else "epoch"
        metrics = history.select_dtypes("number").drop(
            columns=["epoch", "global_epoch"], errors="ignore"
        )
        networks = history["network"] + "." if "network" in history else [""] * len(history)
        for step, network, row in zip(history[step_column], networks, metrics.to_dict("records")):
            mlflow.log_metrics(
                {f"{prefix}{network}{k}": float(v) for k, v in row.items()}, step=int(step)
            )

    @staticmethod
    def _log_dataset(namespace: str, manifest) -> None:
        """The images, labels and splits the run used: an MLflow dataset input (name,
        content hash) and the tag ``<namespace>.dataset_sha256``."""
        import mlflow

        from resnet_finetune.data.identity import dataset_sha256

        digest = dataset_sha256(manifest)
        mlflow.set_tag(f"{namespace}.dataset_sha256", digest)
        table = manifest[["path", "label", "split", "sha256"]]
        mlflow.log_input(
            mlflow.data.from_pandas(table, name=f"{namespace} images", digest=digest[:36]),
            context=namespace,
        )


def anchored_sqlite_uri(uri: str | None, root: Path) -> str | None:
    """``sqlite:///mlflow.db`` as ``sqlite:////<root>/mlflow.db``; other URIs as given."""
    prefix = "sqlite:///"
    if uri and uri.startswith(prefix) and not Path(uri.removeprefix(prefix)).is_absolute():
        return prefix + (root / uri.removeprefix(prefix)).as_posix()
    return uri


def create_tracking_database(uri: str | None) -> None:
    """Create a sqlite tracking database once, under a file lock: two runs starting at
    once on a new project would otherwise both run MLflow's schema migrations on it."""
    prefix = "sqlite:///"
    if not uri or not uri.startswith(prefix):
        return
    import mlflow

    database = Path(uri.removeprefix(prefix))
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(database.with_name(database.name + ".lock")):
        mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


class MlflowRunHook:
    """Keeps the tracking database at the project root, names the MLflow run that
    kedro-mlflow opened after its pipeline and start time ("finetune 2026-11-28 03:40:12")
    and tags it with the project's git commit, the seed and the library versions."""

    def __init__(self):
        self._context = None

    # First: before kedro-mlflow reads mlflow.yml. It leaves a sqlite URI relative to the
    # working directory, so a notebook in notebooks/ would open a database of its own.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        # Keras whole before kedro-mlflow switches autologging off: MLflow's TensorFlow
        # integration would otherwise import it half-way (a circular import warning).
        import keras  # noqa: F401

        self._context = context
        loader = context.config_loader
        loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        try:
            config = loader["mlflow"]
        except MissingConfigException:
            return
        server = config.setdefault("server", {})
        for key in ("mlflow_tracking_uri", "mlflow_registry_uri"):
            server[key] = anchored_sqlite_uri(server.get(key), Path(context.project_path))
        loader["mlflow"] = config  # what kedro-mlflow reads next
        create_tracking_database(server["mlflow_tracking_uri"])

    # Last: after kedro-mlflow's before_pipeline_run has started the run.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict, catalog) -> None:
        import mlflow

        run = mlflow.active_run()
        if run is None or self._context is None:
            return
        config = getattr(self._context, "mlflow", None)  # kedro-mlflow's mlflow.yml
        if config is not None and config.tracking.run.name is None:
            pipelines = "+".join(run_params.get("pipeline_names") or ["__default__"])
            name = f"{pipelines} {datetime.now():%Y-%m-%d %H:%M:%S}"
            mlflow.MlflowClient().update_run(run.info.run_id, name=name)
        commit, dirty = git_commit(self._context.project_path)
        mlflow.set_tag("git_commit", commit)
        if dirty is not None:
            mlflow.set_tag("git_dirty", str(dirty).lower())
        mlflow.set_tag("seed", catalog.load("parameters").get("seed"))
        mlflow.set_tag("kedro_save_version", run_params.get("run_id"))
        versions = {name: version(name) for name in _LIBRARIES}
        mlflow.set_tags({f"version.{k}": v for k, v in versions.items()})
        mlflow.set_tag("version.python", platform.python_version())


class MlflowParametersHook(MlflowHook):
    """kedro-mlflow's hook (one MLflow run per pipeline run; each node's ``params:``
    inputs logged as MLflow parameters, mappings flattened to one parameter per key),
    registered by ``settings.HOOKS`` in place of the plugin's own. A block a node
    receives typed (``TrainingOptions``, ``Compute``, ...) is logged as its fields, as
    the mapping it came from would be, not as one parameter holding the object's text."""

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict, is_async: bool) -> None:
        logged = {
            name: plain(value) if name.startswith("params:") else value
            for name, value in inputs.items()
        }
        super().before_node_run(node=node, catalog=catalog, inputs=logged, is_async=is_async)


class ComputeHook:
    """The process's compute, set up once per run from the ``compute`` block, as Kedro's
    documentation sets up a Spark session in a hook: the distribution strategy before
    any TensorFlow operation runs (a MultiWorkerMirroredStrategy can only be made
    before the first one), and deterministic kernels when asked."""

    # First of all before_pipeline_run hooks (registered last in settings.HOOKS): before
    # kedro-mlflow opens a run and before any node builds a Keras layer.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, catalog) -> None:
        from resnet_finetune.training.compute import make_deterministic, unused_gpu_notice

        compute = catalog.load("params:compute")  # a Compute (resnet_finetune.context)
        replicas = compute.replicas
        if compute.deterministic:
            make_deterministic()
        logger.info("compute: %s, %d replica(s)", compute.policy, replicas)
        if notice := unused_gpu_notice():
            logger.warning(notice)


def _unknown_version(name: str, wanted: str, catalog, shown: int = 5) -> str:
    """What to say when ``--load-versions name:wanted`` names no saved version."""
    folder = Path(PurePosixPath(catalog.get(name)._filepath))  # <folder>/<version>/<file>
    saved = sorted((p.name for p in folder.glob("*/") if p.is_dir()), reverse=True)
    if not saved:
        newest = f"no version of {name} has been saved yet"
    else:
        more = f" (and {len(saved) - shown} older)" if len(saved) > shown else ""
        newest = f"the newest saved: {', '.join(saved[:shown])}{more}"
    return (
        f"--load-versions {name}:{wanted}: version {wanted!r} of {name} does not exist in "
        f"{folder}; {newest}"
    )


class SavedModelCheckHook:
    """Stop a run with a clear message before any node runs if a model the pipeline
    reads has never been saved (the parameters themselves are validated once, when the
    context resolves them: ``resnet_finetune.context``)."""

    # Before kedro-mlflow opens an MLflow run that an error here would leave open.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict, pipeline, catalog) -> None:
        parameters = plain(catalog.load("parameters"))  # typed blocks as mappings
        pretrain = parameters.get("backbone", {}).get("weights") == "pretrain"
        needed = "pretrained_model" in pipeline.inputs() and pretrain
        if needed and not catalog.exists("pretrained_model"):
            raise ParameterError(
                "backbone.weights='pretrain' needs a pretrained model, and none has been "
                "saved yet: run `kedro run --pipeline finetune` (or `--pipeline pretrain`) "
                "first, or set backbone.weights to imagenet, none or a model file"
            )
        if "finetuned_model" in pipeline.inputs() and not catalog.exists("finetuned_model"):
            wanted = (run_params.get("load_versions") or {}).get("finetuned_model")
            if wanted:
                raise ParameterError(_unknown_version("finetuned_model", wanted, catalog))
            raise ParameterError(
                "no fine-tuned model has been saved yet in this project: run `kedro run "
                "--pipeline finetune` first"
            )


def _read_record(path: Path) -> dict | None:
    """A run record, or ``None`` (with a warning naming it) when it cannot be read."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        state = error
    if not isinstance(state, dict) or "status" not in state:
        logger.warning(
            "run record %s cannot be read (%s): skipped; delete it or repair it",
            path,
            state if isinstance(state, Exception) else "no status in it",
        )
        return None
    return state


def _write_record(path: Path, state: dict) -> None:
    """Replace ``path`` at once: a reader never sees half a record."""
    write_text_atomically(path, json.dumps(state, indent=1))


def _release_run_lock(lock: FileLock) -> None:
    """Release the lock of a run whose record is final, and remove its file: nothing is
    left for the lock to tell (a sweeper that takes a lock file anew reads the final
    record and leaves it be)."""
    lock.release()
    with contextlib.suppress(OSError):  # on Windows, while another process has it open
        lock.path.unlink(missing_ok=True)


def _end_mlflow_run(state: dict, status: str) -> None:
    """End the MLflow run a run record names (``status``: KILLED, FAILED) if it is
    still open: a killed process could not end it."""
    run_id, uri = state.get("mlflow_run_id"), state.get("mlflow_tracking_uri")
    if not run_id:
        return
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status)
    except Exception as error:  # a deleted run or an unreachable server: say so, go on
        logger.warning("could not end MLflow run %s as %s: %s", run_id, status, error)


class RunRecordHook:
    """Every run leaves a record in ``data/runs/<save version>.json``: running, then
    complete or failed. While it runs, its process holds the lock
    ``data/runs/<save version>.lock``: a record that says running and whose lock nobody
    holds is a killed run (whatever process now has its pid, in whatever container).
    The outputs of a run that failed or was killed are moved under
    ``data/incomplete_runs/<save version>/`` — kept, visible as such, and never the
    "latest" version that a later run, notebook or report loads — and the MLflow run of
    a killed one is ended as KILLED."""

    def __init__(self):
        self._root = Path.cwd()
        self._record: Path | None = None
        self._state: dict = {}
        self._lock: FileLock | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._root = Path(context.project_path)

    # At catalog creation, before any "latest" version is looked up.
    @hook_impl
    def after_catalog_created(self) -> None:
        for record in sorted((self._root / RUNS_DIR).glob("*.json")):
            state = _read_record(record)
            if state is None or state["status"] != "running":
                continue
            lock = FileLock(record.with_suffix(".lock"))
            if not lock.acquire(blocking=False):
                continue  # its process is alive
            try:
                # Read again under the lock: the run may have finished since.
                state = _read_record(record)
                if state is not None and state["status"] == "running":
                    self._close(record, state, "interrupted", "the process ended without finishing")
                    _end_mlflow_run(state, "KILLED")
            finally:
                _release_run_lock(lock)  # the record is final now, either way

    # Last: after kedro-mlflow has started the MLflow run that the record names.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict) -> None:
        import mlflow

        self._record = self._root / RUNS_DIR / f"{run_params['run_id']}.json"
        self._record.parent.mkdir(parents=True, exist_ok=True)
        # Held until the run ends: the lock, not a pid, tells others this run is alive.
        self._lock = FileLock(self._record.with_suffix(".lock"))
        self._lock.acquire()
        self._state = {
            "status": "running",
            "pipelines": run_params.get("pipeline_names") or ["__default__"],
            "started": datetime.now().isoformat(timespec="seconds"),
        }
        if (run := mlflow.active_run()) is not None:
            self._state["mlflow_run_id"] = run.info.run_id
            self._state["mlflow_tracking_uri"] = mlflow.get_tracking_uri()
        _write_record(self._record, self._state)

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._record is not None:
            self._state.update(
                status="complete", ended=datetime.now().isoformat(timespec="seconds")
            )
            _write_record(self._record, self._state)
            self._finish()

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._record is not None:
            self._close(self._record, self._state, "failed", f"{type(error).__name__}: {error}")
            self._finish()

    def _finish(self) -> None:
        """Release this run's lock; the hook is ready for the next run in this process."""
        _release_run_lock(self._lock)
        self._record, self._state, self._lock = None, {}, None

    def _close(self, record: Path, state: dict, status: str, reason: str) -> None:
        """Mark the run ``status`` and move its outputs out of the way of "latest"."""
        version = record.stem
        moved = []
        for folder in sorted((self._root / "data").glob(f"*/*/{version}")):
            relative = folder.relative_to(self._root / "data")
            if relative.parts[0] == Path(INCOMPLETE_DIR).name:
                continue
            destination = self._root / INCOMPLETE_DIR / version / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder, destination)
            moved.append(str(relative.parent))
        state.update(
            status=status,
            reason=reason,
            ended=datetime.now().isoformat(timespec="seconds"),
            outputs_moved_to=str(Path(INCOMPLETE_DIR) / version),
            outputs=moved,
        )
        _write_record(record, state)
        logger.warning(
            "run %s %s (%s): its %d outputs are in %s, not the latest versions",
            version,
            status,
            reason,
            len(moved),
            Path(INCOMPLETE_DIR) / version,
        )


class OwnOutputsHook:
    """What a run saves is what it reads back: each versioned dataset the run's nodes
    write loads at the run's own save version, not at the newest one on disk. Kedro loads
    "the latest" version, so with two runs at once in one project a run read the other's
    newer saves (its predictions, scored as this run's metrics)."""

    # Last: after the hooks that leave nodes out, so only what this run writes is pinned.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, pipeline, catalog) -> None:
        for name in pipeline.all_outputs():
            dataset = catalog.get(name)
            version = getattr(dataset, "_version", None)
            if version is not None and version.save:
                dataset._version = version._replace(load=version.save)


class NoBaselineHook:
    """``baseline: none`` leaves the baseline's nodes (tag ``baseline``: its training,
    scoring and comparison) out of the run. Kedro has no conditional nodes and a
    pipeline's shape is fixed when it is registered, before parameters are known: the
    run's pipeline is narrowed here, before any node runs or is counted."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline, catalog) -> None:
        if catalog.load("parameters").get("baseline") != "none":
            return
        from resnet_finetune.pipelines import BASELINE_TAG

        left_out = _leave_out(pipeline, BASELINE_TAG)
        if left_out:
            logger.info(
                "baseline: none: the baseline's %d nodes are left out (no from-scratch comparison)",
                left_out,
            )


def _leave_out(pipeline, tag: str) -> int:
    """Remove the nodes tagged ``tag`` from ``pipeline``; how many there were."""
    kept = [node for node in pipeline.nodes if tag not in node.tags]
    left_out = len(pipeline.nodes) - len(kept)
    if left_out:
        # In place: the session runs this very object. Its cached views (nodes, groups,
        # dependencies) go with the old node list.
        vars(pipeline).clear()
        pipeline.__init__(kept)
    return left_out


class PretrainingHook:
    """Pretraining (the nodes tagged ``pretraining``) runs only for a start that needs it:

    - ``backbone.weights`` ``pretrain``: as before, every run pretrains;
    - ``synthetic``: once per setting. A saved ``pretrained_model`` whose card records
      this run's ``models.card.pretraining_settings`` (the generated images, network,
      source and pretraining options; not the seed) is what the run reads, and the
      pretraining nodes are left out; with none saved, the run pretrains and saves one;
    - any other start (ImageNet, a file, none): left out, so that no untrained model is
      saved as a "pretrained" version.
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline, catalog) -> None:
        from resnet_finetune.models.classifier import PRETRAINED_STARTS
        from resnet_finetune.pipelines import PRETRAINING_TAG

        parameters = plain(catalog.load("parameters"))  # typed blocks as mappings
        weights = (parameters.get("backbone") or {}).get("weights")
        tagged = sum(PRETRAINING_TAG in node.tags for node in pipeline.nodes)
        if weights == "synthetic":
            saved = _saved_pretraining(catalog, parameters)
            if saved is not None:
                _read_version(catalog, "pretrained_model", saved)
                logger.info(
                    "backbone.weights=synthetic: fine-tuning starts from the pretrained model "
                    "saved as version %s (same synthetic images, network and pretraining "
                    "settings)%s",
                    saved,
                    f"; its {tagged} pretraining nodes are left out" if tagged else "",
                )
                _leave_out(pipeline, PRETRAINING_TAG)
            elif "pretrained_model" in pipeline.inputs():
                raise ParameterError(
                    "backbone.weights='synthetic': no pretrained model with these synthetic, "
                    "network and pretraining settings has been saved yet: run `kedro run "
                    "--pipeline finetune` (it pretrains once, then reuses the weights)"
                )
        elif weights not in PRETRAINED_STARTS and tagged:
            if tagged == len(pipeline.nodes):
                raise ParameterError(
                    f"backbone.weights={weights!r} starts from no pretraining, so the "
                    "pretrain pipeline has nothing to do: set backbone.weights to pretrain "
                    "(your source.data_dir, or the digits) or synthetic (generated images)"
                )
            _leave_out(pipeline, PRETRAINING_TAG)
            logger.info(
                "backbone.weights=%r: no pretraining (its %d nodes are left out)", weights, tagged
            )


def _saved_pretraining(catalog, parameters: dict) -> str | None:
    """The newest saved version of ``pretrained_model`` made with the pretraining
    settings of ``parameters``, or ``None``."""
    from resnet_finetune.models.card import pretraining_settings, read_card

    folder = Path(PurePosixPath(catalog.get("pretrained_model")._filepath))
    wanted = pretraining_settings(parameters)
    saved = sorted((p.name for p in folder.glob("*/") if p.is_dir()), reverse=True)
    for candidate in saved:
        path = folder / candidate / folder.name
        try:
            card = read_card(path) if path.is_file() else None
        except (OSError, ValueError) as error:
            logger.warning("pretrained model %s left aside: %s", path, error)
            continue
        if card is not None and pretraining_settings(card.parameters) == wanted:
            return candidate
    return None


def _read_version(catalog, name: str, version: str) -> None:
    """Make ``name`` load its saved ``version`` in this run (as ``--load-versions``)."""
    from kedro.io.core import Version

    dataset = catalog.get(name)
    catalog[name] = type(dataset)(
        filepath=str(PurePosixPath(dataset._filepath)),
        version=Version(version, None),
        metadata=dataset.metadata,
    )


class CheckpointCleanupHook:
    """A run that finishes removes the training checkpoints it trained in — its own
    only; a run that fails or is killed keeps them for the next attempt, and other runs'
    checkpoints are never touched."""

    @hook_impl
    def after_pipeline_run(self) -> None:
        from resnet_finetune.training.checkpoints import clear_trained

        clear_trained()

    @hook_impl
    def on_pipeline_error(self) -> None:
        from resnet_finetune.training.checkpoints import release_trained

        release_trained()
