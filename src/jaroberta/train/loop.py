"""The one training loop: pretraining and fine-tuning are tasks plugged into it.

Interface
---------
    from jaroberta.train.loop import LoopConfig, train

    result = train(task, LoopConfig(out=Path("runs/x"), steps=1000, lr=6e-4, warmup_steps=10))

The loop owns everything that is not about the task: the torchrun runtime
(`train/distributed.py`: gloo on CPU, NCCL on GPUs, rank 0 logs and saves), AdamW
without decay on biases and LayerNorm and the linear warmup / decay schedule
(`train/optim.py`), gradient accumulation with no all-reduce on intermediate
micro-steps, clipping, mixed precision (bf16 where the GPU has it, fp16 with a
GradScaler otherwise, fp32 on CPU), optional `torch.compile`, periodic evaluation,
early stopping (patience on one metric, lower- or higher-is-better), JSONL / TensorBoard
logs and a PNG loss curve, atomic checkpoints and exact resume, and a NaN stop that
keeps the last good checkpoint.

A *task* (any object with the members of `Task`) gives:
    model                 the torch module to train (the loop moves, wraps and compiles it);
    setup(runtime)        called once with this process's `Runtime` (rank, world size, device);
    next_batch()          the next *global* step as a `StepBatch`: this process's micro-batches
                          (one per accumulation step) and the tokens of the whole global batch;
    loss(model, micro)    -> (summed loss, count): the loss *summed* over the micro-batch's
                          predictions and how many there were, both 0-d tensors; the loop
                          divides the gradient by the count of the whole global batch (all
                          micro-steps, all processes), so accumulation and ranks change nothing;
    evaluate(model)       -> {metric: value}, run on rank 0 with the unwrapped model in eval mode;
    save_model(dir, meta) write a Hugging Face model folder (weights, config, tokenizer, conventions);
    load_model(dir)       load the weights of such a folder into `model` (resume);
    state_dict() / load_state_dict(state)  the data cursor and the task's generators (exact resume);
    describe()            its resolved config as a JSON-able dict (saved into the run directory);
and optionally `estimate_memory(precision) -> MemoryEstimate`, checked before the first step.

Run directory: `config.json` (the loop's and the task's resolved config), `log.jsonl`,
`loss.png`, `checkpoints/step-NNNNNNNN/` (model folder + `training_state.pt` +
`checkpoint.json` with sha256 sums), `model/` (the final model) and `best/` with
`keep_best`. `LoopConfig(resume=True)` continues from the newest complete checkpoint;
on CPU the result is bit-identical to a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from jaroberta.errors import JarobertaError
from jaroberta.core.files import fresh_dir
from jaroberta.core.outputs import record_output
from jaroberta.core.progress import progress_bar
from jaroberta.train import checkpoint as ckpt
from jaroberta.train.distributed import (
    Runtime,
    barrier,
    broadcast_object,
    init_runtime,
    no_sync_unless,
    shutdown,
    sum_across,
    wrap,
)
from jaroberta.train.logs import RunLogger
from jaroberta.train.memory import available_bytes, describe
from jaroberta.train.optim import build_optimizer, linear_schedule
from jaroberta.train.peers import SigtermAsError, is_peer_failure, peer_lost

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class LoopSettings:
    """How the loop trains, whatever the task: optimizer, precision, device, seed, checkpoints.
    Pretraining and fine-tuning both take these from here."""

    lr: float = 6e-4
    """Peak learning rate."""
    betas: tuple[float, float] = (0.9, 0.98)
    """AdamW betas."""
    eps: float = 1e-6
    """AdamW epsilon."""
    weight_decay: float = 0.01
    """Decoupled weight decay (never on biases and LayerNorm weights)."""
    clip: float = 1.0
    """Gradient-norm clipping threshold (0 = no clipping)."""
    precision: str = "auto"
    """'auto' (bf16 on GPUs that have it, fp16 on other GPUs, fp32 on CPU), 'fp32', 'bf16' or 'fp16'."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda' (torchrun's LOCAL_RANK picks the GPU)."""
    compile: bool = False
    """Compile the model with torch.compile (faster steps after a slow first one)."""
    seed: int = 0
    """Seed of the global torch RNG (dropout); rank r uses seed + r."""
    save_every: int = 0
    """Write a resumable checkpoint every this many steps (0: only at the end)."""
    keep_checkpoints: int = 2
    """Checkpoints kept on disk (the newest ones)."""
    resume: bool = False
    """Continue from the newest complete checkpoint in `out`."""
    overwrite: bool = False
    """Replace what an earlier run wrote into `out` (files it did not write are kept)."""
    progress: bool = True
    """Show a progress bar (rank 0)."""
    collective_timeout_s: float = 600.0
    """Seconds a collective waits for the other processes (a lost or hung node) before the run stops;
    must exceed rank 0's evaluation and checkpoint time, during which the others wait."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if self.collective_timeout_s <= 0:
            raise JarobertaError(f"collective_timeout_s must be > 0, got {self.collective_timeout_s}")
        if self.lr <= 0:
            raise JarobertaError(f"lr must be > 0, got {self.lr}")
        if self.precision not in PRECISIONS:
            raise JarobertaError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.save_every < 0:
            raise JarobertaError("save_every must be >= 0")
        if self.resume and self.overwrite:
            raise JarobertaError("give resume or overwrite, not both: resume continues the run in out, overwrite replaces it")
        if self.keep_checkpoints < 1:
            raise JarobertaError("keep_checkpoints must be >= 1 (the newest one is what resume continues from)")


@dataclass(kw_only=True)
class LoopConfig(LoopSettings):
    """One run of the loop: the settings, plus where it writes, how long it runs, and when it
    evaluates, which each task decides (pretraining in steps, fine-tuning in epochs)."""

    out: Path
    """Run directory (logs, checkpoints, final model)."""
    steps: int
    """Optimizer steps in the whole run."""
    warmup_steps: int = 0
    """Linear warmup steps; then linear decay to 0 at `steps`."""
    log_every: int = 10
    """Write a train line to log.jsonl every this many steps."""
    eval_every: int = 0
    """Evaluate every this many steps (0: only at the end)."""
    metric: str = "dev_loss"
    """Eval metric watched by early stopping and `keep_best`."""
    higher_is_better: bool = False
    """True for accuracy-like metrics, False for losses."""
    patience: int = 0
    """Stop after this many evaluations without improvement (0: never stop early)."""
    keep_best: bool = False
    """Save the model of the best evaluation to `out/best`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.out = Path(self.out)
        if self.steps < 1:
            raise JarobertaError(f"steps must be >= 1, got {self.steps}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise JarobertaError(f"warmup_steps {self.warmup_steps} must lie in [0, steps {self.steps}]")
        for name in ("log_every", "eval_every", "patience"):
            if getattr(self, name) < 0:
                raise JarobertaError(f"{name} must be >= 0")
        if self.patience and not self.eval_every:
            raise JarobertaError("early stopping (patience) needs periodic evaluation: set eval_every")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        return data


@dataclass
class StepBatch:
    """One optimizer step's data, as seen by this process."""

    micro_batches: list[Any]
    """This process's micro-batches, one per accumulation step (each passed to `Task.loss`)."""
    tokens: int
    """Tokens in the whole global batch (all micro-batches, all processes): for tokens/s."""


class Task(Protocol):
    """What a task gives the loop (see the module docstring)."""

    model: torch.nn.Module

    def setup(self, runtime: Runtime) -> None: ...

    def next_batch(self) -> StepBatch: ...

    def loss(self, model: torch.nn.Module, micro: Any) -> tuple[torch.Tensor, torch.Tensor]: ...

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]: ...

    def save_model(self, directory: Path, meta: dict) -> None: ...

    def load_model(self, directory: Path) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def describe(self) -> dict: ...


