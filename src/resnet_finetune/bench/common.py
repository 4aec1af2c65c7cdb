"""What every benchmark shares: one process per case, the machine, the Markdown section."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
from pathlib import Path


def run_child(command: str, case: str, options: dict, env: dict | None = None) -> dict:
    """Run ``case`` of ``python -m resnet_finetune.bench COMMAND`` in its own process and
    return the JSON it prints last."""
    arguments = [sys.executable, "-m", "resnet_finetune.bench", command, "--case", case]
    for flag, value in options.items():
        arguments += [flag, str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run(arguments, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved_runs(command: str, cases, options: dict, repeats: int) -> dict[str, list[dict]]:
    """Each of ``cases`` run ``repeats`` times by ``run_child``, interleaved (case A, case
    B, case A, ...) so that a machine growing busier or quieter weighs on both alike."""
    runs = {case: [] for case in cases}
    for repeat in range(repeats):
        for case in cases:
            runs[case].append(run_child(command, case, options))
            print(f"repeat {repeat + 1} {case}: {runs[case][-1]}", file=sys.stderr)
    return runs


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = names[0] if names else model
    return f"{os.cpu_count()} CPU cores ({model}), {platform.system()} {platform.release()}"


def write_section(document: Path, section: str, markers: tuple[str, str]) -> None:
    """Replace the part of ``document`` between ``markers`` with ``section`` (or append it;
    a new document is the section alone). No title is added: the section goes into the
    document, whose title is its own."""
    start, end = markers
    text = document.read_text() if document.exists() else ""
    if start in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + section + "\n"
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_text(text)
