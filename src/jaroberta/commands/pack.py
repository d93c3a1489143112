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
    if args.json:
        splits = {split: {"rows": s.rows, "tokens": s.tokens, "padding_share": s.padding_share, "documents": s.documents,
                          "empty_documents": s.empty_documents, "truncated_documents": s.truncated_documents,
                          "truncated_tokens": s.truncated_tokens, "literal_masks": s.literal_masks}
                  for split, s in header.splits.items()}
        options.print_json({"out": str(args.out), "layout": header.layout, "max_length": header.seq_len, "splits": splits})
        return 0
    print(f"shards written to {args.out} ({header.layout} layout, max length {header.seq_len}):")
    for split, s in header.splits.items():
        print(f"  {split}: {s.rows} rows, {s.tokens} tokens from {s.documents} documents ({s.empty_documents} empty "
              f"skipped, {s.truncated_documents} truncated losing {s.truncated_tokens} tokens), "
              f"{s.padding_share:.0%} padding")
        if s.literal_masks:
            print(f"  {split}: {s.literal_masks} literal mask-token strings in the text packed as text, not as the mask id")
    return 0