@dataclass
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    """The run directory."""
    model_dir: Path
    """The final model folder (Hugging Face format)."""
    steps: int
    """Optimizer steps done (fewer than configured after an early stop)."""
    tokens: int
    """Training tokens seen."""
    metrics: dict[str, float]
    """The last evaluation."""
    best: float | None
    """Best value of the watched metric."""
    stopped_early: bool
    """True when patience ran out."""


class NonFiniteLoss(JarobertaError):
    """The loss became NaN or infinite: the run stops, keeping the last good checkpoint."""


@dataclass
class _Run:
    """Everything one run carries from step to step (the loop's own state)."""

    config: LoopConfig
    task: Task
    runtime: Runtime
    precision: str
    wrapped: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    logger: Any
    step: int = 0
    tokens: int = 0
    elapsed: float = 0.0
    best: float | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    eval_step: int = -1
    last_checkpoint: Path | None = None
    clock: float = 0.0
    """When the current step started (data included; evaluation and checkpoints excluded)."""

    @property
    def done(self) -> bool:
        return self.step >= self.config.steps or self.stopped_early


# -- the loop -----------------------------------------------------------------------------
def train(task: Task, config: LoopConfig) -> TrainResult:
    """Train `task` as configured; returns where the model went and how the run ended."""
    runtime = init_runtime(config.device, config.collective_timeout_s)
    with SigtermAsError(runtime) as sigterm:
        try:
            run = _start(task, config, runtime)
            with _progress(run) as bar:
                while not run.done:
                    stats = _train_step(run, task.next_batch())
                    _after_step(run, stats, bar)
                    if _due(run, config.eval_every):
                        _evaluate(run)
                    if _due(run, config.save_every):
                        _save_checkpoint(run)
            return _finish(run)
        except Exception as exc:
            sigterm.quiet()
            if is_peer_failure(exc, runtime):  # a node lost: one line, not a hang or a C++ trace
                latest = ckpt.latest(config.out)
                raise peer_lost(exc, runtime, str(latest) if latest else None) from exc
            raise
        finally:
            shutdown(runtime)


