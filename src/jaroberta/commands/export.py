"""`jaroberta export MODEL OUT`: a folder that plain transformers uses correctly."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Copy MODEL (a folder or hub id) into OUT so that plain transformers gives jaroberta's results: "
                    "SentencePiece models get a tokenizer.json with the right framing, unknown id and lower-casing, "
                    "and a position table moved to RoBERTa's default positions; MeCab models get their user "
                    "dictionaries in the folder. A model card (README.md) says how to use it and what stays inexact.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder or Hugging Face hub id")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write: new, empty, or an earlier export")
    options.revision(p)
    options.overwrite(p, "the export")
    options.user_dict(p)
    options.license(p)
    options.as_json(p, "print what was exported as one JSON object")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = options.api().export(args.model, args.out, revision=args.revision, user_dict=args.user_dict,
                                  license=args.license, overwrite=args.overwrite)
    if args.json:
        options.print_json({"model": str(args.model), "tokenizer_kind": result.tokenizer_kind, "out": str(result.out),
                            "inexact": list(result.notes)})
        return 0
    print(f"exported {args.model} ({result.tokenizer_kind}) to {result.out}; card: {result.out / 'README.md'}")
    for note in result.notes:
        print(f"  inexact in plain transformers: {note}")
    return 0
