"""The `jaroberta` command: a thin dispatch table over the library.

Each pipeline stage declares its sub-commands in `<stage>/commands.py` (a
`register(subparsers)` function that adds parsers and sets `run=` to one library call).
Heavy libraries are imported inside the handlers, so `jaroberta --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from jaroberta import __version__
from jaroberta.errors import JarobertaError

# In the order a user walks through them.
STAGES = (
    "jaroberta.commands.corpus",
    "jaroberta.commands.text",
    "jaroberta.commands.train",
    "jaroberta.commands.finetune",
    "jaroberta.commands.infer",
    "jaroberta.commands.serve",
    "jaroberta.commands.export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaroberta",
        description="Build and use Japanese RoBERTa-style masked language models: corpus -> tokenizer -> "
        "pack -> pretrain -> fill-mask / score / embed / fine-tune / serve.",
    )
    parser.add_argument("--version", action="version", version=f"jaroberta {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in STAGES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # stage not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.run(args)
    except JarobertaError as exc:
        print(f"jaroberta {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaroberta {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