def _due(run: _Run, every: int) -> bool:
    return bool(every) and run.step % every == 0 and run.step < run.config.steps


# -- start: device, precision, optimizer, resume -----------------------------------------
def _start(task: Task, config: LoopConfig, runtime: Runtime) -> _Run:

    torch.manual_seed(config.seed + runtime.rank)
    precision = resolve_precision(config.precision, runtime.device)
    task.setup(runtime)
    _check_memory(task, precision, runtime)
    task.model.to(runtime.device)
    resume_from = ckpt.latest(config.out) if config.resume else None
    if config.resume and resume_from is None:
        log.warning("resume: no checkpoint in %s yet; starting from scratch", config.out)
    if resume_from is not None:
        ckpt.verify(resume_from)  # refuse a damaged checkpoint before reading anything from it
        task.load_model(resume_from)  # weights before the optimizer sees the parameters
    optimizer = build_optimizer(task.model, config.lr, config.betas, config.eps, config.weight_decay)
    scheduler = linear_schedule(optimizer, config.warmup_steps, config.steps)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=precision == "fp16")
    wrapped = wrap(task.model, runtime)
    if config.compile:
        wrapped = torch.compile(wrapped)
    run = _Run(config, task, runtime, precision, wrapped, optimizer, scheduler, scaler, logger=None)
    if resume_from is not None:
        _restore(run, resume_from)
    elif runtime.is_main:
        ckpt.refuse_to_overwrite(config.out)
    # From a checkpoint or from scratch, the log is cut to the step the run starts at: a run
    # killed before its first checkpoint must not leave its step-1 line twice.
    run.logger = RunLogger(config.out, enabled=runtime.is_main, resumed_at=run.step)
    run.clock = time.perf_counter()
    if runtime.is_main:
        ckpt.write_json(config.out / "config.json", {"loop": config.to_dict(), "task": task.describe(), "precision": precision,
                                                     "world_size": runtime.world_size, "device": str(runtime.device)})
        log.info("training on %s x%d, %s, %d steps%s", runtime.device, runtime.world_size, precision, config.steps,
                 f" (resumed at step {run.step} from {resume_from})" if resume_from else "")
    return run


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' -> bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."""
    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and device.type != "cuda":
        raise JarobertaError("precision fp16 needs a GPU (its loss scaler is CUDA-only); use fp32 or bf16 on CPU")
    return name


def _autocast(run: _Run):
    if run.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if run.precision == "bf16" else torch.float16
    return torch.autocast(run.runtime.device.type, dtype=dtype)


