"""The benchmark commands: each compares the project with the tool a user would otherwise
pick, in the same run, and can write its result into a Markdown section."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resnet_finetune.bench import frozen_phase, input_pipeline, training
from resnet_finetune.bench.common import write_section

COMMANDS = {"input": input_pipeline, "train": training, "frozen": frozen_phase}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resnet_finetune.bench")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0])
        module.add_arguments(sub)
        sub.add_argument("--write", type=Path, help="Markdown file whose section to replace")
    args = parser.parse_args(argv)
    module = COMMANDS[args.command]
    if args.case:
        print(json.dumps(module.run_case(args.case, args)))
        return
    command = "python -m resnet_finetune.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    section, markers = module.section(args, command)
    print(section)
    if args.write:
        write_section(args.write, section, markers)
