"""`jaroberta corpus build [INPUT ...] OUT`: raw text read, cleaned, deduplicated and split."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options
from jaroberta.corpus.build import BuildConfig, EmptyCorpus
from jaroberta.corpus.clean import CleanConfig
from jaroberta.corpus.readers import ReadConfig
from jaroberta.errors import JarobertaError

BUILD = "jaroberta.corpus.build:BuildConfig"
READ = "jaroberta.corpus.readers:ReadConfig"
CLEAN = "jaroberta.corpus.clean:CleanConfig"


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "build",
        usage="jaroberta corpus build [options] [INPUT ...] OUT",
        help="read, clean, dedup and split raw Japanese text into a corpus folder",
        description="Read plain text (CC-100 format, .gz/.xz/.bz2/.zst), Wikipedia CirrusSearch dumps, JSON Lines, "
        "Parquet or Hugging Face datasets folders (save_to_disk); "
        "clean (NFKC, control characters, markup, sentence split, length, Japanese share, dedup); split train/dev "
        "by document digest; write OUT/train, OUT/dev, corpus.json and a report. With no INPUT, build the default "
        "corpus from Debian's Japanese documentation packages.",
    )
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH",
                   help="input files or folders (none = the default corpus), then the corpus folder to write")
    options.add_config(p, READ, skip=("chunk_bytes",))
    options.add_config(p, CLEAN, flags={
        "require_terminal": {"flag": "--allow-unterminated", "action": "store_false",
                             "help": "keep sentences that do not end with 。!? (headings, labels, list items); by "
                                     "default they are dropped, as C4 does"},
        "skip_rules": {"flag": "--skip-rule", "action": "append", "metavar": "RULE",
                       "help": "turn a cleaning rule off (control_chars, markup, nfkc, join_lines, sentence_split, "
                               "length, terminal_punctuation, japanese_share, sentence_dedup, document_dedup); "
                               "repeat for several"},
    })
    options.add_config(p, BUILD, skip=("out", "inputs", "read", "clean"), flags={
        "near_dup": {"type": float, "metavar": "THRESHOLD",
                     "help": "also drop near-duplicate documents: MinHash LSH at this Jaccard threshold, e.g. 0.8 "
                             "(default: off)"},
        "shard": {"metavar": "i/N", "default": "0/1",
                  "help": "build only shard i of N (0-based), so N machines can split one corpus without "
                          "coordination (default: 0/1)"},
    })
    p.set_defaults(run=run)


def _shard(text: str) -> tuple[int, int]:
    index, slash, count = text.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise JarobertaError(f"--shard must look like i/N (e.g. 0/4), got {text!r}")
    return int(index), int(count)


def run(args: argparse.Namespace) -> int:
    *inputs, out = args.paths
    build = {**options.config_values(args, BUILD), "shard": _shard(args.shard)}
    config = BuildConfig(out=out, inputs=tuple(inputs), read=ReadConfig(**options.config_values(args, READ)),
                         clean=CleanConfig(**options.config_values(args, CLEAN)), **build)
    try:
        report = options.api().build_corpus(config)
    except EmptyCorpus as exc:  # what each rule dropped, before the error
        print(exc.report.table())
        raise
    print(report.table())
    return 0