def _check_memory(task: Task, precision: str, runtime: Runtime) -> None:

    estimate_fn = getattr(task, "estimate_memory", None)
    if estimate_fn is None:
        return
    estimate = estimate_fn(precision)
    available = available_bytes(runtime.device)
    if runtime.is_main:
        log.info("memory: %s; %s available on %s", describe(estimate), _gib(available), runtime.device)
    if available is not None and estimate.total > available:
        raise JarobertaError(
            f"a training step needs about {_gib(estimate.total)} ({describe(estimate)}) but {runtime.device} has "
            f"{_gib(available)} free: lower micro_batch (batch_size stays: accumulation fills it), "
            f"pack shorter rows (max_length), or pick a smaller model"
        )


def _gib(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 2**30:.2f} GiB"


# -- one step ---------------------------------------------------------------------------------
@dataclass
class _StepStats:
    loss: float
    count: int
    tokens: int
    grad_norm: float
    lr: float


def _train_step(run: _Run, batch: StepBatch) -> _StepStats:
    """Accumulate the micro-batches, then one optimizer step on the mean over the global batch."""
    loss_sum, count = _accumulate(run, batch.micro_batches)
    total_loss, total_count = sum_across(torch.stack([loss_sum, count]), run.runtime).tolist()
    if not math.isfinite(total_loss):
        raise _non_finite(run, total_loss)
    run.scaler.unscale_(run.optimizer)
    # DDP averaged the gradients over processes: turn the sum of summed losses into the
    # mean over every prediction of the global batch (exact whatever the split).
    _scale_gradients(run.task.model, run.runtime.world_size / max(total_count, 1.0))
    grad_norm = _clip(run)
    lr = run.optimizer.param_groups[0]["lr"]
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return _StepStats(total_loss / max(total_count, 1.0), int(total_count), batch.tokens, grad_norm, lr)


