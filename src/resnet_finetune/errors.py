"""The project's own error types, told apart by their class (``kedro run`` prints their
message without a traceback). Importing this module imports nothing else: the command
line reads it before any library loads.
"""


class ParameterError(ValueError):
    """A parameter (its key, value, or a combination of values) cannot run: the message
    names the key, the value given and what is allowed. Every check of the parameters
    raises it, whether a run, a notebook or a test calls the library."""


class ExportRuntimeMissing(RuntimeError):
    """An export format's converter or runtime is not installed; the message says what
    to install."""
