"""JSQuAD's boundary ceiling: the share of gold answers whose both ends fall on piece boundaries.

An answer that starts or ends inside a piece cannot be predicted exactly, so this share
is the best exact match any extractive-QA model reaches with that tokenizer. Printed for:
1. rinna's SentencePiece (`../shared/reference/rinna`, or --tokenizer), as it is;
2. the same with `word_boundaries="mecab"` (each MeCab IPAdic word encoded on its own);
3. MeCab IPAdic words alone (pieces = words);
4. MeCab IPAdic + WordPiece: a tokenizer folder given with --wordpiece, else one trained
   here (vocab --vocab-size, JMedRoBERTa's recipe: full-width conversion, IPAdic) on the
   contexts of JSQuAD's train split (its test split where train is absent; never dev).
   A vocabulary trained on little text splits more, so this line is high-side.
Each line gives the share over every gold answer (dev questions have two or three), over
the first answer of each question (the one training uses), and the pieces of the split's
distinct contexts (what the option costs in sequence length).

    .venv/bin/python bench/qa_boundaries.py JGLUE [--splits valid,train] [--wordpiece FOLDER]

JGLUE is a checkout of yahoojapan/JGLUE (its root or datasets/ folder); nothing from it is written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from jaroberta.finetune import jglue, squad  # noqa: E402
from jaroberta.text import load_tokenizer  # noqa: E402
from jaroberta.text.base import Encoding  # noqa: E402
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter  # noqa: E402
from jaroberta.text.training import TokenizerTrainConfig, train_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RINNA = REPO.parent / "shared" / "reference" / "rinna"


class MecabWords:
    """MeCab IPAdic words as the pieces (offsets only): what the words alone allow."""

    def __init__(self):
        self.splitter = MecabWordSplitter(MecabConfig("ipadic"))

    def encode_batch(self, texts, workers=1):
        out = []
        for text in texts:
            words = self.splitter.split_with_offsets(text)
            out.append(Encoding(list(range(len(words))), [w for w, _, _ in words], [(s, e) for _, s, e in words]))
        return out


def first_answers(examples: list[squad.QAExample]) -> list[squad.QAExample]:
    return [squad.QAExample(e.id, e.question, e.context, e.located[:1]) for e in examples]


def measure(name: str, tokenizer, examples: list[squad.QAExample]) -> None:
    started = time.perf_counter()
    every = squad.boundary_ceiling(examples, tokenizer)
    first = squad.boundary_ceiling(first_answers(examples), tokenizer)
    contexts = list(dict.fromkeys(e.context for e in examples))
    pieces = sum(len(encoding.ids) for encoding in tokenizer.encode_batch(contexts))
    print(f"  {name:<42} {every.ceiling:7.2%} of {every.answers:>6,} answers   {first.ceiling:7.2%} of {first.answers:>6,} "
          f"first answers   {pieces:>8,} context pieces   ({time.perf_counter() - started:.0f} s)", flush=True)


def wordpiece_text(folder: Path, version: str) -> tuple[list[str], Path]:
    """Contexts to train the throwaway WordPiece on: JSQuAD's train split, else its test split (never dev)."""
    for split in ("train", "test"):
        path = jglue.split_file(folder, split, version)
        if path is not None:
            examples, _ = squad.read_squad(path)
            return list(dict.fromkeys(e.context for e in examples)), path
    sys.exit(f"{folder} has neither a train nor a test file to train a WordPiece vocabulary on: pass --wordpiece")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jglue", type=Path, help="JGLUE checkout (root or datasets/)")
    parser.add_argument("--splits", default="valid", help="comma-separated: valid, train, test")
    parser.add_argument("--tokenizer", type=Path, default=RINNA, help="SentencePiece tokenizer folder (default: rinna's)")
    parser.add_argument("--wordpiece", type=Path, help="MeCab + WordPiece tokenizer folder (default: train one on JSQuAD train)")
    parser.add_argument("--vocab-size", type=int, default=32000, help="vocabulary of the WordPiece trained here")
    args = parser.parse_args()
    newest = jglue.newest_version(jglue.datasets_folder(args.jglue), "jsquad")
    if newest is None:
        sys.exit(f"no jsquad-v<version> folder in {args.jglue}")
    version, folder = newest
    print(f"JSQuAD v{version} from {folder}")
    rinna = load_tokenizer(args.tokenizer)
    if args.wordpiece:
        wordpiece = load_tokenizer(args.wordpiece)
    else:
        contexts, source = wordpiece_text(folder, version)
        started = time.perf_counter()
        config = TokenizerTrainConfig(tokenizer_kind="mecab-wordpiece", inputs=(source,), vocab_size=args.vocab_size)
        wordpiece = train_tokenizer(config, contexts)  # the contexts, not the file's lines
        print(f"MeCab IPAdic + WordPiece trained on the {len(contexts):,} contexts of {source.name}: vocab {wordpiece.vocab_size:,} "
              f"({time.perf_counter() - started:.0f} s)")
    for split in args.splits.split(","):
        path = jglue.split_file(folder, split.strip(), version)
        if path is None:
            print(f"{split}: no {split}-v{version}.json in {folder}, skipped")
            continue
        examples, report = squad.read_squad(path)
        print(f"{path.name}: {report.summary()}")
        measure(f"SentencePiece {args.tokenizer.name}", rinna, examples)
        measure(f"SentencePiece {args.tokenizer.name} + word_boundaries=mecab", rinna.with_word_boundaries("mecab"), examples)
        measure("MeCab IPAdic words", MecabWords(), examples)
        measure(f"MeCab IPAdic + WordPiece ({wordpiece.vocab_size:,})", wordpiece, examples)


if __name__ == "__main__":
    main()
