"""`jaroberta fill-mask MODEL TEXT...`: the words behind [MASK]."""

from __future__ import annotations

import argparse
import json

from jaroberta.commands import options
from jaroberta.infer import render

CONFIG = "jaroberta.infer.configs:FillMaskConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Write [MASK] where a word is missing; jaroberta tokenizes the text around it, puts the mask id "
                    "in after tokenization and frames the input as the model was trained (rinna: [CLS] + pieces, "
                    "positions from 0). Several masks per text are predicted independently; --span N fills one "
                    "mask with an answer of N pieces.",
    )
    options.model_options(p, batch=False)
    options.texts(p)
    options.add_config(p, CONFIG, flags={
        "targets": {"type": options.names, "metavar": "A,B,...", "default": (),
                    "help": "score only these comma-separated candidates; a candidate of several pieces is scored by "
                            "filling as many masks left to right"},
        "span": {"type": int, "metavar": "N",
                 "help": "fill the text's single [MASK] with an answer of N pieces (see --strategy)"},
    })
    options.as_json(p, "print one JSON object per text instead of a table")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    model = options.load(args)
    config = options.config_values(args, CONFIG)
    if args.span:
        for text in texts:
            candidates = model.fill_span(text, args.span, strategy=args.strategy, beam_size=args.beam_size,
                                         top_k=args.top_k, batch_size=args.batch_size)
            if args.json:
                print(json.dumps({"text": text, "candidates": [c.to_dict() for c in candidates]}, ensure_ascii=False))
            else:
                print(render.span_table(text, candidates))
        return 0
    results = model.fill_mask(texts, top_k=config["top_k"], targets=list(config["targets"]) or None,
                              batch_size=config["batch_size"], truncate=config["truncate"])
    if args.json:
        render.print_json_lines(results)
    else:
        print(render.fill_mask_table(results))
    return 0
