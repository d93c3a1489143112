"""`jaroberta pack CORPUS TOKENIZER OUT`: a corpus tokenized into shards for pretraining."""

from __future__ import annotations

import argparse

from jaroberta.commands import options

CONFIG = "jaroberta.corpus.pack:PackConfig"


def register(subparsers, name: str, help: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help,
        description="Tokenize the train and dev splits of a corpus folder into fixed-length rows (uint16 ids where "
                    "the vocabulary fits) with word ids for whole-word masking. Layouts: 'document' (rinna: [CLS] + one "
                    "document, truncated) and 'full' (RoBERTa FULL-SENTENCES: documents back to back, [SEP] between).",
    )
    options.add_config(p, CONFIG, positional=("corpus", "tokenizer", "out"), skip=("documents_per_batch",))
    options.as_json(p, "print the shard header (layout, max length, rows and tokens per split) as JSON")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    header = options.api().pack(**options.config_values(args, CONFIG))
    splits = {split: {"rows": s.rows, "tokens": s.tokens, "padding_share": s.padding_share}
              for split, s in header.splits.items()}
    if args.json:
        options.print_json({"out": str(args.out), "layout": header.layout, "max_length": header.seq_len, "splits": splits})
        return 0
    rows = ", ".join(f"{split} {s['rows']} rows / {s['tokens']} tokens / {s['padding_share']:.0%} padding"
                     for split, s in splits.items())
    print(f"shards written to {args.out} ({header.layout} layout, max length {header.seq_len}): {rows}")
    return 0
