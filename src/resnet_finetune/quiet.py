"""Library start-up noise, turned down once, before the libraries are imported.

Imported by ``settings.py`` and ``cli.py``, so it holds for ``kedro`` commands, notebooks
and ``KedroSession`` alike. It imports nothing but the standard library.

- TensorFlow's native start-up lines (oneDNN, CUDA stubs, CPU features, absl's "All log
  messages before absl::InitializeLog()") are written to file descriptor 2 by C++ code
  while ``tensorflow`` is imported, before ``TF_CPP_MIN_LOG_LEVEL`` is read: the import
  goes through ``quiet_import``, which points descriptor 2 at /dev/null meanwhile (a
  Python exception raised by the import is still raised, and shown, afterwards).
- ``TF_CPP_MIN_LOG_LEVEL=3`` for TensorFlow's own later lines (e.g. ``failed call to
  cuInit`` on a machine with CUDA libraries and no GPU), ``MLFLOW_LOGGING_LEVEL=WARNING``
  (MLflow configures its own loggers on import): a user's own setting wins; set
  ``TF_CPP_MIN_LOG_LEVEL=0`` to see everything again.
- Warnings a user of this project cannot act on are ignored, each by its own text (never
  all warnings: a new warning, or one from this project, still shows).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import re
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# MLflow draws a progress bar when it reads back the model it has just logged.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# (category, regular expression matched against the start of the message)
QUIET_WARNINGS = (
    # MLflow, when kedro-mlflow defines its pyfunc model class (a library's class, not ours).
    (UserWarning, r"(?s).*Add type hints to the `predict` method"),
    # Kedro 1.7 and kedro-mlflow register their resolvers with OmegaConf's old API.
    (UserWarning, r"(?s)register_new_resolver\(\) is deprecated"),
    # Kedro names namespaced datasets `source.manifest`: that is what namespaces do.
    (UserWarning, r"(?s)One or more dataset names contain '\.' characters"),
)

# Log records of libraries that are not a user's concern, by logger and message.
QUIET_RECORDS = {
    # Fine-tuning recompiles the model when a phase unfreezes layers: a new trace each
    # time is expected, not a mistake.
    "tensorflow": (r".*triggered tf\.function retracing",),
}


def _quiet_record(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    return not any(re.match(pattern, text) for pattern in QUIET_RECORDS.get(record.name, ()))


def is_quiet(message: object, category: type[Warning]) -> bool:
    """True for a warning in ``QUIET_WARNINGS``."""
    text = str(message)
    return any(
        issubclass(category, kind) and re.match(pattern, text) for kind, pattern in QUIET_WARNINGS
    )


def quiet_warnings() -> None:
    """Ignore ``QUIET_WARNINGS``: by the warning filters, and, for code that sets its own
    filters (MLflow shows its warnings through ``simplefilter("once")``), where warnings
    are shown: ``warnings.showwarning``, and the ``py.warnings`` logger that Kedro's
    logging sends them to."""
    for category, message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    if not getattr(warnings.showwarning, "_quiet", False):
        show = warnings.showwarning

        def showwarning(message, category, *args, **kwargs):
            if not is_quiet(message, category):
                show(message, category, *args, **kwargs)

        showwarning._quiet = True
        warnings.showwarning = showwarning
    for name in QUIET_RECORDS:
        if _quiet_record not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_quiet_record)
    py_warnings = logging.getLogger("py.warnings")
    if _drop_quiet_records not in py_warnings.filters:
        py_warnings.addFilter(_drop_quiet_records)


def _drop_quiet_records(record: logging.LogRecord) -> bool:
    # logging.captureWarnings formats a warning as "path:line: Category: message\n..."
    text = record.getMessage()
    return not any(
        re.match(pattern, text.split(f"{kind.__name__}: ", 1)[-1]) and f"{kind.__name__}: " in text
        for kind, pattern in QUIET_WARNINGS
    )


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 points at /dev/null inside the block (Python's ``sys.stderr``
    is flushed first and works again after it)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no descriptor 2 (embedded, closed)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_import(module: str) -> None:
    """Import ``module`` with its native start-up lines silenced, if it is installed and
    not imported yet."""
    if module in sys.modules or importlib.util.find_spec(module) is None:
        return
    with native_stderr_silenced():
        importlib.import_module(module)
    quiet_warnings()  # TensorFlow's import resets the warning filters


def quiet_tensorflow() -> None:
    """Import TensorFlow quietly when it is the Keras backend (as by default)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and not os.environ.get(
        "TF_CPP_MIN_LOG_LEVEL", ""
    ).startswith("0"):
        quiet_import("tensorflow")


quiet_warnings()
