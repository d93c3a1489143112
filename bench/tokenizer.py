"""Tokenizer speed: ours against the Hugging Face / raw baselines, on one corpus, in one run.

1. MeCab + WordPiece: jaroberta's `encode_ids_batch` against `BertJapaneseTokenizer`
   loaded by `AutoTokenizer` from the *same* folder (same vocab, same dictionary), trained
   here on the corpus. The baseline gets text already full-width converted (its
   `normalize_text` is false, users convert by hand); ours gets the raw text and
   normalizes it itself, inside the timed region. Also timed: ours with `--workers`
   processes, and ours with offsets and word ids (`encode_batch`), which the slow
   baseline cannot give at all. With threads, a `ceiling:` line times MeCab's own parse
   alone, split evenly over the threads: the ratio no tokenizer built on this libmecab
   can beat on this many cores, whatever it does around the parse.
2. SentencePiece: jaroberta's `encode_ids_batch` against raw `sentencepiece` batch
   encoding with the same model (rinna's from ../shared when present, else one trained
   here). The baseline gets text already lower-cased (untimed); ours lower-cases itself.

Ids must be identical on ALL timed texts (the count is printed). Fair timing: the timed
texts are the corpus's own sentences, never repeated, and every timed repeat starts from
a freshly loaded tokenizer, so our word cache only helps within one pass, as in real use.
The ratio printed is ours / baseline throughput.

    .venv/bin/python bench/tokenizer.py [CORPUS] [--max-texts N] [--workers N] [--quick]

CORPUS is a corpus folder from `jaroberta corpus build` (its train split) or a text file
with one sentence per line; default: hironsancorpus's 500 news sentences.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_SP = REPO.parent / "shared" / "reference" / "rinna" / "google_sp.model"
TRAIN_SENTENCES = 200_000
"""At most this many sentences train the throwaway MeCab + WordPiece tokenizer."""


def default_sentences() -> tuple[list[str], str]:
    """hironsancorpus's news sentences (a small stand-in until the default corpus is built)."""
    try:
        import hironsan.corpus as hc
    except ImportError:
        sys.exit("no corpus: pass CORPUS or pip install hironsancorpus")
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


def read_sentences(corpus: Path | None, limit: int) -> tuple[list[str], str]:
    if corpus is None:
        return default_sentences()
    from itertools import islice

    from jaroberta.corpus.layout import training_sentences

    sentences = training_sentences((corpus,))
    return list(islice(sentences, limit) if limit else sentences), str(corpus)


def timed(setup, fn) -> tuple[float, object]:
    """Wall time of `fn(setup())`; `setup` is not timed.

    The garbage collector is paused while timing, as `timeit` does: with torch and
    transformers loaded, a full collection walks their objects and would be charged to
    whichever side happened to trigger it.
    """
    state = setup()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn(state)
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def race(runs: dict[str, tuple], repeats: int) -> dict[str, tuple[float, object]]:
    """Best time and result of each named (setup, fn), the runs interleaved round by round
    so that every side sees the same machine load (this machine is shared)."""
    best: dict[str, tuple[float, object]] = {}
    for _ in range(repeats):
        for name, (setup, fn) in runs.items():
            seconds, result = timed(setup, fn)
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, result)
    return best


def report(name: str, n: int, ours: float, theirs: float, identical: int | None) -> None:
    same = "" if identical is None else f", identical ids {identical}/{n}"
    print(f"{name}: ours {n / ours:,.0f} texts/s, baseline {n / theirs:,.0f} texts/s, ratio {theirs / ours:.2f}x{same}")


