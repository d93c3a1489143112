"""`jaroberta fill-mask MODEL TEXT...`: the words behind [MASK]."""

from __future__ import annotations

import argparse
import json

from jaroberta.commands import options
from jaroberta.infer import render


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Write [MASK] where a word is missing; jaroberta tokenizes the text around it, puts the mask id "
                    "in after tokenization and frames the input as the model was trained (rinna: [CLS] + pieces, "
                    "positions from 0). Several masks per text are predicted independently; --span N fills one "
                    "mask with an answer of N pieces.",
    )
    options.model_options(p)
    options.texts(p)
    options.truncate(p)
    p.add_argument("--top-k", type=int, default=5, help="candidates per mask (default: 5)")
    p.add_argument("--targets", metavar="A,B,...",
                   help="score only these comma-separated candidates; a candidate of several pieces is scored "
                        "by filling as many masks left to right")
    p.add_argument("--span", type=int, metavar="N",
                   help="fill the text's single [MASK] with an answer of N pieces (see --strategy)")
    p.add_argument("--strategy", choices=["greedy", "beam"], default="greedy",
                   help="with --span: greedy completes each of the top-k first pieces; beam keeps --beam-size "
                        "partial answers (default: greedy)")
    p.add_argument("--beam-size", type=int, default=4, help="with --span --strategy beam: beam width (default: 4)")
    options.as_json(p, "print one JSON object per text instead of a table")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    model = options.load(args)
    if args.span:
        for text in texts:
            candidates = model.fill_span(text, args.span, strategy=args.strategy, beam_size=args.beam_size,
                                         top_k=args.top_k, batch_size=args.batch_size)
            if args.json:
                print(json.dumps({"text": text, "candidates": [c.to_dict() for c in candidates]}, ensure_ascii=False))
            else:
                print(render.span_table(text, candidates))
        return 0
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets else None
    results = model.fill_mask(texts, top_k=args.top_k, targets=targets, batch_size=args.batch_size, truncate=args.truncate)
    if args.json:
        render.print_json_lines(results)
    else:
        print(render.fill_mask_table(results))
    return 0
