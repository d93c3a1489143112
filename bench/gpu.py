"""One GPU, base size: our loop against the Hugging Face Trainer, with model FLOPs utilisation.

    .venv/bin/python bench/gpu.py                     # rinna-base, seq 512, bf16, 300 steps (a few minutes)
    .venv/bin/python bench/gpu.py --compile           # the same with torch.compile on both sides
    .venv/bin/python bench/gpu.py --dry-run-cpu       # every path on CPU: tiny preset, a few steps (tests)

Both sides train the same freshly initialized `rinna-base` model (RobertaForMaskedLM, 12 x 768,
vocabulary 32,000: rinna's special ids) on the same synthetic rows of seq_len tokens ([CLS]
then Zipf-distributed ids: no corpus or tokenizer download on the GPU machine; the loss falls
from log(32000) towards the unigram entropy), with the rinna recipe (AdamW 0.9/0.98/1e-6,
weight decay 0.01, clip 1.0, linear warmup and decay), 15% masking with every chosen token
-> [MASK], bf16 autocast, SDPA attention and fused AdamW:
- ours: `jaroberta.train.loop.train` with the MLM objective (`train/objective.py`: head and
  last layer at the masked positions only) and masking (`model/masking.py`);
- theirs: `Trainer` + `DataCollatorForLanguageModeling` (mask_replace_prob=1.0), `bf16=True`,
  `optim="adamw_torch_fused"`, position ids from 0 (rinna's protocol) added to each batch.

Printed: tokens/s (after `--warmup` untimed steps), MFU = tokens/s x model FLOPs per token /
the device's peak dense bf16 FLOPs (table `PEAK_TFLOPS` by device name, or `--peak-tflops`),
peak memory, the loss at the start and the end (it must fall), and a save -> resume round trip
(a run stopped at its checkpoint and resumed ends where an uninterrupted run ends).
Model FLOPs per token are those of the *full* forward and backward, whatever a side skips:
6 x (weights used per token: layers and the vocabulary projection) + 12 x layers x hidden x
seq_len (attention scores and values), the PaLM appendix B convention. Ours computes the
head at masked positions only, so its MFU counts work it saved: read it as a speed, in the
unit everyone compares.

Without a GPU it stops at once with one line and exit status 2 (unless `--dry-run-cpu`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from jaroberta.corpus.shards import SplitArrays
from jaroberta.model.presets import build_model, model_config
from jaroberta.train.data import Cursor, ShuffledRows
from jaroberta.train.distributed import Runtime
from jaroberta.train.logs import read_log
from jaroberta.train.loop import LoopConfig, StepBatch, train
from jaroberta.model.masking import IGNORE_INDEX, NO_WORD, RINNA_MASKING, mask_batch
from jaroberta.train.objective import MaskedLMObjective
from jaroberta.model.families import RECIPES

RECIPE = RECIPES["rinna"]
VOCAB = 32000
SPECIAL = {"unk": 0, "bos": 1, "eos": 2, "pad": 3, "cls": 4, "sep": 5, "mask": 6}
"""rinna's ids: <unk> <s> </s> [PAD] [CLS] [SEP] [MASK]."""

