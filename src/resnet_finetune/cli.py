"""The project's own ``kedro run``: quiet, with plain messages for mistakes.

Kedro loads this module for every ``kedro`` command run in the project (a project's
``cli.py`` overrides Kedro's commands of the same name), so it stays light: it imports
no TensorFlow, Keras or MLflow (``kedro --help`` must not wait for them). Library noise
is turned down by ``resnet_finetune.quiet``, imported first.

``kedro run`` is Kedro's own command with four changes:

- ``--params`` splits on the commas *between* parameters only, not on those inside a
  value's ``[...]``, ``{...}`` or quotes (``split_parameters``: an apostrophe or a
  parenthesis inside a value is a letter): ``--params "target.input.image_size=[64,64],seed=1"``;
  an item of a list parameter is set by its index (``finetune.phases.1.epochs=5``, see
  ``settings.ConfigLoader``);
- ``--pipeline NAME`` (the documented spelling) runs as ``--pipelines NAME`` does, without
  Kedro's deprecation warning;
- TensorFlow is imported before the session starts, with its native start-up lines
  silenced (``quiet.quiet_tensorflow``);
- a mistake in the parameters (a ``resnet_finetune.errors.ParameterError``, which every
  check of the parameters raises, and Kedro's configuration merge too) prints its message
  and exits with status 2, without a traceback; a missing export runtime
  (``ExportRuntimeMissing``) prints what to install.

``RunSummary`` (a hook, registered in ``settings.py``) prints one line per node and,
at the end, where the outputs went.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
from kedro.framework.hooks import hook_impl

from resnet_finetune import quiet  # first: noise turned down before any library loads
from resnet_finetune.errors import ExportRuntimeMissing, ParameterError

# ---------------------------------------------------------------------------- --params


def split_parameters(text: str) -> list[str]:
    """``key=value`` items separated by the commas between them, in one grammar that
    reads a value as YAML will:

    - a value that opens with ``[`` or ``{`` runs to its closing bracket, nested ones
      included; inside brackets, every ``[ ] { }`` counts (YAML's flow collections);
    - a quote opens a quoted string only where a YAML scalar starts: right after the
      ``=``, or after ``[``, ``{``, ``,`` or ``:`` inside brackets (spaces allowed); ``''``
      inside single quotes and ``\\"`` inside double quotes are escaped quotes;
    - anywhere else a quote, a bracket or a parenthesis is a letter:
      ``evaluate.title=Tom's matrix (v2],evaluate.top_k=1`` is two items.

    An unclosed quote or bracket raises ``ValueError`` naming the item, rather than
    swallowing the parameters after it.
    """
    items, current = [], []
    depth, quote = 0, ""
    in_value = scalar_start = False

    def close_item() -> None:
        nonlocal in_value, scalar_start
        items.append("".join(current))
        current.clear()
        in_value = scalar_start = False

    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if quote:
            current.append(char)
            escaped = (quote == "'" and char == "'" and text[index : index + 1] == "'") or (
                quote == '"' and char == "\\"
            )
            if escaped:
                current.append(text[index : index + 1])
                index += 1
            elif char == quote:
                quote, scalar_start = "", False
            continue
        if char == "," and depth == 0:
            close_item()
            continue
        current.append(char)
        if not in_value:
            in_value = scalar_start = char == "="
        elif char in " \t":
            pass  # a scalar may still start after spaces
        elif char in "'\"" and scalar_start:
            quote = char
        elif char in "[{" and (scalar_start or depth):
            depth, scalar_start = depth + 1, True
        elif char in "]}" and depth:
            depth, scalar_start = depth - 1, False
        else:
            scalar_start = depth > 0 and char in ",:"
    if quote or depth:
        unclosed = f"quote {quote}" if quote else "bracket"
        raise ValueError(
            f"{''.join(current).strip()!r} has an unclosed {unclosed}: close it, or quote the "
            'whole value (evaluate.title="Tom\'s matrix [v2]")'
        )
    close_item()
    return [item.strip() for item in items if item.strip()]


def parse_parameters(ctx: click.Context, param: Any, value: Any) -> dict:
    """``--params``: Kedro's ``key=value`` syntax (OmegaConf dot-list: values are YAML),
    split as ``split_parameters`` does."""
    if isinstance(value, dict):  # from `--config`
        return value
    from omegaconf import OmegaConf

    try:
        items = split_parameters(value or "")
    except ValueError as error:
        ctx.fail(f"--params: {error}")
    dot_list = []
    for item in items:
        key, equals, val = item.partition("=")
        if not equals or not key.strip():
            ctx.fail(
                f"--params: {item!r} is not key=value (separate parameters with commas; "
                "a list or mapping value goes in brackets, e.g. target.input.image_size=[64,64]; "
                "a value holding a comma goes in quotes, e.g. "
                "--params 'target.data_dir=\"photos, 2024\"')"
            )
        dot_list.append(f"{key.strip()}={val}")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(dot_list))
    except Exception as error:  # omegaconf's grammar and YAML errors
        ctx.fail(f"--params: {error}")


# -------------------------------------------------------------------------------- run


class ParameterMistake(click.ClickException):
    """A mistake in the parameters: the message, no traceback, exit status 2."""

    exit_code = 2

    def format_message(self) -> str:
        return f"Parameters: {self.message}"


def _kedro_run() -> click.Command:
    from kedro.framework.cli.project import run

    return run


def _reassert_logging_levels() -> None:
    """The levels of conf/logging.yml again: libraries imported since it was applied
    may have set their own (kedro-mlflow sets INFO on import)."""
    from kedro.framework.project import LOGGING

    for name, options in (LOGGING.data.get("loggers") or {}).items():
        if isinstance(options, dict) and "level" in options:
            logging.getLogger(name).setLevel(options["level"])


def _make_run() -> click.Command:
    kedro_run = _kedro_run()
    command = copy.copy(kedro_run)
    command.params = [copy.copy(option) for option in kedro_run.params]
    for option in command.params:
        if option.name == "params":
            option.callback = parse_parameters
            option.help = (
                "Override parameters: key=value pairs separated by commas, values in YAML "
                "(lists in brackets: target.input.image_size=[64,64]; an item of a list "
                "by its index: finetune.phases.0.epochs=5). Quote the whole argument."
            )

    def run(**options: Any) -> Any:
        if options.get("pipeline") and not options.get("pipelines"):
            options["pipelines"] = [options["pipeline"]]
            options["pipeline"] = None
        quiet.quiet_tensorflow()
        _reassert_logging_levels()
        try:
            return kedro_run.callback(**options)
        except ParameterError as error:
            raise ParameterMistake(str(error)) from None
        except ExportRuntimeMissing as error:
            raise click.ClickException(str(error)) from None

    command.callback = run
    return command


# ------------------------------------------------------------------- what a run prints

logger = logging.getLogger(__name__)

# Outputs named at the end of a run, when the run wrote them: what a person opens first.
HEADLINE_OUTPUTS = (
    "evaluation_report",
    "metrics",
    "scratch_comparison",
    "finetuned_model",
    "pretrained_model",
    "predictions",
    "export_report",
    "model_exports",
    "degradation_table",
)


def _dataset(catalog: Any, name: str) -> Any:
    try:
        return catalog.get(name) if hasattr(catalog, "get") else catalog._get_dataset(name)
    except Exception:
        return None


def _saved_path(dataset: Any, version: str | None) -> str | None:
    """Where ``dataset`` was saved (or is read) in ``version``, relative to the working
    directory."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None:
        return None
    path = Path(str(filepath))
    if getattr(dataset, "_version", None) is not None and version:
        path = path / version / path.name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_path(dataset: Any) -> str | None:
    """The saved version a run reads of a versioned ``dataset`` (the newest, unless
    ``--load-versions`` names one); ``None`` where none is saved: the load says why."""
    try:
        return _saved_path(dataset, dataset.resolve_load_version())
    except Exception:
        return None


class RunSummary:
    """One line per node as it starts, and at the end how long the run took against the
    recipe's estimate, and where the outputs went.

    The run's clock starts when its context is created (``session.run`` creates one per
    run), before the recipe times this machine: the span the estimate covers."""

    def __init__(self):
        self._total = self._done = 0
        self._started: float | None = None
        self._context = None
        self._estimate: float | None = None  # the recipe's seconds for this run, if timed

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._context = context  # kedro-mlflow adds its configuration to it (`.mlflow`)
        self._started = time.perf_counter()

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Any, catalog: Any) -> None:
        self._total, self._done = len(pipeline.nodes), 0
        if self._started is None:  # a runner driven without a session
            self._started = time.perf_counter()
        recipe = catalog.load("parameters").get("recipe") or {}
        self._estimate = (recipe.get("estimate") or {}).get("seconds")
        names = run_params.get("pipeline_names") or ["__default__"]
        # A model an earlier run saved: which one this run reads.
        reads = [
            f"\n  reads {name}: {path}"
            for name in HEADLINE_OUTPUTS
            if name in pipeline.inputs() and (path := _read_path(_dataset(catalog, name)))
        ]
        logger.info(
            "kedro run: pipeline %s, %d nodes%s", ", ".join(names), self._total, "".join(reads)
        )

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._done += 1
        width = len(str(self._total))
        logger.info("[%*d/%d] %s%s", width, self._done, self._total, node.name, self._time_left())

    def _time_left(self) -> str:
        """`` (about 3 min left)`` from the recipe's estimate of this machine's speed."""
        if not self._estimate:
            return ""
        from resnet_finetune.training.budget import format_minutes  # loaded by now

        left = self._estimate - (time.perf_counter() - self._started)
        return f" ({format_minutes(left)} left)" if left > 0 else " (past the estimate)"

    def _took(self) -> str:
        """``done in 3m05s (the recipe's estimate: 212 s)``: the estimate beside the truth."""
        minutes, seconds = divmod(round(time.perf_counter() - (self._started or 0.0)), 60)
        estimate = f" (the recipe's estimate: {round(self._estimate)} s)" if self._estimate else ""
        self._started = None  # the next run in this process starts its own clock
        return f"done in {minutes}m{seconds:02d}s{estimate}"

    @hook_impl
    def after_pipeline_run(self, run_params: dict, pipeline: Any, catalog: Any) -> None:
        version = run_params.get("run_id")  # = the save version of every dataset of the run
        outputs = set(pipeline.all_outputs())
        lines = [
            f"  {name}: {path}"
            for name in HEADLINE_OUTPUTS
            if name in outputs and (path := _saved_path(_dataset(catalog, name), version))
        ]
        logger.info(
            "%s; this run's outputs (version %s):\n%s\n  %s\n  the pipeline: kedro viz run",
            self._took(),
            version,
            "\n".join(lines) or "  (see data/)",
            # The `ui` block of mlflow.yml (host, port)
            _mlflow_run(getattr(getattr(self._context, "mlflow", None), "ui", None)),
        )


def _mlflow_run(ui: Any) -> str:
    """The MLflow run this run was logged to, if kedro-mlflow logged it, with the address
    of its own page: MLflow's UI opens on its GenAI view, where training runs are not."""
    mlflow = sys.modules.get("mlflow")
    run = mlflow.last_active_run() if mlflow else None
    if run is None:
        return "MLflow: kedro mlflow ui"
    host, port = getattr(ui, "host", "127.0.0.1"), getattr(ui, "port", "5000")
    page = f"http://{host}:{port}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    return f"MLflow: run {run.info.run_name!r}, its page {page} (after: kedro mlflow ui)"


@click.group(name="resnet-finetune")
def cli() -> None:
    """Commands of the resnet-finetune project."""


run = _make_run()
cli.add_command(run, "run")

__all__ = ["RunSummary", "cli", "parse_parameters", "run", "split_parameters"]

if __name__ == "__main__":  # pragma: no cover
    cli(sys.argv[1:])
