"""Make this interpreter behave as a virtual environment holding only keras, jax and
numpy (and what they require) plus resnet_finetune: importing any other installed
distribution raises ModuleNotFoundError, as it would there.

Put this folder first on PYTHONPATH; child processes inherit it. Blocked imports are
appended to the file named by BLOCKED_IMPORTS_LOG (libraries that probe for optional
packages in try/except are fine; the test reads the log to say what was refused).
"""

import importlib.abc
import importlib.metadata
import os
import re
import sys

ROOTS = ("keras", "jax", "numpy")


def _closure(roots):
    allowed, todo = set(), [r.lower() for r in roots]
    while todo:
        name = todo.pop()
        if name in allowed:
            continue
        allowed.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement or "extra==" in requirement:
                continue  # optional extras are not installed by `pip install keras jax numpy`
            todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower())
    return {n.replace("_", "-") for n in allowed}


_ALLOWED = _closure(ROOTS)
_OWNERS = {
    module: {d.lower().replace("_", "-") for d in dists}
    for module, dists in importlib.metadata.packages_distributions().items()
}


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        owners = _OWNERS.get(top)
        if top == "resnet_finetune" or not owners or owners & _ALLOWED:
            return None
        log = os.environ.get("BLOCKED_IMPORTS_LOG")
        if log:
            with open(log, "a") as file:
                file.write(f"{top}\n")
        raise ModuleNotFoundError(f"No module named {top!r} (not in this environment)", name=top)


sys.meta_path.insert(0, _Blocker())