PEAK_TFLOPS = (
    # (piece of torch.cuda.get_device_name(), dense bf16 tensor TFLOPs from the vendor's data sheet)
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100", 989.0),  # SXM
    ("H800", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("A6000", 155.0),
)
"""Checked in order: the first piece found in the device name wins (so 'H100 PCIe' before 'H100')."""


@dataclass
class Settings:
    """One bench run."""

    preset: str
    """Model preset (model/presets.py)."""
    seq_len: int
    """Tokens per row."""
    batch: int
    """Rows per step (one micro-batch)."""
    steps: int
    """Steps per side."""
    warmup: int
    """Untimed first steps (compilation, allocator warm-up)."""
    round_trip_steps: int
    """Steps of the save -> resume round trip (stopped and saved at half)."""
    device: str
    """'cuda' or 'cpu'."""
    precision: str
    """'bf16' or 'fp32'."""
    compile: bool
    """torch.compile on both sides."""


def main() -> int:
    args = _parse()
    if not args.dry_run_cpu and not torch.cuda.is_available():
        print("bench/gpu.py: error: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); run it on a "
              "GPU machine with a CUDA build of torch, or pass --dry-run-cpu to exercise the script on CPU", file=sys.stderr)
        return 2
    settings = _settings(args)
    _quiet_transformers()
    peak, peak_source = _peak_flops(settings.device, args.peak_tflops)
    rows = synthetic_rows(args.rows or max(4 * settings.batch, 256), settings.seq_len, seed=0)
    flops = flops_per_token(model_config(settings.preset, VOCAB, SPECIAL, settings.seq_len), settings.seq_len)
    print(f"device: {_device_name(settings.device)}; peak {peak / 1e12:,.0f} TFLOPs dense bf16 ({peak_source})" if peak
          else f"device: {_device_name(settings.device)}; peak FLOPs unknown ({peak_source}): MFU not computed", flush=True)
    print(f"model: {settings.preset}, seq_len {settings.seq_len}, batch {settings.batch}, {settings.precision}, "
          f"compile {settings.compile}, {flops / 1e9:.3f} GFLOPs per token (full forward + backward)", flush=True)
    report = {"settings": asdict(settings), "device": _device_name(settings.device), "peak_flops": peak,
              "peak_source": peak_source, "flops_per_token": flops}
    with tempfile.TemporaryDirectory() as tmp:
        for name, side in (("ours", run_ours), ("hf_trainer", run_trainer)):
            result = side(settings, rows, Path(tmp) / name)
            result["mfu"] = result["tokens_per_s"] * flops / peak if peak else None
            report[name] = result
            print(_line(name, result), flush=True)
        report["round_trip"] = round_trip(settings, rows, Path(tmp) / "round-trip")
    ratio = report["ours"]["tokens_per_s"] / report["hf_trainer"]["tokens_per_s"]
    report["speedup"] = ratio
    trip = report["round_trip"]
    print(f"ours / Trainer: x{ratio:.2f} tokens/s", flush=True)
    print(f"save -> resume: stopped at step {trip['stopped_at']}, resumed to {trip['steps']}; final loss {trip['resumed_loss']:.6f} "
          f"vs {trip['uninterrupted_loss']:.6f} uninterrupted (difference {trip['difference']:.2e}): "
          f"{'ok' if trip['ok'] else 'MISMATCH'}", flush=True)
    falling = all(report[side]["loss_end"] < report[side]["loss_start"] for side in ("ours", "hf_trainer"))
    print(f"loss going down on both sides: {'yes' if falling else 'NO'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0 if falling and trip["ok"] else 1


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="rinna-base", help="model preset (default: rinna-base; tiny with --dry-run-cpu)")
    p.add_argument("--max-length", type=int, default=None, help="tokens per row (default: 512; 64 with --dry-run-cpu)")
    p.add_argument("--batch", type=int, default=None, help="rows per step (default: 32; 4 with --dry-run-cpu)")
    p.add_argument("--steps", type=int, default=None, help="timed + warm-up steps per side (default: 300; 8 with --dry-run-cpu)")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (default: 20, 40 with --compile; 2 with --dry-run-cpu)")
    p.add_argument("--rows", type=int, default=None, help="synthetic rows (default: max(4 x batch, 256))")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="bf16 autocast or fp32 (default: bf16)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model on both sides")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's dense bf16 peak in TFLOPs, when its name is not in the table")
    p.add_argument("--dry-run-cpu", action="store_true",
                   help="run every path on CPU with a tiny preset and a few steps (no GPU needed; for tests)")
    p.add_argument("--json", help="also write the report to this file")
    return p.parse_args()


def _settings(args) -> Settings:
    dry = args.dry_run_cpu
    warmup = args.warmup if args.warmup is not None else (2 if dry else (40 if args.compile else 20))
    steps = args.steps if args.steps is not None else (8 if dry else 300)
    if steps <= warmup:
        raise SystemExit(f"bench/gpu.py: error: --steps {steps} must exceed the {warmup} warm-up steps")
    return Settings(
        preset="tiny" if dry and args.preset == "rinna-base" else args.preset,
        seq_len=args.max_length or (64 if dry else 512),
        batch=args.batch or (4 if dry else 32),
        steps=steps, warmup=warmup, round_trip_steps=4 if dry else 20,
        device="cpu" if dry else "cuda", precision=args.precision, compile=args.compile,
    )


