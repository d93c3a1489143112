"""Fine-tuning speed: jaroberta's fine-tuning run vs a Hugging Face `Trainer`, same model and rows.

Both sides start from identical weights (jaroberta's `build_model`: the pretrained encoder under
`AutoModelForSequenceClassification`, one seed, copied for the baseline), train on the same
encoded rows (jaroberta's framing of the pairs of a JGLUE JNLI-format file, the first
`--examples` of it), with the same batch, optimizer (AdamW 0.9/0.98/1e-6, weight decay 0.01,
clip 1.0), linear warmup 0.1 and learning rate, fp32 on the CPU with the same threads. The
baseline is what a user writes from the transformers docs: rows as input_ids and labels, a
padding collator (pad to the batch's longest row; position ids from 0 added for rinna-style
models, as the model was trained), `Trainer.train()`. Throughput is examples per second
between the start of step `--warmup` and the start of the last step (the clock starts after
the untimed steps on both sides, and stops before the final save and evaluation).

    .venv/bin/python bench/finetune.py --model MODEL --data JGLUE/datasets/jnli-v1.3/valid-v1.3.json \
        --examples 1024 --batch 32 --steps 60 --warmup 5 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch

from jaroberta.finetune.run import FinetuneConfig, finetune_loop, prepare
from jaroberta.finetune.task import FinetuneTask
from jaroberta.train.loop import train


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        lines = [line for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()][: args.examples]
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
        rounds = []
        for round_ in range(args.rounds):
            ours = _ours(args, data, Path(tmp) / f"ours-{round_}")
            theirs = _trainer(args, data, Path(tmp) / f"hf-{round_}")
            rounds.append((ours, theirs))
            print(f"round {round_ + 1}: jaroberta {ours:.1f} examples/s, Trainer {theirs:.1f} examples/s, x{ours / theirs:.2f}", flush=True)
    best_ours, best_theirs = max(o for o, _ in rounds), max(t for _, t in rounds)
    report = {"model": str(args.model), "data": str(args.data), "examples": len(lines), "batch": args.batch, "steps": args.steps,
              "warmup": args.warmup, "threads": torch.get_num_threads(), "ours_examples_per_s": best_ours,
              "trainer_examples_per_s": best_theirs, "speedup": best_ours / best_theirs,
              "round_speedups": [o / t for o, t in rounds]}
    print(f"jaroberta {best_ours:.1f} examples/s, Trainer {best_theirs:.1f} examples/s (best of {args.rounds}), x{best_ours / best_theirs:.2f}")
    print(json.dumps(report, indent=1))


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="pretrained model folder")
    p.add_argument("--data", type=Path, required=True, help="a JNLI-format JSON-lines file (sentence1, sentence2, label)")
    p.add_argument("--examples", type=int, default=512, help="rows: the first N examples of --data (default: 512)")
    p.add_argument("--batch", type=int, default=32, help="examples per step, both sides (default: 32)")
    p.add_argument("--steps", type=int, default=20, help="steps per run, the warmup included (default: 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: 3)")
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default: 5e-5)")
    p.add_argument("--max-length", type=int, default=128, help="longest framed row (default: 128, JGLUE's JNLI)")
    p.add_argument("--rounds", type=int, default=2, help="alternate the two sides this many times; best of each (default: 2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads, both sides (default: 2)")
    return p.parse_args()


def _config(args, data: Path, out: Path) -> FinetuneConfig:
    return FinetuneConfig(task="pair", model=args.model, out=out, train=data, dev=data, objective="classification",
                          steps=args.steps, batch_size=args.batch, warmup_ratio=0.1, eval_every=10**9, patience=0,
                          max_length=args.max_length, loop=finetune_loop(lr=args.lr, seed=42, progress=False, device="cpu",
                                                                         precision="fp32"))


class _Clock:
    """Start times of the steps."""

    def __init__(self):
        self.starts: list[float] = []

    def examples_per_s(self, warmup: int, batch: int) -> float:
        timed = self.starts[warmup:]
        return (len(timed) - 1) * batch / (timed[-1] - timed[0])


def _ours(args, data: Path, out: Path) -> float:
    run = prepare(_config(args, data, out))
    run.task.dev_rows = run.task.dev_rows[: args.batch]  # the final evaluation is after the clock stops; keep it short
    run.task.dev_examples = run.task.dev_examples[: args.batch]
    clock = _Clock()
    next_batch = FinetuneTask.next_batch

    def timed(self):
        clock.starts.append(time.perf_counter())
        return next_batch(self)

    run.task.next_batch = timed.__get__(run.task)
    train(run.task, run.loop)
    return clock.examples_per_s(args.warmup, args.batch)


def _trainer(args, data: Path, out: Path) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    run = prepare(_config(args, data, out / "prepared"))  # the same seed: the same initial weights and rows
    model = copy.deepcopy(run.task.model)
    rows = [{"input_ids": row.ids, "labels": row.target} for row in run.task.train_rows]
    pad = run.task.lm.pad_id
    positions = run.task.lm.conventions.position_ids(8) is not None
    clock = _Clock()

    class Tick(TrainerCallback):
        def on_step_begin(self, *_, **__):
            clock.starts.append(time.perf_counter())

    def collate(batch: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[i, : len(r["input_ids"])] = 1
        out = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([r["labels"] for r in batch])}
        if positions:  # rinna-style: positions from 0, as the model was trained
            out["position_ids"] = torch.arange(width).expand(len(batch), width)
        return out

    training_args = TrainingArguments(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch, learning_rate=args.lr,
        adam_beta1=0.9, adam_beta2=0.98, adam_epsilon=1e-6, weight_decay=0.01, max_grad_norm=1.0, warmup_steps=round(args.steps * 0.1),
        lr_scheduler_type="linear", logging_strategy="no", save_strategy="no", eval_strategy="no", report_to=[],
        dataloader_num_workers=0, use_cpu=True, seed=42, disable_tqdm=True, remove_unused_columns=False,
    )
    Trainer(model=model, args=training_args, train_dataset=rows, data_collator=collate, callbacks=[Tick()]).train()
    return clock.examples_per_s(args.warmup, args.batch)


if __name__ == "__main__":
    main()
