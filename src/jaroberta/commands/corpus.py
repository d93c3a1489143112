"""CLI: `jaroberta corpus build [INPUT ...] OUT`."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.api import build_corpus
from jaroberta.commands import options
from jaroberta.corpus.build import BuildConfig, EmptyCorpus
from jaroberta.corpus.clean import CleanConfig
from jaroberta.corpus.readers import ReadConfig
from jaroberta.errors import JarobertaError


def register(subparsers, name: str, help: str) -> None:
    corpus = subparsers.add_parser(name, help=help)
    commands = corpus.add_subparsers(dest="corpus_command", metavar="ACTION")
    p = commands.add_parser(
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
    p.add_argument("--format", default="auto", choices=["auto", "text", "cirrus", "jsonl", "parquet", "arrow"],
                   help="input format; auto: *cirrussearch*.json[.gz] -> cirrus, .jsonl/.ndjson/.json -> jsonl, .parquet -> parquet, "
                        ".arrow (a datasets folder's data) -> arrow, else text (default: auto)")
    p.add_argument("--text-field", default="text",
                   help="JSON Lines: field that holds the text; Parquet and datasets folders: the string column (default: text)")
    p.add_argument("--invalid-utf8", default="replace", choices=["replace", "skip"],
                   help="lines that are not valid UTF-8: replace bad bytes with U+FFFD or skip the line; counted either way (default: replace)")
    p.add_argument("--max-line-bytes", type=int, default=4 << 20,
                   help="drop (and count) input lines longer than this, without reading them into memory (default: 4 MiB)")
    p.add_argument("--min-chars", type=int, default=1, help="shortest sentence kept, in characters (default: 1, as rinna)")
    p.add_argument("--max-chars", type=int, default=1024, help="longest sentence kept, in characters (default: 1024, as rinna)")
    p.add_argument("--allow-unterminated", action="store_true",
                   help="keep sentences that do not end with 。!? (headings, labels, list items); by default they are dropped, as C4 does")
    p.add_argument("--join-lines", default="auto", choices=["auto", "always", "never"],
                   help="hard-wrapped text (manuals, man pages, PDF extracts): join a line that does not end a sentence to "
                        "the next before splitting; auto: only lines that fill the document's wrap width (default: auto)")
    p.add_argument("--min-japanese", type=float, default=0.3,
                   help="minimum share of Japanese characters (kana, kanji, Japanese punctuation) in a sentence (default: 0.3)")
    p.add_argument("--skip-rule", action="append", default=[], metavar="RULE",
                   help="turn a cleaning rule off (control_chars, markup, nfkc, join_lines, sentence_split, length, terminal_punctuation, japanese_share, "
                        "sentence_dedup, document_dedup); repeat for several")
    p.add_argument("--near-dup", type=float, default=None, metavar="THRESHOLD",
                   help="also drop near-duplicate documents: MinHash LSH at this Jaccard threshold, e.g. 0.8 (default: off)")
    p.add_argument("--dev-fraction", type=float, default=0.01,
                   help="share of documents in dev, chosen by document digest; dev is never empty (default: 0.01)")
    p.add_argument("--workers", type=int, default=1, help="cleaning processes (default: 1)")
    p.add_argument("--shard", default="0/1", metavar="i/N",
                   help="build only shard i of N (0-based), so N machines can split one corpus without coordination (default: 0/1)")
    p.add_argument("--keep-rejected", action="store_true",
                   help="write everything dropped, with the rule that dropped it, to OUT/rejected/*.jsonl")
    p.add_argument("--overwrite", action="store_true",
                   help="start over where OUT holds a build with other inputs or options (otherwise a rerun resumes)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where the default corpus is downloaded (default: $XDG_CACHE_HOME/jaroberta or ~/.cache/jaroberta)")
    options.no_progress(p)
    p.set_defaults(run=_build)


def _shard(text: str) -> tuple[int, int]:
    index, slash, count = text.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise JarobertaError(f"--shard must look like i/N (e.g. 0/4), got {text!r}")
    return int(index), int(count)


def _build(args: argparse.Namespace) -> int:
    *inputs, out = args.paths
    config = BuildConfig(
        out=out,
        inputs=tuple(inputs),
        read=ReadConfig(format=args.format, text_field=args.text_field, invalid_utf8=args.invalid_utf8,
                        max_line_bytes=args.max_line_bytes),
        clean=CleanConfig(min_chars=args.min_chars, max_chars=args.max_chars, min_japanese=args.min_japanese,
                          require_terminal=not args.allow_unterminated, join_lines=args.join_lines,
                          skip_rules=tuple(args.skip_rule), keep_rejected=args.keep_rejected),
        dev_fraction=args.dev_fraction,
        near_dup=args.near_dup,
        workers=args.workers,
        shard=_shard(args.shard),
        overwrite=args.overwrite,
        progress=not args.no_progress,
        cache_dir=args.cache_dir,
    )
    try:
        report = build_corpus(config)
    except EmptyCorpus as exc:  # the report says what each rule dropped: show it before the error
        print(exc.report.table())
        raise
    print(report.table())
    return 0
