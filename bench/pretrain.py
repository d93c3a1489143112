"""Pretraining speed: jaroberta's loop vs a Hugging Face Trainer + DataCollatorForLanguageModeling.

Same model (one preset, one seed: both start from identical weights), same shard rows,
same batch, same optimizer hyperparameters and schedule (the rinna recipe: AdamW
0.9/0.98/1e-6, weight decay 0.01, clip 1.0, linear warmup then decay), same masking
(15%, every chosen token -> [MASK]: the collator's mask_replace_prob=1.0), same threads.
The baseline is what a user writes from the transformers docs: rows as input_ids, the
collator pads and masks, the Trainer runs the full (B, T, V) head and averages the loss.
One addition: position ids from 0, rinna's protocol (transformers would start them at
padding_idx + 1 = 4 and index past the seq_len + 2 table), so both train the same model.

Three measurements:
1. tokens/s over `--steps` optimizer steps (after `--warmup` untimed steps), per preset
   (`--presets tiny rinna-base`); targets: >= 3x at tiny, >= 1.3x at base size;
2. time to target (`--minutes N`, the issue's N = 30): the baseline trains N minutes
   (evaluation time excluded); its last dev loss is the target; ours trains the same
   schedule and we report the training time at which its dev loss first reaches the
   target (target: N/3 or less). Both dev losses come from one evaluator: fixed-seed
   15% [MASK] on the first `--eval-rows` dev rows, full forward pass, positions from 0;
3. `--document` (issue 15): on `document`-layout shards (rinna: one document per row,
   padded to seq_len), tokens of real text per second (padding not counted) for today's
   loop (random batches, each micro-batch trimmed to its longest row), ours with
   `--group-by-length` and the Trainer (whose collator pads to the longest row); and with
   `--curve-steps N` the dev loss against real tokens seen, plain vs grouped, on one schedule.

    .venv/bin/jaroberta tokenizer train demo/corpus bench/out/tok2k --family rinna --vocab-size 2000
    .venv/bin/jaroberta pack demo/corpus bench/out/tok2k bench/out/shards-doc --max-length 512 --layout document
    .venv/bin/python bench/pretrain.py --shards bench/out/shards-doc --document --presets tiny mini --batch 16 \
        --steps 20 --warmup 2 --rounds 3 --curve-steps 600 --eval-every 50 --threads 1

Shards otherwise: `full` layout (every row exactly seq_len, so tokens per step are equal on both
sides), e.g. from `make demo` (demo/shards, vocab 8000) or `jaroberta pack ... --layout full`.
The head's share of the work grows with the vocabulary: for base size, measure with rinna's
real 32000-piece SentencePiece model (`pip install 'jaroberta[bench]'` for the Trainer):

    .venv/bin/python -c "from jaroberta.text import SentencePieceTokenizer as T; \
        T.from_file('../shared/reference/rinna/google_sp.model').save('bench/out/rinna-tok')"
    .venv/bin/jaroberta pack demo/corpus bench/out/rinna-tok bench/out/shards-rinna --max-length 128 --layout full
    .venv/bin/python bench/pretrain.py --shards bench/out/shards-rinna --presets tiny rinna-base --batch 16 \
        --steps 10 --minutes 30 --eval-every 50
    .venv/bin/python bench/pretrain.py --shards demo/shards --presets tiny --steps 20 --minutes 2 --threads 1  # quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from jaroberta.corpus.shards import ShardHeader, open_split
from jaroberta.train.data import ShuffledRows
from jaroberta.train.logs import read_log
from jaroberta.model.masking import IGNORE_INDEX, MaskingConfig, mask_batch
from jaroberta.train.pretrain import MaskedLMTask, PretrainConfig, plan_pretraining
from jaroberta.model.families import RECIPES
from jaroberta.train.sampler import LengthGroupedRows

RECIPE = RECIPES["rinna"]
EVAL_SEED = 1234


def main() -> None:
    args = _parse()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    header = ShardHeader.load(args.shards)
    if args.document:
        return _document(args, header)
    if header.layout != "full":
        raise SystemExit(f"{args.shards}: use shards packed with --layout full (equal tokens per row on both sides)")
    report = {"shards": str(args.shards), "seq_len": header.seq_len, "micro_batch": args.batch, "threads": torch.get_num_threads(),
              "throughput": {}, "time_to_target": None}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            # Rounds alternate the two sides, so a machine whose speed drifts over minutes
            # slows both alike; each side's best round is reported, and every round's ratio.
            ours_rounds, theirs_rounds = [], []
            for round_ in range(args.rounds):
                ours = _ours(args, preset, Path(tmp) / f"ours-{preset}-{round_}", steps=args.warmup + args.steps, eval_every=0)
                theirs = _baseline(args, preset, Path(tmp) / f"hf-{preset}-{round_}", steps=args.warmup + args.steps, minutes=None)
                ours_rounds.append(ours["tokens_per_s"])
                theirs_rounds.append(theirs["tokens_per_s"])
            best_ours, best_theirs = max(ours_rounds), max(theirs_rounds)
            report["throughput"][preset] = {"ours_tokens_per_s": best_ours, "hf_tokens_per_s": best_theirs,
                                            "speedup": best_ours / best_theirs,
                                            "round_speedups": [o / t for o, t in zip(ours_rounds, theirs_rounds)]}
            print(f"{preset}: ours {best_ours:,.0f} tokens/s, HF Trainer {best_theirs:,.0f} tokens/s (best of {args.rounds}), "
                  f"x{best_ours / best_theirs:.2f}; rounds "
                  + " ".join(f"x{o / t:.2f}" for o, t in zip(ours_rounds, theirs_rounds)), flush=True)
        if args.minutes:
            report["time_to_target"] = _time_to_target(args, Path(tmp))
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=Path, default=Path("demo/shards"), help="shard folder, --layout full (default: demo/shards)")
    p.add_argument("--presets", nargs="*", default=["tiny", "rinna-base"],
                   help="presets to measure tokens/s for (none with --document: only the padding figures)")
    p.add_argument("--batch", type=int, default=16, help="rows per step, both sides (default: 16)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per preset (default: 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: 2)")
    p.add_argument("--rounds", type=int, default=1,
                   help="throughput: alternate ours and the baseline this many times, report each side's best (default: 1)")
    p.add_argument("--minutes", type=float, default=30.0, help="baseline training time for time-to-target, 0 = skip (default: 30)")
    p.add_argument("--target-preset", default="tiny", help="preset for time-to-target (default: tiny)")
    p.add_argument("--schedule-steps", type=int, default=20000,
                   help="steps of the shared linear schedule in time-to-target (default: 20000)")
    p.add_argument("--eval-every", type=int, default=50, help="dev evaluation every N steps in time-to-target (default: 50)")
    p.add_argument("--eval-rows", type=int, default=64, help="dev rows evaluated (default: 64)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads, both sides (default: torch's, one per core); 1 resists a busy machine's noise")
    p.add_argument("--side-by-side", action="store_true",
                   help="time to target: run the baseline and ours at the same time in two processes (use with "
                        "--threads 1), so both see the same machine; ours then also trains --minutes")
    p.add_argument("--json", help="also write the report to this file")
    p.add_argument("--document", action="store_true",
                   help="document-layout shards: real tokens/s of today's loop, --group-by-length and the Trainer")
    p.add_argument("--curve-steps", type=int, default=0,
                   help="with --document: dev loss per real token over this many steps, plain vs grouped (0 = skip)")
    return p.parse_args()


# -- document layout: pay only for real tokens (issue 15) ---------------------------------
def _document(args, header) -> None:
    """Real tokens/s of today's loop, --group-by-length and the Trainer; then dev loss per real token."""
    if header.layout != "document":
        raise SystemExit(f"{args.shards}: --document wants shards packed with --layout document")
    stats = header.splits["train"]
    report = {"shards": str(args.shards), "seq_len": header.seq_len, "micro_batch": args.batch,
              "threads": torch.get_num_threads(), "train_tokens": stats.tokens, "padding_share": stats.padding_share,
              "throughput": {}, "curve": None}
    print(f"{args.shards}: {stats.rows} rows, {stats.tokens:,} real tokens, {stats.padding_share:.0%} padding", flush=True)
    report["computed_real_share"] = _computed_real_share(args, header)
    print("positions computed that are real text, one epoch of micro-batches of "
          f"{args.batch}: today {report['computed_real_share']['today']:.1%}, "
          f"grouped {report['computed_real_share']['grouped']:.1%}", flush=True)
    if not args.presets:
        return
    sides = {"today": lambda p, out, n: _ours(args, p, out, n, eval_every=0),
             "grouped": lambda p, out, n: _ours(args, p, out, n, eval_every=0, group_by_length=True),
             "hf": lambda p, out, n: _baseline(args, p, out, steps=n, minutes=None)}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            rounds = {name: [] for name in sides}
            for round_ in range(args.rounds):  # alternating sides: a drifting machine slows all alike
                for name, side in sides.items():
                    rounds[name].append(side(preset, Path(tmp) / f"{name}-{preset}-{round_}", args.warmup + args.steps)["tokens_per_s"])
            best = {name: max(values) for name, values in rounds.items()}
            report["throughput"][preset] = {"real_tokens_per_s": best, "rounds": rounds,
                                            "grouped_vs_today": best["grouped"] / best["today"],
                                            "grouped_vs_hf": best["grouped"] / best["hf"]}
            print(f"{preset}: real tokens/s (best of {args.rounds}): today {best['today']:,.0f}, grouped {best['grouped']:,.0f}, "
                  f"HF Trainer {best['hf']:,.0f}; grouped x{best['grouped'] / best['today']:.2f} today's, "
                  f"x{best['grouped'] / best['hf']:.2f} the Trainer's", flush=True)
        if args.curve_steps:
            report["curve"] = _curves(args, Path(tmp))
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _computed_real_share(args, header) -> dict:
    """Real tokens / positions computed when each micro-batch is trimmed to its longest row."""
    rows = open_split(args.shards, "train", header)
    lengths = np.asarray(rows.lengths, dtype=np.int64)
    shares = {}
    for name, kind in (("today", ShuffledRows), ("grouped", LengthGroupedRows)):
        stream = kind(rows, args.batch, RECIPE.seed)
        real = computed = 0
        for _ in range(len(lengths) // args.batch):
            batch = lengths[stream.next_indices()]
            real, computed = real + int(batch.sum()), computed + int(batch.max()) * len(batch)
        shares[name] = real / computed
    return shares


def _curves(args, tmp: Path) -> dict:
    """Dev loss against real tokens seen, today's order vs grouped, same schedule and evaluator."""
    preset = args.target_preset
    curves = {}
    for name, grouped in (("today", False), ("grouped", True)):
        result = _ours(args, preset, tmp / f"curve-{name}", steps=args.curve_steps, eval_every=args.eval_every,
                       group_by_length=grouped)
        curves[name] = {"curve": result["curve"], "seconds": [seconds for seconds, _ in result["evals"]]}
    print(f"dev loss per real token ({preset}, {args.curve_steps} steps, evaluation every {args.eval_every}):", flush=True)
    print("  step   today: tokens    loss  seconds | grouped: tokens    loss  seconds", flush=True)
    for i, ((t0, l0), (t1, l1)) in enumerate(zip(curves["today"]["curve"], curves["grouped"]["curve"])):
        s0, s1 = curves["today"]["seconds"][i], curves["grouped"]["seconds"][i]
        print(f"  {(i + 1) * args.eval_every:5d}  {t0:13,d}  {l0:.4f}  {s0:7.1f} | {t1:15,d}  {l1:.4f}  {s1:7.1f}", flush=True)
    return {"preset": preset, "steps": args.curve_steps, "eval_every": args.eval_every, **curves}


# -- ours: the real loop, its own log ------------------------------------------------------
class _CommonEval(MaskedLMTask):
    """Our task, evaluated with the bench's evaluator (so both sides are measured alike)."""

    eval_rows = 64

    def evaluate(self, model):
        return {"dev_loss": dev_loss(self.hf_model, self.config.shards, self.eval_rows)}


def _ours(args, preset: str, out: Path, steps: int, eval_every: int, schedule_steps: int | None = None,
          minutes: float | None = None, group_by_length: bool = False) -> dict:
    config = PretrainConfig(shards=args.shards, out=out, steps=schedule_steps or steps, preset=preset, recipe="rinna",
                            micro_batch=args.batch, group_by_length=group_by_length, progress=False, log_every=1,
                            eval_every=eval_every)
    plan = plan_pretraining(config)
    task = _CommonEval(plan)
    task.eval_rows = args.eval_rows
    _train_steps(task, plan.loop, steps, minutes)
    records = read_log(out)
    by_step = {r["step"]: r for r in records if r["kind"] == "train"}
    first, last = by_step.get(args.warmup, {"tokens": 0, "elapsed": 0.0}), by_step[max(by_step)]
    # `elapsed` is the loop's training time: data, masking, forward, backward, optimizer
    tokens_per_s = (last["tokens"] - first["tokens"]) / max(last["elapsed"] - first["elapsed"], 1e-9)
    evals = [(r["elapsed"], r["dev_loss"]) for r in records if r["kind"] == "eval"]
    tokens_at = {r["step"]: r["tokens"] for r in records if r["kind"] == "train"}
    curve = [(tokens_at.get(r["step"], 0), r["dev_loss"]) for r in records if r["kind"] == "eval"]
    return {"tokens_per_s": tokens_per_s, "evals": evals, "curve": curve}


def _train_steps(task, loop, steps: int, minutes: float | None = None) -> None:
    """Run the loop for `steps` of a schedule of `loop.steps`, or `minutes` of wall-clock time
    (evaluations included, which only shortens our training), whichever ends first."""
    from jaroberta.train.loop import train

    original = task.next_batch
    calls = {"n": 0}
    deadline = time.perf_counter() + minutes * 60 if minutes else float("inf")

    class _Enough(Exception):
        pass

    def limited():
        calls["n"] += 1
        if calls["n"] > steps or time.perf_counter() >= deadline:
            raise _Enough
        return original()

    task.next_batch = limited
    try:
        train(task, loop)
    except _Enough:
        pass


# -- the baseline: Trainer + DataCollatorForLanguageModeling ---------------------------------
def _baseline(args, preset: str, out: Path, steps: int, minutes: float | None, schedule_steps: int | None = None) -> dict:
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from jaroberta.model.presets import build_model, model_config

    header = ShardHeader.load(args.shards)
    tokenizer = AutoTokenizer.from_pretrained(args.shards / "tokenizer")
    torch.manual_seed(RECIPE.seed)  # the same initial weights as ours (MaskedLMTask seeds the same way)
    model = build_model(model_config(preset, header.vocab_size, header.special_ids, header.seq_len))
    rows = open_split(args.shards, "train", header)
    dataset = _Rows(rows)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, mask_replace_prob=1.0, random_replace_prob=0.0)
    total = schedule_steps or steps
    training_args = TrainingArguments(
        output_dir=str(out), max_steps=total, per_device_train_batch_size=args.batch, learning_rate=RECIPE.lr,
        adam_beta1=RECIPE.betas[0], adam_beta2=RECIPE.betas[1], adam_epsilon=RECIPE.eps, weight_decay=RECIPE.weight_decay,
        max_grad_norm=RECIPE.clip, warmup_steps=RECIPE.warmup_steps(total), lr_scheduler_type="linear",
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to=[], dataloader_num_workers=0,
        use_cpu=True, seed=RECIPE.seed, disable_tqdm=True,
    )
    clock = _clock_class()(args, steps, minutes, header)
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset,
                      data_collator=_with_positions(collator, clock.batch_tokens), callbacks=[clock])
    trainer.train()
    return {"tokens_per_s": clock.tokens_per_s, "evals": clock.evals}


