"""The `jaroberta` command: one dispatch table over the library.

Each row names a sub-command, its one-line help and the function in `jaroberta.commands`
that adds its parser (whose handler turns the parsed flags into typed values and makes one
library call). A command's module is imported only when that command runs or its help is
asked, so `jaroberta --help` never imports torch. The shared flags and their meanings are in
`jaroberta.commands.options` and README's "Flags" table.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import NamedTuple

from jaroberta import __version__
from jaroberta.errors import JarobertaError
from jaroberta.core.progress import bars_off


class Command(NamedTuple):
    name: str
    help: str
    register: str
    """'module:function' that adds the command's parser to the sub-parsers."""


# In the order a user walks through them.
TABLE = (
    Command("corpus", "build a clean Japanese corpus (documents, sentences, train/dev split, report)",
            "jaroberta.commands.corpus:register"),
    Command("tokenizer", "train, inspect and run tokenizers of both families", "jaroberta.commands.text:register_tokenizer"),
    Command("dict", "build MeCab user dictionaries", "jaroberta.commands.text:register_dict"),
    Command("pack", "tokenize a corpus into memory-mapped shards for pretraining", "jaroberta.commands.train:register_pack"),
    Command("pretrain", "pretrain a masked language model on packed shards (CPU, GPU or torchrun)",
            "jaroberta.commands.train:register_pretrain"),
    Command("demo", "the whole path on the default corpus: corpus, tokenizer, pack, pretrain, perplexity, fill-mask",
            "jaroberta.commands.train:register_demo"),
    Command("finetune", "fine-tune a pretrained model: classify, ner or pair", "jaroberta.commands.finetune:register"),
    Command("predict", "run a fine-tuned model: labels, scores or entities", "jaroberta.commands.finetune:register_predict"),
    Command("fill-mask", "predict the words behind [MASK] in texts", "jaroberta.commands.infer:register_fill_mask"),
    Command("score", "pseudo-log-likelihood and pseudo-perplexity of texts", "jaroberta.commands.infer:register_score"),
    Command("embed", "sentence embeddings of texts, saved as .npy", "jaroberta.commands.infer:register_embed"),
    Command("eval", "evaluate a model: perplexity on a corpus, JGLUE", "jaroberta.commands.infer:register_eval"),
    Command("serve", "serve a model over HTTP: JSON API, web page at /, API docs at /docs",
            "jaroberta.commands.serve:register"),
    Command("export", "write a model folder that plain transformers uses correctly (pipeline, AutoTokenizer)",
            "jaroberta.commands.export:register"),
)
COMMANDS = {command.name: command for command in TABLE}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. With `argv`, only the command it names gets its full parser (the others
    are one help line each, nothing imported); without, every command's (tests, docs)."""
    parser = argparse.ArgumentParser(
        prog="jaroberta",
        description="Build and use Japanese RoBERTa-style masked language models: corpus -> tokenizer -> "
        "pack -> pretrain -> fill-mask / score / embed / fine-tune / serve.",
    )
    parser.add_argument("--version", action="version", version=f"jaroberta {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else _command_named(argv)
    for command in TABLE:
        if wanted is None or command.name == wanted:
            module_name, function = command.register.split(":")
            getattr(importlib.import_module(module_name), function)(subparsers, command.name, command.help)
        else:
            subparsers.add_parser(command.name, help=command.help)
    return parser


def _command_named(argv: list[str]) -> str:
    """The sub-command in argv: its first word that is not an option ('' when none)."""
    return next((word for word in argv if not word.startswith("-")), "")


@contextlib.contextmanager
def _progress_bars(enabled: bool):
    """`--no-progress`: no progress bar anywhere in the command, ours (`bars_off`) nor those of
    libraries imported after this point (TQDM_DISABLE); restored after, so a caller of `main`
    keeps its own setting."""
    before = os.environ.get("TQDM_DISABLE")
    if not enabled:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        with bars_off(not enabled):
            yield
    finally:
        if before is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = before


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        with _progress_bars(not getattr(args, "no_progress", False)):
            result = args.run(args)
    except JarobertaError as exc:
        print(f"jaroberta {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaroberta {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
