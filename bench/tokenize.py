"""Tokenizer speed: ours against the Hugging Face / raw baselines, in one run.

1. MeCab + WordPiece: jaroberta's `encode_ids_batch` against `BertJapaneseTokenizer`
   loaded by `AutoTokenizer` from the *same* folder (same vocab, same dictionary).
   The baseline gets text already full-width converted (its `normalize_text` is false);
   ours gets the raw text and normalizes it itself, inside the timed region.
2. SentencePiece: jaroberta's `encode_ids_batch` against raw `sentencepiece` batch
   encoding with the same model (rinna's from ../shared when present, else a trained
   one). The baseline gets text already lower-cased (untimed); ours lower-cases itself.
Ids must be identical on ALL texts; the ratio (ours / baseline texts per second) is printed.

    .venv/bin/python bench/tokenize.py [--quick] [--corpus DIR_OR_FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# This file shares its name with the standard library's `tokenize` (used by tracebacks,
# inspect, transformers): keep bench/ off the import path so `import tokenize` finds the real one.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_SP = REPO.parent / "shared" / "reference" / "rinna" / "google_sp.model"


def default_sentences() -> tuple[list[str], str]:
    """The default corpus when jaroberta.corpus can give it, else hironsancorpus's news sentences."""
    try:
        import hironsan.corpus as hc
    except ImportError:
        sys.exit("no corpus: pass --corpus or pip install hironsancorpus")
    path = Path(hc.__file__).parent / "iob_sents.txt"
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if words:
                sentences.append("".join(words))
            words = []
            continue
        words.append(line.split("\t")[0])
    return sentences, f"hironsancorpus ({path.name})"


def read_sentences(corpus: Path | None) -> tuple[list[str], str]:
    if corpus is None:
        return default_sentences()
    from jaroberta.text.training import iter_sentences

    return list(iter_sentences((corpus,))), str(corpus)


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def report(name: str, n: int, ours: float, theirs: float, identical: int) -> None:
    print(f"{name}: ours {n / ours:,.0f} texts/s, baseline {n / theirs:,.0f} texts/s, "
          f"ratio {theirs / ours:.2f}x, identical ids {identical}/{n}")


def bench_mecab(train_texts: list[str], texts: list[str], repeats: int, workers: int) -> None:
    from transformers import AutoTokenizer

    from jaroberta.text import TokenizerTrainConfig, load_tokenizer, train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "train.txt"
        corpus.write_text("\n".join(train_texts) + "\n", encoding="utf-8")
        folder = Path(tmp) / "tok"
        train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=folder, vocab_size=8000))
        ours = load_tokenizer(folder)
        hf = AutoTokenizer.from_pretrained(str(folder))
        normalized = [ours.normalization(t) for t in texts]  # the user's by-hand step, untimed
        t_hf, hf_ids = best_time(lambda: hf(normalized, add_special_tokens=False)["input_ids"], repeats)
        t_ours, our_ids = best_time(lambda: ours.encode_ids_batch(texts), repeats)
        identical = sum(a == b for a, b in zip(our_ids, hf_ids))
        report("mecab-wordpiece vs BertJapaneseTokenizer (1 process each)", len(texts), t_ours, t_hf, identical)
        if workers > 1:
            t_par, par_ids = best_time(lambda: ours.encode_ids_batch(texts, workers=workers), repeats)
            report(f"mecab-wordpiece workers={workers} vs BertJapaneseTokenizer (1 process)", len(texts), t_par, t_hf,
                   sum(a == b for a, b in zip(par_ids, hf_ids)))


def bench_sentencepiece(train_texts: list[str], texts: list[str], repeats: int) -> None:
    import sentencepiece as spm

    from jaroberta.text import TokenizerTrainConfig, load_tokenizer, train_tokenizer

    if SHARED_SP.exists():
        ours, label = load_tokenizer(SHARED_SP), "rinna google_sp.model"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "train.txt"
            corpus.write_text("\n".join(train_texts) + "\n", encoding="utf-8")
            ours, label = train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=8000)), "trained"
    raw = spm.SentencePieceProcessor(model_proto=ours.model_proto)
    lowered = [ours.normalization(t) for t in texts]  # the user's by-hand step, untimed
    t_raw, raw_ids = best_time(lambda: raw.encode(lowered, num_threads=1), repeats)
    t_ours, our_ids = best_time(lambda: ours.encode_ids_batch(texts, workers=1), repeats)
    identical = sum(a == b for a, b in zip(our_ids, raw_ids))
    report(f"sentencepiece ({label}) vs raw sentencepiece (1 thread each)", len(texts), t_ours, t_raw, identical)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sample, one repeat")
    parser.add_argument("--corpus", type=Path, help="corpus folder or text file (default: hironsancorpus sentences)")
    parser.add_argument("--workers", type=int, default=2, help="also time ours with this many processes (default: 2)")
    args = parser.parse_args()
    sentences, source = read_sentences(args.corpus)
    texts = sentences[:200] if args.quick else sentences * max(1, 20_000 // max(1, len(sentences)))
    repeats = 1 if args.quick else 3
    print(f"corpus: {source}, {len(sentences)} sentences; timing {len(texts)} texts, best of {repeats}")
    bench_mecab(sentences, texts, repeats, args.workers)
    bench_sentencepiece(sentences, texts, repeats)


if __name__ == "__main__":
    main()
