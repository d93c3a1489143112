"""`jaroberta embed MODEL OUT.npy TEXT...`: sentence embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options
from jaroberta.core.outputs import check_output_file

CONFIG = "jaroberta.infer.configs:EmbedConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        usage="jaroberta embed [options] MODEL OUT.npy [TEXT ...]",
        description="Encode each text (TEXT arguments and/or the lines of --input) and save a float32 array "
                    "(texts x hidden) as OUT.npy; row i is text i (blank lines are skipped and reported).",
    )
    options.model_options(p, batch=False)
    p.add_argument("out", type=Path, metavar="OUT.npy", help="where to write the embeddings (.npy)")
    options.texts(p)
    options.add_config(p, CONFIG)
    options.as_json(p, "print a JSON summary (path, rows, dimensions) instead of a line")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    check_output_file(args.out, ".npy")  # before the model loads
    embeddings = options.load(args, head="base").embed(texts, **options.config_values(args, CONFIG))
    path = embeddings.save(args.out)
    rows, dims = embeddings.vectors.shape
    if args.json:
        options.print_json({"path": str(path), "rows": rows, "dimensions": dims, "pooling": args.pooling,
                            "normalized": args.normalize})
    else:
        print(f"wrote {path}: {rows} x {dims} float32 ({args.pooling} pooling)")
    return 0