# -- the numbers -----------------------------------------------------------------------------
def flops_per_token(config, seq_len: int) -> float:
    """Training FLOPs per token of the full model: 6 x weights used per token (embedding lookups
    excluded, the vocabulary projection included) + 12 x layers x hidden x seq_len (attention)."""
    hidden, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    per_layer = 4 * hidden * hidden + 2 * hidden * ffn  # q, k, v, output; the two feed-forward matrices
    head = hidden * hidden + hidden * config.vocab_size  # transform + projection onto the vocabulary
    return 6.0 * (layers * per_layer + head) + 12.0 * layers * hidden * seq_len


def _peak_flops(device: str, override_tflops: float | None) -> tuple[float | None, str]:
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device != "cuda":
        return None, "CPU: no table entry"
    name = torch.cuda.get_device_name()
    for piece, tflops in PEAK_TFLOPS:
        if piece in name:
            return tflops * 1e12, f"table entry '{piece}'"
    return None, f"'{name}' is not in the table: pass --peak-tflops"


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def _line(name: str, result: dict) -> str:
    mfu = f", MFU {result['mfu']:.1%}" if result["mfu"] is not None else ""
    memory = f", peak memory {result['peak_memory'] / 2**30:.2f} GiB" if result["peak_memory"] is not None else ""
    return (f"{name}: {result['tokens_per_s']:,.0f} tokens/s{mfu}{memory}; loss {result['loss_start']:.3f} -> "
            f"{result['loss_end']:.3f}")


def _quiet_transformers() -> None:
    """No progress bars from saving and loading: the report is the output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _reset_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_memory(device: str) -> int | None:
    return torch.cuda.max_memory_allocated() if device == "cuda" else None


def _ends(losses: list[float]) -> tuple[float, float]:
    """Mean of the first and of the last tenth of the losses (at least one step each)."""
    k = max(1, len(losses) // 10)
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


# -- data --------------------------------------------------------------------------------------
def synthetic_rows(rows: int, seq_len: int, seed: int) -> SplitArrays:
    """[CLS] + Zipf-distributed ids over the non-special vocabulary: something to learn (the
    unigram distribution), no tokenizer needed."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB - len(SPECIAL) + 1)
    weights = 1.0 / ranks
    ids = rng.choice(ranks + len(SPECIAL) - 1, size=(rows, seq_len), p=weights / weights.sum()).astype(np.uint16)
    ids[:, 0] = SPECIAL["cls"]
    words = np.broadcast_to(np.arange(seq_len, dtype=np.uint16) - 1, (rows, seq_len)).copy()
    words[:, 0] = np.iinfo(np.uint16).max  # [CLS]: never masked
    return SplitArrays(ids=ids, words=words, lengths=np.full(rows, seq_len, dtype=np.int32))


def _fresh_model(settings: Settings):
    torch.manual_seed(RECIPE.seed)  # both sides start from the same weights
    return build_model(model_config(settings.preset, VOCAB, SPECIAL, settings.seq_len))


# -- ours ----------------------------------------------------------------------------------------
@dataclass
class _Micro:
    ids: torch.Tensor
    labels: torch.Tensor
    lengths: torch.Tensor