def _accumulate(run: _Run, micro_batches: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward every micro-batch; DDP all-reduces only on the last one."""
    loss_sum = torch.zeros((), device=run.runtime.device)
    count = torch.zeros((), device=run.runtime.device)
    for i, micro in enumerate(micro_batches):
        with no_sync_unless(i == len(micro_batches) - 1, run.wrapped), _autocast(run):
            loss, n = run.task.loss(run.wrapped, micro)
        run.scaler.scale(loss).backward()
        loss_sum += loss.detach().float()
        count += n
    return loss_sum, count


def _scale_gradients(model: torch.nn.Module, factor: float) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if grads:
        torch._foreach_mul_(grads, factor)


def _clip(run: _Run) -> float:
    params = [p for p in run.task.model.parameters() if p.grad is not None]
    if run.config.clip > 0:
        return float(torch.nn.utils.clip_grad_norm_(params, run.config.clip))
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])))


def _non_finite(run: _Run, value: float) -> NonFiniteLoss:
    kept = f"the last good checkpoint is {run.last_checkpoint}" if run.last_checkpoint else "no checkpoint was written yet"
    run.logger.event(step=run.step + 1, event="non_finite_loss", loss=value)
    return NonFiniteLoss(
        f"the training loss became {value} at step {run.step + 1}; stopped without saving, {kept}. "
        f"Lower --lr, raise the warmup, or use --precision fp32/bf16, then --resume"
    )


def _after_step(run: _Run, stats: _StepStats, bar) -> None:
    now = time.perf_counter()
    seconds, run.clock = now - run.clock, now
    run.step += 1
    run.tokens += stats.tokens
    run.elapsed += seconds
    tokens_per_s = stats.tokens / max(seconds, 1e-9)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{stats.loss:.4f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
    if run.config.log_every and (run.step % run.config.log_every == 0 or run.step == 1):
        run.logger.train(step=run.step, loss=stats.loss, lr=stats.lr, grad_norm=stats.grad_norm, predictions=stats.count,
                         tokens=run.tokens, tokens_per_s=tokens_per_s, elapsed=run.elapsed)


# -- evaluation and early stopping -----------------------------------------------------------
def _evaluate(run: _Run) -> dict[str, float]:
    """Evaluate on rank 0 (eval mode, no gradients), share the metrics, update early stopping."""
    metrics = None
    if run.runtime.is_main:
        model = run.task.model
        model.eval()
        with torch.no_grad():
            metrics = run.task.evaluate(model)
        model.train()
    run.metrics = broadcast_object(metrics, run.runtime)
    run.eval_step = run.step
    improved = _track_best(run)
    run.logger.eval(step=run.step, tokens=run.tokens, elapsed=run.elapsed, **run.metrics)
    if improved and run.config.keep_best and run.runtime.is_main:
        run.task.save_model(fresh_dir(run.config.out / "best"), _meta(run))
    run.clock = time.perf_counter()  # evaluation is not training time
    return run.metrics


def _track_best(run: _Run) -> bool:
    name = run.config.metric
    if name not in run.metrics:
        raise JarobertaError(f"the eval metric to watch, {name!r}, is not among the task's metrics {sorted(run.metrics)}")
    value = run.metrics[name]
    # NaN (a Pearson over a constant prediction, say) is never an improvement, and a best of
    # NaN must not block every later real value: comparisons with NaN are always False.
    if math.isnan(value):
        better = False
    elif run.best is None or math.isnan(run.best):
        better = True
    else:
        better = value > run.best if run.config.higher_is_better else value < run.best
    if better:
        run.best, run.bad_evals = value, 0
    else:
        run.bad_evals += 1
        if run.config.patience and run.bad_evals >= run.config.patience:
            run.stopped_early = True
            log.info("early stop at step %d: %s did not improve on %.4f for %d evaluations", run.step, name, run.best, run.bad_evals)
    return better


# -- checkpoints -----------------------------------------------------------------------------
def _meta(run: _Run) -> dict:
    return {"step": run.step, "tokens": run.tokens, "elapsed": run.elapsed, "metrics": run.metrics, "task": run.task.describe(),
            "loop": run.config.to_dict(), "precision": run.precision, "world_size": run.runtime.world_size}


def _training_state(run: _Run) -> dict:
    return {
        "step": run.step, "tokens": run.tokens, "elapsed": run.elapsed, "best": run.best, "bad_evals": run.bad_evals,
        "stopped_early": run.stopped_early, "metrics": run.metrics, "eval_step": run.eval_step,
        "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict(),
        "task": run.task.state_dict(),
    }


def _save_checkpoint(run: _Run) -> Path:
    run.last_checkpoint = ckpt.save(
        run.config.out, run.step, run.runtime,
        save_model=lambda directory: run.task.save_model(directory, _meta(run)),
        state=_training_state(run) if run.runtime.is_main else None,
        keep=run.config.keep_checkpoints,
    )
    if run.runtime.is_main:
        record_output(run.config.out)  # a run killed later can still be replaced with overwrite
    run.clock = time.perf_counter()  # neither is saving
    return run.last_checkpoint


def _restore(run: _Run, directory: Path) -> None:
    state, rng = ckpt.load_state(directory, run.runtime)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    run.task.load_state_dict(state["task"])
    for key in ("step", "tokens", "elapsed", "best", "bad_evals", "stopped_early", "metrics", "eval_step"):
        setattr(run, key, state[key])
    ckpt.set_rng_state(rng, run.runtime)
    run.last_checkpoint = directory


# -- the end ------------------------------------------------------------------------------------
def _finish(run: _Run) -> TrainResult:
    """Final evaluation and checkpoint (a finished run resumes as a no-op), the model folder."""
    config = run.config
    if run.eval_step != run.step:
        _evaluate(run)
    if run.last_checkpoint is None or run.last_checkpoint.name != ckpt.step_name(run.step):
        _save_checkpoint(run)
    model_dir = config.out / "model"
    if run.runtime.is_main:
        run.task.save_model(fresh_dir(model_dir), _meta(run))
        run.logger.close()
        record_output(config.out)
        log.debug("model written to %s; logs %s, loss curve %s", model_dir, run.logger.jsonl_path, run.logger.plot_path)
    barrier(run.runtime)
    return TrainResult(config.out, model_dir, run.step, run.tokens, run.metrics, run.best, run.stopped_early)


@contextlib.contextmanager
def _progress(run: _Run):
    if not (run.config.progress and run.runtime.is_main):
        yield None
        return

    # tqdm's own [elapsed<remaining] is the time left; loss and tokens/s go in the postfix.
    with progress_bar(total=run.config.steps, initial=run.step, desc="train", unit="step", dynamic_ncols=True) as bar:
        yield bar
