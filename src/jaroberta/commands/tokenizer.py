"""`jaroberta tokenizer train|encode|info|extend`: train, run, describe and extend tokenizers."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaroberta.commands import options
from jaroberta.core.hub import resolve_model

CONFIG = "jaroberta.text.training:TokenizerTrainConfig"


def register(subparsers, name: str, help: str) -> None:
    actions = options.group(subparsers, name, help)
    _register_train(actions)
    _register_encode(actions)
    _register_info(actions)
    _register_extend(actions)


def _register_train(actions) -> None:
    p = actions.add_parser(
        "train",
        help="train a tokenizer on a corpus",
        description="Train the tokenizer of a model family: a SentencePiece unigram tokenizer (rinna layout) or a MeCab "
        "+ WordPiece tokenizer (JMedRoBERTa, tohoku layouts), saved with its normalization and dictionaries.",
    )
    p.add_argument("corpus", type=Path, nargs="+", metavar="CORPUS",
                   help="corpus folder from `jaroberta corpus build` (train split), or text files with one sentence per line")
    p.add_argument("out", type=Path, metavar="OUT", help="folder to write the tokenizer into")
    default = options.constant("jaroberta.model.families:DEFAULT_FAMILY")
    p.add_argument("--family", choices=options.keys("jaroberta.model.families:FAMILIES"), default=default,
                   help=f"model family: its tokenizer kind, system dictionary, normalization and vocabulary size "
                        f"(default: {default})")
    options.add_config(p, CONFIG, skip=("tokenizer_kind", "inputs", "out", "user_dicts", "normalization"), flags={
        "vocab_size": {"type": int, "default": None, "help": "vocabulary size (default: the family's)"},
        "system_dict": {"choices": options.keys("jaroberta.text.mecab:SYSTEM_DICTS"), "default": None,
                        "help": "MeCab families: the MeCab system dictionary (default: the family's)"},
    })
    options.user_dict(p, "MeCab families: compiled MeCab user dictionary (.dic); repeat for several")
    options.as_json(p, "print a JSON summary (family, vocab_size, out) instead of a line")
    options.no_progress(p)
    p.set_defaults(run=run_train)


def _register_encode(actions) -> None:
    p = actions.add_parser(
        "encode",
        help="tokenize text and print tokens, ids and offsets",
        description="Tokenize text with a tokenizer folder. A literal [MASK] in the text becomes the mask id.",
    )
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER", help="tokenizer or model folder (ours, rinna's or JMedRoBERTa's layout), or hub id")
    options.texts(p, "texts to tokenize")
    options.as_json(p, "print one JSON object per text (ids, tokens, offsets, word_ids, unknown)")
    options.user_dict(p, "where a user dictionary the tokenizer needs is (matched by file name); repeat for several")
    p.set_defaults(run=run_encode)


def _register_info(actions) -> None:
    p = actions.add_parser(
        "info",
        help="describe a tokenizer",
        description="Print tokenizer kind, vocabulary size, special tokens, normalization, dictionaries and fingerprint.",
    )
    p.add_argument("tokenizer", type=Path, metavar="TOKENIZER", help="tokenizer folder")
    options.user_dict(p, "where a user dictionary the tokenizer needs is (matched by file name); repeat for several")
    options.as_json(p, "print the description as one JSON object")
    p.set_defaults(run=run_info)


def _register_extend(actions) -> None:
    p = actions.add_parser(
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
    options.overwrite(p, "the tokenizer")
    options.as_json(p, "print the extension report as one JSON object")
    options.no_progress(p)
    p.set_defaults(run=run_extend)


def run_train(args: argparse.Namespace) -> int:
    tokenizer = options.api().train_tokenizer(args.corpus, args.out, family=args.family, user_dict=args.user_dict,
                                              **options.config_values(args, CONFIG))
    if args.json:
        options.print_json({"family": args.family, "tokenizer_kind": tokenizer.tokenizer_kind,
                            "vocab_size": tokenizer.vocab_size, "out": str(args.out)})
    else:
        print(f"{args.family} tokenizer ({tokenizer.tokenizer_kind}), vocab {tokenizer.vocab_size}, written to {args.out}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    texts = options.read_texts(args.text, args.input)
    report = options.library("text.report")
    tokenizer = options.library("text").load_tokenizer(resolve_model(args.tokenizer), user_dicts=args.user_dict or None)
    report.print_encodings(tokenizer, texts, as_json=args.json)
    return 0


def run_info(args: argparse.Namespace) -> int:
    report = options.library("text.report")
    folder = resolve_model(args.tokenizer)
    description = report.describe(options.library("text").load_tokenizer(folder, user_dicts=args.user_dict or None))
    notes = report.training_notes(folder)
    extension = report.extension_report(folder)
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


def run_extend(args: argparse.Namespace) -> int:
    report = options.api().extend_tokenizer(args.base, args.corpus, args.out, add=args.add, revision=args.revision,
                                            user_dict=args.user_dict or (), workers=args.workers, overwrite=args.overwrite)
    if args.json:
        options.print_json({**report.to_dict(), "out": str(args.out)})
    else:
        print("\n".join(report.lines()))
        print(f"written to {args.out}")
    return 0
