"""Where a domain vocabulary pays: the arms of README's "Adapting a model to a domain", side by side.

Every arm is measured on the same domain dev split with `model/char_loss.py` (masked-LM bits
per character of the same whole words, 15%, fixed seed; ± its standard error over documents):

  (a)  the base as it is, with its own tokenizer;
  (a') the base grown to the extended vocabulary, not trained (what the vocabulary alone does
       at its initial rows: the mean of the base pieces' rows);
  (b)  `jaroberta adapt --no-extend`: continued pretraining with the base's vocabulary;
  (c)  `jaroberta adapt`: extended vocabulary, continued pretraining;
  (d)  the base's architecture trained from scratch on (c)'s shards for the same steps.

Bits per masked word divides the same summed bits by the masked words, the same for every
arm: pieces that reach past a masked word add characters to bits per character's divisor
(the "masked chars" column), never to this one. Also pieces per character and per word of the dev text, the most frequent new entries'
pieces before and after, and training throughput (rows and tokens per second, from each
run's log: wall clock, evaluations included; the machine may be shared).

    .venv/bin/python bench/adapt.py BASE --plain OUT_B --extended OUT_C --scratch RUN_D
    .venv/bin/python bench/adapt.py BASE --plain OUT_B --extended OUT_C --speed 60

`--speed N`: the throughput of the two continued-pretraining loops without the noise of a
shared machine: the pretraining task of each (BASE as it is on OUT_B's shards, BASE grown on
OUT_C's), N optimizer steps each, alternating one step of each, timed step by step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from jaroberta.model.char_loss import corpus_bits_per_character, words  # noqa: E402
from jaroberta.model.grow import grow_model  # noqa: E402
from jaroberta.model.loading import load  # noqa: E402
from jaroberta.corpus.layout import iter_sentences  # noqa: E402
from jaroberta.text import load_tokenizer  # noqa: E402
from jaroberta.train.distributed import Runtime  # noqa: E402
from jaroberta.train.pretrain import MaskedLMTask, PretrainConfig, plan_pretraining  # noqa: E402

import torch  # noqa: E402

RATE = 0.15


def _throughput(run_dir: Path) -> tuple[float, float, int] | None:
    """(rows/s, tokens/s, steps) from a run's log.jsonl and config.json."""
    log, config = run_dir / "log.jsonl", run_dir / "config.json"
    if not log.is_file():
        return None
    last = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if '"kind": "train"' in line][-1]
    rows = json.loads(config.read_text(encoding="utf-8"))["task"]["micro_batch"]
    return last["step"] * rows / last["elapsed"], last["tokens"] / last["elapsed"], last["step"]


def interleaved_speed(base: Path, plain: Path, extended: Path, steps: int, micro_batch: int) -> None:
    """Alternate one optimizer step of each loop; print rows/s and tokens/s of each from the medians."""
    tasks, optimizers, times, tokens = {}, {}, {}, {}
    for name, out in (("plain", plain), ("extended", extended)):
        task = MaskedLMTask(plan_pretraining(PretrainConfig(shards=out / "shards", init_from=base, micro_batch=micro_batch)))
        task.setup(Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu")))
        tasks[name], optimizers[name], times[name], tokens[name] = task, torch.optim.AdamW(task.model.parameters(), lr=3e-4), [], []
    for step in range(steps + 3):
        for name, task in tasks.items():
            started = time.perf_counter()
            batch = task.next_batch()
            for micro in batch.micro_batches:
                loss, _ = task.loss(task.model, micro)
                loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad()
            if step >= 3:  # the first steps pay for allocations
                times[name].append(time.perf_counter() - started)
                tokens[name].append(batch.tokens)
    for name in tasks:
        median = statistics.median(times[name])
        print(f"{name:9} vocab {tasks[name].tokenizer.vocab_size:6,}: median step {median * 1000:.0f} ms, "
              f"{micro_batch / median:.2f} rows/s, {statistics.median(tokens[name]) / median:.0f} tokens/s over {steps} steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path)
    parser.add_argument("--plain", type=Path, required=True, help="OUT of `jaroberta adapt --no-extend`")
    parser.add_argument("--extended", type=Path, required=True, help="OUT of `jaroberta adapt`")
    parser.add_argument("--scratch", type=Path, help="run folder of `jaroberta pretrain` from scratch")
    parser.add_argument("--speed", type=int, metavar="N", help="time N alternating steps of each loop instead")
    parser.add_argument("--micro-batch", type=int, default=16, help="rows per step with --speed (default: 16)")
    args = parser.parse_args()
    if args.speed:
        interleaved_speed(args.base, args.plain, args.extended, args.speed, args.micro_batch)
        return
    report = json.loads((args.extended / "report.json").read_text(encoding="utf-8"))
    corpus = Path(report["corpus"])
    dev = list(iter_sentences(corpus, "dev"))
    characters, n_words = sum(map(len, dev)), sum(len(words(s)) for s in dev)

    base = load(args.base)
    extended_tokenizer = load_tokenizer(args.extended / "model")
    grown = load(args.base)
    grow_model(grown.model, grown.tokenizer, extended_tokenizer, base_model=str(args.base))
    grown.tokenizer = extended_tokenizer
    arms = [("(a) base", base, None), ("(a') base grown, untrained", grown, None),
            ("(b) adapt --no-extend", load(args.plain / "model"), args.plain / "run"),
            ("(c) adapt", load(args.extended / "model"), args.extended / "run"),
            ("(d) from scratch", load(args.scratch / "model"), args.scratch)]
    print(f"dev: {len(dev):,} sentences, {characters:,} characters, {n_words:,} words of {corpus}")
    print(f"{'arm':28} {'vocab':>6} {'bits/char':>9} {'± s.e.':>7} {'masked chars':>12} {'bits/word':>9} "
          f"{'pieces/char':>11} {'pieces/word':>11} {'rows/s':>7} {'tokens/s':>8} {'steps':>5}")
    for name, lm, run in arms:
        result = corpus_bits_per_character(lm, corpus, split="dev", rate=RATE)
        pieces = sum(map(len, lm.tokenizer.encode_ids_batch(dev)))
        speed = _throughput(run) if run else None
        rate = f"{speed[0]:7.2f} {speed[1]:8.0f} {speed[2]:5d}" if speed else f"{'':7} {'':8} {'':5}"
        print(f"{name:28} {lm.tokenizer.vocab_size:6,} {result.bits_per_character:9.4f} {result.standard_error:7.4f} "
              f"{result.characters:12,} {result.bits / result.masked_words:9.3f} {pieces / characters:11.4f} {pieces / n_words:11.4f} {rate}")
    extension = report["extension"]
    print(f"\n{extension['added']:,} entries added (asked {extension['asked']:,}, available {extension['available']}, "
          f"each seen at least {extension['min_count']} times); the most frequent, pieces before -> after:")
    for word in extension["words"]:
        print(f"  {word['word']} (x{word['count']}): {' '.join(word['before'])} -> {' '.join(word['after'])}")


if __name__ == "__main__":
    main()