class SyntheticMLMTask:
    """The pretraining task of `train/pretrain.py` (objective, masking, data cursor) on in-memory rows."""

    def __init__(self, settings: Settings, rows: SplitArrays):
        self.settings = settings
        self.rows = rows
        self.hf_model = _fresh_model(settings)
        self.model = MaskedLMObjective(self.hf_model, explicit_position_ids=True)
        self.generator = torch.Generator().manual_seed(RECIPE.seed)
        self.stream = ShuffledRows(rows, settings.batch, RECIPE.seed)

    def setup(self, runtime: Runtime) -> None:
        self.device = runtime.device

    def next_batch(self) -> StepBatch:
        batch = next(self.stream)
        ids, labels = mask_batch(batch.ids, batch.words == NO_WORD, RINNA_MASKING, SPECIAL["mask"], VOCAB, self.generator)
        micro = _Micro(ids.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True),
                       batch.lengths.to(self.device))
        return StepBatch([micro], tokens=batch.tokens)

    def loss(self, model, micro: _Micro):
        return model(micro.ids, micro.labels, micro.lengths), (micro.labels != IGNORE_INDEX).sum()

    def evaluate(self, model) -> dict[str, float]:
        """The loss on one fixed batch of held-out rows with fixed masks (the loop needs a dev metric)."""
        rows = synthetic_rows(self.settings.batch, self.settings.seq_len, seed=1)
        ids, words = torch.from_numpy(rows.ids.astype(np.int64)), torch.from_numpy(rows.words.astype(np.int64))
        special = words == np.iinfo(np.uint16).max
        ids, labels = mask_batch(ids, special, RINNA_MASKING, SPECIAL["mask"], VOCAB, torch.Generator().manual_seed(1234))
        lengths = torch.from_numpy(rows.lengths.astype(np.int64))
        loss = model(ids.to(self.device), labels.to(self.device), lengths.to(self.device))
        return {"dev_loss": float(loss) / int((labels != IGNORE_INDEX).sum())}

    def save_model(self, directory: Path, meta: dict) -> None:
        self.hf_model.save_pretrained(directory)

    def load_model(self, directory: Path) -> None:
        from transformers import AutoModelForMaskedLM

        saved = AutoModelForMaskedLM.from_pretrained(directory, dtype=torch.float32, attn_implementation="sdpa")
        self.hf_model.load_state_dict(saved.state_dict())

    def state_dict(self) -> dict:
        return {"cursor": self.stream.cursor.to_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.stream = ShuffledRows(self.rows, self.settings.batch, RECIPE.seed, Cursor(**state["cursor"]))
        self.generator.set_state(state["generator"])

    def describe(self) -> dict:
        return {"task": "mlm-synthetic", **asdict(self.settings)}


def _loop_config(settings: Settings, out: Path, steps: int, **overrides) -> LoopConfig:
    return LoopConfig(out=out, steps=steps, lr=RECIPE.lr, betas=RECIPE.betas, eps=RECIPE.eps, weight_decay=RECIPE.weight_decay,
                      clip=RECIPE.clip, warmup_steps=RECIPE.warmup_steps(steps), precision=settings.precision,
                      device=settings.device, compile=settings.compile, seed=RECIPE.seed, log_every=1, progress=False,
                      **overrides)


class _Stop(Exception):
    """Ends a run early, as a crash would: nothing after it is saved."""


def _run_loop(task: SyntheticMLMTask, config: LoopConfig, stop_after: int | None = None) -> None:
    if stop_after is not None:
        original, calls = task.next_batch, {"n": 0}

        def limited():
            calls["n"] += 1
            if calls["n"] > stop_after:
                raise _Stop
            return original()

        task.next_batch = limited
    try:
        train(task, config)
    except _Stop:
        pass


def run_ours(settings: Settings, rows: SplitArrays, out: Path) -> dict:
    task = SyntheticMLMTask(settings, rows)
    _reset_memory(settings.device)
    _run_loop(task, _loop_config(settings, out, settings.steps))
    records = {r["step"]: r for r in read_log(out) if r["kind"] == "train"}
    first, last = records[settings.warmup], records[max(records)]
    # `elapsed`: the loop's training time (data, masking, forward, backward, optimizer); every
    # step ends with the loss on the host, so GPU work is finished when it is read.
    tokens_per_s = (last["tokens"] - first["tokens"]) / max(last["elapsed"] - first["elapsed"], 1e-9)
    start, end = _ends([records[s]["loss"] for s in sorted(records)])
    return {"tokens_per_s": tokens_per_s, "peak_memory": _peak_memory(settings.device), "loss_start": start, "loss_end": end}


def round_trip(settings: Settings, rows: SplitArrays, out: Path) -> dict:
    """Stopped at a checkpoint half-way and resumed ends as the run that never stopped."""
    steps, half = settings.round_trip_steps, settings.round_trip_steps // 2
    settings = replace(settings, compile=False)  # three more compilations would not fit the time budget
    _run_loop(SyntheticMLMTask(settings, rows), _loop_config(settings, out / "whole", steps))
    _run_loop(SyntheticMLMTask(settings, rows), _loop_config(settings, out / "resumed", steps, save_every=half), stop_after=half)
    _run_loop(SyntheticMLMTask(settings, rows), _loop_config(settings, out / "resumed", steps, save_every=half, resume=True))
    whole, resumed = ([r["loss"] for r in read_log(out / name) if r["kind"] == "train"] for name in ("whole", "resumed"))
    difference = abs(whole[-1] - resumed[-1])
    # Bit-exact on CPU; GPU kernels (atomics in backward) may differ in the last bits.
    tolerance = 0.0 if settings.device == "cpu" else 1e-3 * abs(whole[-1])
    return {"steps": steps, "stopped_at": half, "resumed_loss": resumed[-1], "uninterrupted_loss": whole[-1],
            "difference": difference, "ok": len(resumed) == steps and difference <= tolerance}


# -- theirs: Trainer + DataCollatorForLanguageModeling ---------------------------------------------
def run_trainer(settings: Settings, rows: SplitArrays, out: Path) -> dict:
    from transformers import DataCollatorForLanguageModeling, PrinterCallback, Trainer, TrainingArguments

    model = _fresh_model(settings)
    collator = DataCollatorForLanguageModeling(_tokenizer(), mlm_probability=0.15, mask_replace_prob=1.0, random_replace_prob=0.0)
    clock = _clock(settings)
    args = TrainingArguments(
        output_dir=str(out), max_steps=settings.steps, per_device_train_batch_size=settings.batch, learning_rate=RECIPE.lr,
        adam_beta1=RECIPE.betas[0], adam_beta2=RECIPE.betas[1], adam_epsilon=RECIPE.eps, weight_decay=RECIPE.weight_decay,
        max_grad_norm=RECIPE.clip, warmup_steps=RECIPE.warmup_steps(settings.steps), lr_scheduler_type="linear",
        bf16=settings.precision == "bf16", optim="adamw_torch_fused" if settings.device == "cuda" else "adamw_torch",
        torch_compile=settings.compile, logging_strategy="steps", logging_steps=1, save_strategy="no", eval_strategy="no",
        report_to=[], dataloader_num_workers=0, use_cpu=settings.device == "cpu", seed=RECIPE.seed, disable_tqdm=True,
    )
    _reset_memory(settings.device)
    trainer = Trainer(model=model, args=args, train_dataset=_Rows(rows), data_collator=_with_positions(collator), callbacks=[clock])
    trainer.remove_callback(PrinterCallback)  # one line per step otherwise; the losses are in `clock`
    trainer.train()
    start, end = _ends(clock.losses)
    return {"tokens_per_s": clock.tokens_per_s, "peak_memory": _peak_memory(settings.device), "loss_start": start, "loss_end": end}


def _tokenizer():
    """A word-level fast tokenizer with rinna's special ids: all the collator needs (mask id, pad id, specials)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    names = ["<unk>", "<s>", "</s>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {**{name: i for i, name in enumerate(names)}, **{f"t{i}": i for i in range(len(names), VOCAB)}}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")), unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                   mask_token="[MASK]")


class _Rows(torch.utils.data.Dataset):
    def __init__(self, rows: SplitArrays):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.rows.ids[i].astype(np.int64).tolist()}


def _with_positions(collator):
    def collate(rows: list[dict]) -> dict:
        batch = collator(rows)
        batch["position_ids"] = torch.arange(batch["input_ids"].shape[1]).expand_as(batch["input_ids"])  # rinna: from 0
        return batch

    return collate


def _clock(settings: Settings):
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        """Training time from the end of the warm-up steps to the last step; the loss of every step."""

        def __init__(self):
            self.losses: list[float] = []
            self.started = 0.0
            self.tokens_per_s = 0.0

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == settings.warmup:
                _synchronize(settings.device)
                self.started = time.perf_counter()
            elif state.global_step == settings.steps:
                _synchronize(settings.device)
                seconds = time.perf_counter() - self.started
                self.tokens_per_s = (settings.steps - settings.warmup) * settings.batch * settings.seq_len / max(seconds, 1e-9)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and math.isfinite(float(logs["loss"])):
                self.losses.append(float(logs["loss"]))

    return Clock()


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


if __name__ == "__main__":
    sys.exit(main())