def bench_mecab(train_texts: list[str], texts: list[str], repeats: int, workers: int) -> None:
    from transformers import AutoTokenizer

    from jaroberta.api import train_tokenizer
    from jaroberta.text import TokenizerTrainConfig, load_tokenizer
    from jaroberta.text.wordpiece import MIN_TEXTS_PER_WORKER

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "train.txt"
        corpus.write_text("\n".join(train_texts[:TRAIN_SENTENCES]) + "\n", encoding="utf-8")
        folder = Path(tmp) / "tok"
        train_tokenizer(TokenizerTrainConfig("mecab-wordpiece", (corpus,), out=folder, vocab_size=8000))

        def fresh():  # a newly loaded tokenizer: empty word caches
            return load_tokenizer(folder)

        ours = fresh()
        hf = AutoTokenizer.from_pretrained(str(folder))
        normalized = [ours.normalization(t) for t in texts]  # the user's by-hand step, untimed
        runs = {
            "hf": (lambda: hf, lambda tok: tok(normalized, add_special_tokens=False)["input_ids"]),
            "ids": (fresh, lambda tok: tok.encode_ids_batch(texts)),
            "full": (fresh, lambda tok: tok.encode_batch(texts)),
        }
        parallel = workers > 1 and len(texts) >= MIN_TEXTS_PER_WORKER * workers
        if parallel:
            runs["parallel"] = (fresh, lambda tok: tok.encode_ids_batch(texts, workers=workers))
        ceiling = parallel and ours._splitter.native_parallel()
        if ceiling:  # MeCab's own parse, split evenly over the threads, no Python work around it
            halves = [normalized[i::workers] for i in range(workers)]
            runs["mecab"] = (lambda: ours._splitter, lambda splitter: _in_threads(splitter.wakati_batch, halves))
        best = race(runs, repeats)
        t_hf, hf_ids = best["hf"]
        kind = "threads, MeCab without the GIL" if ours._splitter.native_parallel() else "processes"

        def same(ids_list) -> int:
            return sum(a == b for a, b in zip(ids_list, hf_ids, strict=True))

        report("mecab-wordpiece ids vs BertJapaneseTokenizer (1 process each)", len(texts), best["ids"][0], t_hf,
               same(best["ids"][1]))
        if parallel:
            report(f"mecab-wordpiece ids, {workers} workers ({kind}) vs BertJapaneseTokenizer (1 process)", len(texts),
                   best["parallel"][0], t_hf, same(best["parallel"][1]))
        elif workers > 1:
            print(f"(not timing {workers} processes: {len(texts)} texts are encoded in-process below "
                  f"{MIN_TEXTS_PER_WORKER * workers})")
        if ceiling:
            print(f"ceiling: MeCab's own parse alone (already normalized text, wakati lines, no WordPiece) in {workers} "
                  f"threads: {len(texts) / best['mecab'][0]:,.0f} texts/s, {t_hf / best['mecab'][0]:.2f}x the baseline; "
                  f"no tokenizer calling this libmecab on {workers} cores can go faster")
        report("mecab-wordpiece with offsets + word ids vs BertJapaneseTokenizer ids (1 process each)", len(texts),
               best["full"][0], t_hf, same([e.ids for e in best["full"][1]]))


def _in_threads(fn, chunks: list) -> list:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(chunks)) as pool:
        return list(pool.map(fn, chunks))


def bench_sentencepiece(train_texts: list[str], texts: list[str], repeats: int) -> None:
    import sentencepiece as spm

    from jaroberta.api import train_tokenizer
    from jaroberta.text import TokenizerTrainConfig, load_tokenizer

    if SHARED_SP.exists():
        ours, label = load_tokenizer(SHARED_SP), "rinna google_sp.model"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "train.txt"
            corpus.write_text("\n".join(train_texts[:TRAIN_SENTENCES]) + "\n", encoding="utf-8")
            ours, label = train_tokenizer(TokenizerTrainConfig("sentencepiece", (corpus,), vocab_size=8000)), "trained"
    raw = spm.SentencePieceProcessor(model_proto=ours.model_proto)
    lowered = [ours.normalization(t) for t in texts]  # the user's by-hand step, untimed
    best = race({
        "raw": (lambda: raw, lambda sp: sp.encode(lowered, num_threads=1)),
        "ids": (lambda: ours, lambda tok: tok.encode_ids_batch(texts, workers=1)),
        "full": (lambda: ours, lambda tok: tok.encode_batch(texts, workers=1)),
    }, repeats)
    t_raw, raw_ids = best["raw"]
    report(f"sentencepiece ({label}) ids vs raw sentencepiece (1 thread each)", len(texts), best["ids"][0], t_raw,
           sum(a == b for a, b in zip(best["ids"][1], raw_ids, strict=True)))
    report(f"sentencepiece ({label}) with offsets + word ids vs raw ids (1 thread each)", len(texts), best["full"][0], t_raw,
           sum(e.ids == b for e, b in zip(best["full"][1], raw_ids, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, nargs="?", metavar="CORPUS",
                        help="corpus folder (train split) or text file, one sentence per line (default: hironsancorpus)")
    parser.add_argument("--max-texts", type=int, default=20_000,
                        help="time and compare on the first N sentences, 0 = all (default: 20000)")
    parser.add_argument("--workers", type=int, default=2, help="also time ours with this many processes (default: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timed runs (default: 3)")
    parser.add_argument("--quick", action="store_true", help="200 texts, one repeat: proves the bench runs")
    args = parser.parse_args()
    limit = 200 if args.quick else args.max_texts
    sentences, source = read_sentences(args.corpus, max(limit, TRAIN_SENTENCES) if limit else 0)
    texts = sentences[:limit] if limit else sentences
    repeats = 1 if args.quick else args.repeats
    print(f"corpus: {source}, {len(sentences)} sentences read; timing {len(texts)} texts "
          f"({sum(map(len, texts)) / max(1, len(texts)):.0f} chars on average), best of {repeats}, {os.cpu_count()} CPUs")
    bench_mecab(sentences, texts, repeats, args.workers)
    bench_sentencepiece(sentences, texts, repeats)


if __name__ == "__main__":
    main()
