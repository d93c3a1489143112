"""The `jaroberta` command: one dispatch table over the library.

Each row names a sub-command, its one-line help and its module in `jaroberta.commands`
(whose `register` adds its parser, with flags made from the command's typed config, and whose
handler makes one library call and prints its report). A command's module is imported only
when that command runs or its help is asked, and imports no torch itself: `--help` is fast.
The flags and their meanings are in `jaroberta.commands.options` and README's "Flags" table.
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
from jaroberta.core.progress import bars_off
from jaroberta.errors import JarobertaError
from jaroberta.model.quiet import silence_transformers


class Command(NamedTuple):
    name: str
    help: str
    module: str
    """The module under jaroberta.commands whose `register(subparsers, name, help)` adds the parser."""


# In the order of the work: try it, build a model, use it, fine-tune it, hand it over.
GROUPS = (
    ("try it", (Command("demo", "the whole path on the default corpus: corpus, tokenizer, pack, pretrain, "
                                "bits per character, fill-mask", "demo"),)),
    ("build a model", (
        Command("corpus", "build a clean Japanese corpus (documents, sentences, train/dev split, report)", "corpus"),
        Command("dict", "build MeCab user dictionaries", "dict"),
        Command("tokenizer", "train, inspect and run tokenizers of every family", "tokenizer"),
        Command("pack", "tokenize a corpus into memory-mapped shards for pretraining", "pack"),
        Command("pretrain", "pretrain a masked language model on packed shards (CPU, GPU or torchrun)", "pretrain"),
        Command("adapt", "adapt a published model to a domain: extend its vocabulary, continue pretraining, measure "
                         "before and after", "adapt"),
    )),
    ("use a model", (
        Command("fill-mask", "predict the words behind [MASK] in texts", "fill_mask"),
        Command("score", "pseudo-log-likelihood and pseudo-perplexity of texts", "score"),
        Command("embed", "sentence embeddings of texts, saved as .npy", "embed"),
        Command("eval", "evaluate a model: perplexity on a corpus, JGLUE", "eval"),
    )),
    ("fine-tune", (
        Command("finetune", "fine-tune a pretrained model: classify, ner, pair, qa or choice", "finetune"),
        Command("predict", "run a fine-tuned model: labels, scores, entities, answers or choices", "predict"),
    )),
    ("hand it over", (
        Command("serve", "serve a model over HTTP: JSON API, web page at /, API docs at /docs", "serve"),
        Command("export", "write a model folder that plain transformers uses correctly (pipeline, AutoTokenizer)",
                "export"),
    )),
)
TABLE = tuple(command for _, commands in GROUPS for command in commands)
COMMANDS = {command.name: command for command in TABLE}


def _commands_help() -> str:
    """The commands, grouped in the order of the work (argparse lists sub-commands flat)."""
    width = max(len(command.name) for command in TABLE) + 2
    lines = ["commands:"]
    for title, commands in GROUPS:
        lines.append(f"  {title}:")
        lines.extend(f"    {command.name:{width}}{command.help}" for command in commands)
    lines.append("\n`jaroberta COMMAND --help` explains a command.")
    return "\n".join(lines)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser. With `argv`, only the command it names gets its full parser (the others
    are names without options, nothing imported); without, every command's (tests, docs)."""
    parser = argparse.ArgumentParser(
        prog="jaroberta",
        description="Build and use Japanese RoBERTa-style masked language models:\n"
        "corpus -> tokenizer -> pack -> pretrain -> fill-mask / score / embed / fine-tune / serve.",
        epilog=_commands_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jaroberta {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", help="one of the commands below")
    wanted = None if argv is None else _command_named(argv)
    for command in TABLE:
        if wanted is None or command.name == wanted:
            module = importlib.import_module(f"jaroberta.commands.{command.module}")
            module.register(subparsers, command.name, command.help)
        else:
            subparsers.add_parser(command.name)
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
    if not getattr(args, "run", None):  # no command, or a group without its action: that level's help
        getattr(args, "group_help", parser.print_help)()
        return 0 if args.command is None else 2
    silence_transformers()  # our own logs say which weights start random; its per-weight report is noise
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
