"""`jaroberta embed MODEL OUT.npy TEXT...`: sentence embeddings."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        usage="jaroberta embed [options] MODEL OUT.npy [TEXT ...]",
        description="Encode each text (TEXT arguments and/or the lines of --input) and save a float32 array "
                    "(texts x hidden) as OUT.npy; row i is text i (blank lines are skipped and reported).",
    )
    options.model_options(p)
    p.add_argument("out", type=Path, metavar="OUT.npy", help="where to write the embeddings (.npy)")
    options.texts(p)
    options.truncate(p)
    p.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                   help="mean of the token vectors, or the [CLS] vector (default: mean)")
    p.add_argument("--normalize", action="store_true", help="L2-normalize every vector (cosine similarity = dot product)")
    options.as_json(p, "print a JSON summary (path, rows, dimensions) instead of a line")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    embeddings = options.load(args, head="base").embed(texts, pooling=args.pooling, normalize=args.normalize,
                                                       batch_size=args.batch_size, truncate=args.truncate)
    path = embeddings.save(args.out)
    rows, dims = embeddings.vectors.shape
    if args.json:
        options.print_json({"path": str(path), "rows": rows, "dimensions": dims, "pooling": args.pooling,
                            "normalized": args.normalize})
    else:
        print(f"wrote {path}: {rows} x {dims} float32 ({args.pooling} pooling)")
    return 0