def _with_positions(collator, batch_tokens: list[int]):
    def collate(rows: list[dict]) -> dict:
        batch_tokens.append(sum(len(row["input_ids"]) for row in rows))  # real tokens, padding not counted
        batch = collator(rows)
        batch["position_ids"] = torch.arange(batch["input_ids"].shape[1]).expand_as(batch["input_ids"])
        return batch

    return collate


class _Rows(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.rows.ids[i, : self.rows.lengths[i]].astype(np.int64).tolist()}


def _clock_class():
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        """Training time between step ends (data and collator included, evaluation excluded);
        evaluates every N steps with the bench's evaluator; stops at a step or time limit."""

        def __init__(self, args, steps, minutes, header):
            self.args, self.steps, self.minutes, self.header = args, steps, minutes, header
            self.last = None
            self.train_seconds = 0.0
            self.timed_from = (0.0, 0)
            self.evals = []
            self.tokens_per_s = 0.0
            self.batch_tokens: list[int] = []
            """Real tokens of each batch the collator made, in order (the loader may run one ahead)."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.last = time.perf_counter()

        def on_step_end(self, args, state, control, model=None, **kwargs):
            now = time.perf_counter()
            self.train_seconds += now - self.last
            if state.global_step == self.args.warmup:
                self.timed_from = (self.train_seconds, state.global_step)
            if self.minutes and state.global_step % self.args.eval_every == 0:
                loss = dev_loss(model, self.args.shards, self.args.eval_rows)
                self.evals.append((self.train_seconds, loss))
                model.train()
            if state.global_step >= self.steps or (self.minutes and self.train_seconds >= self.minutes * 60):
                seconds0, step0 = self.timed_from
                tokens = sum(self.batch_tokens[step0 : state.global_step])
                self.tokens_per_s = tokens / max(self.train_seconds - seconds0, 1e-9)
                control.should_training_stop = True
            self.last = time.perf_counter()
            return control

    return Clock


# -- one evaluator for both --------------------------------------------------------------------------
def dev_loss(model, shards: Path, n_rows: int) -> float:
    """Masked-token cross-entropy on the first dev rows, with fixed-seed 15% [MASK] masks."""
    header = ShardHeader.load(shards)
    rows = open_split(shards, "dev", header)
    n = min(n_rows, len(rows))
    ids = torch.from_numpy(rows.ids[:n].astype(np.int64))
    lengths = torch.from_numpy(rows.lengths[:n].astype(np.int64))
    special = torch.from_numpy(rows.words[:n] == np.iinfo(np.uint16).max)
    masked, labels = mask_batch(ids, special, MaskingConfig(mask_fraction=1.0, random_fraction=0.0), header.special_ids["mask"],
                                header.vocab_size, torch.Generator().manual_seed(EVAL_SEED))
    attention = (torch.arange(ids.shape[1]) < lengths[:, None]).long()
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=masked, attention_mask=attention, position_ids=positions).logits
    chosen = labels != IGNORE_INDEX
    return float(torch.nn.functional.cross_entropy(logits[chosen].float(), labels[chosen]))


# -- time to target ------------------------------------------------------------------------------------
def _time_to_target(args, tmp: Path) -> dict:
    preset = args.target_preset
    print(f"time to target: baseline trains {args.minutes} minutes ({preset}, schedule of {args.schedule_steps} steps)", flush=True)
    if args.side_by_side:
        theirs, ours = _side_by_side(args, preset, tmp)
    else:
        theirs = _baseline(args, preset, tmp / "hf-target", steps=10**9, minutes=args.minutes, schedule_steps=args.schedule_steps)
    if not theirs["evals"]:
        raise SystemExit("the baseline never reached an evaluation: lower --eval-every or raise --minutes")
    target = theirs["evals"][-1][1]
    baseline_seconds = theirs["evals"][-1][0]
    steps_done = len(theirs["evals"]) * args.eval_every
    print(f"  baseline: dev loss {target:.4f} after {baseline_seconds / 60:.2f} min ({steps_done} steps)", flush=True)
    if not args.side_by_side:
        ours = _ours(args, preset, tmp / "ours-target", steps=steps_done, eval_every=args.eval_every,
                     schedule_steps=args.schedule_steps)
    reached = next(((seconds, loss) for seconds, loss in ours["evals"] if loss <= target), None)
    result = {"preset": preset, "minutes": args.minutes, "target_dev_loss": target, "baseline_seconds": baseline_seconds,
              "baseline_evals": theirs["evals"], "ours_evals": ours["evals"],
              "ours_seconds_to_target": reached[0] if reached else None,
              "ratio": (baseline_seconds / reached[0]) if reached else None}
    if reached:
        print(f"  ours: dev loss {reached[1]:.4f} <= target after {reached[0] / 60:.2f} min: {result['ratio']:.2f}x sooner", flush=True)
    else:
        print("  ours: did not reach the target within the baseline's steps", flush=True)
    return result


def _side_by_side(args, preset: str, tmp: Path) -> tuple[dict, dict]:
    """Baseline and ours at once, one process each: whatever else loads the machine loads both."""
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        theirs = pool.submit(_side, "baseline", args, preset, tmp)
        ours = pool.submit(_side, "ours", args, preset, tmp)
        return theirs.result(), ours.result()


def _side(kind: str, args, preset: str, tmp: Path) -> dict:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if kind == "baseline":
        return _baseline(args, preset, tmp / "hf-target", steps=10**9, minutes=args.minutes, schedule_steps=args.schedule_steps)
    return _ours(args, preset, tmp / "ours-target", steps=10**9, eval_every=args.eval_every,
                 schedule_steps=args.schedule_steps, minutes=args.minutes)


if __name__ == "__main__":
    main()
