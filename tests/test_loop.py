"""The shared loop with a toy task (least squares): accumulation divides exactly, early
stopping watches either direction, the best model is kept, precision is resolved per
device, and a misconfigured loop is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jaroberta.errors import JarobertaError
from jaroberta.train.logs import read_log
from jaroberta.train.loop import LoopConfig, StepBatch, resolve_precision, train


class LeastSquares:
    """y = x . w on fixed data; rows per step split into `accumulation` micro-batches of unequal size."""

    def __init__(self, accumulation: int = 1, rows: int = 12, dev_metrics=None):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(4, 1)
        self.accumulation = accumulation
        self.rows = rows
        self.generator = torch.Generator().manual_seed(1)
        self.dev_metrics = list(dev_metrics or [])
        self.saved: list[int] = []

    def setup(self, runtime):
        self.runtime = runtime

    def next_batch(self) -> StepBatch:
        x = torch.randn(self.rows, 4, generator=self.generator)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
        cuts = torch.tensor_split(torch.arange(self.rows), self.accumulation)
        return StepBatch([(x[c], y[c]) for c in cuts], tokens=self.rows)

    def loss(self, model, micro):
        x, y = micro
        return ((model(x) - y) ** 2).sum(), torch.tensor(float(len(x)))

    def evaluate(self, model):
        if self.dev_metrics:
            return self.dev_metrics.pop(0)
        x = torch.randn(32, 4, generator=torch.Generator().manual_seed(2))
        return {"dev_loss": float(((model(x) - x.sum(1, keepdim=True)) ** 2).mean())}

    def save_model(self, directory, meta):
        torch.save(self.model.state_dict(), Path(directory) / "weights.pt")
        self.saved.append(meta["step"])

    def load_model(self, directory):
        self.model.load_state_dict(torch.load(Path(directory) / "weights.pt"))

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])

    def describe(self):
        return {"task": "least-squares", "accumulation": self.accumulation}


def _config(tmp_path, **kwargs) -> LoopConfig:
    return LoopConfig(**{"out": tmp_path, "steps": 5, "lr": 0.05, "warmup_steps": 1, "progress": False, **kwargs})


def test_accumulation_gives_the_gradient_of_the_whole_batch(tmp_path):
    """12 rows in one micro-batch vs 5 + 5... uneven micro-batches: the same mean over 12 rows."""
    whole, split = LeastSquares(accumulation=1), LeastSquares(accumulation=5)
    train(whole, _config(tmp_path / "a"))
    train(split, _config(tmp_path / "b"))
    torch.testing.assert_close(split.model.weight, whole.model.weight, rtol=1e-5, atol=1e-6)
    losses = [[r["loss"] for r in read_log(tmp_path / d) if r["kind"] == "train"] for d in "ab"]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


@pytest.mark.parametrize(
    "higher_is_better, values, stop_step, best",
    [
        (False, [3.0, 2.0, 2.5, 2.1, 1.0], 4, 2.0),  # two evaluations without a lower loss
        (True, [0.5, 0.7, 0.6, 0.65, 0.9], 4, 0.7),  # two evaluations without a higher accuracy
        (False, [3.0, 2.0, 1.5, 1.0, 0.5, 0.4], None, 0.4),  # always improving: runs to the end (+ final eval)
        (True, [float("nan"), 0.2, 0.3, 0.4, 0.5, 0.6], None, 0.6),  # a first NaN blocks nothing
        (True, [0.5, float("nan"), float("nan"), 0.9], 3, 0.5),  # NaN is never an improvement
    ],
)
def test_early_stopping_in_both_directions(tmp_path, higher_is_better, values, stop_step, best):
    task = LeastSquares(dev_metrics=[{"score": v} for v in values])
    result = train(task, _config(tmp_path, steps=6, eval_every=1, patience=2, metric="score",
                                 higher_is_better=higher_is_better, keep_best=True))
    assert result.stopped_early == (stop_step is not None)
    assert result.steps == (stop_step or 6)
    assert result.best == best
    assert (tmp_path / "best" / "weights.pt").exists()


def test_keep_best_saves_only_improvements(tmp_path):
    task = LeastSquares(dev_metrics=[{"dev_loss": v} for v in (3.0, 4.0, 1.0, 2.0, 5.0)])
    train(task, _config(tmp_path, steps=5, eval_every=1, keep_best=True))
    # best/ at steps 1 and 3; the final model/ and the checkpoint at 5
    assert task.saved == [1, 3, 5, 5]


def test_unknown_metric_named(tmp_path):
    with pytest.raises(JarobertaError, match="'accuracy'.*dev_loss"):
        train(LeastSquares(), _config(tmp_path, eval_every=1, metric="accuracy"))


@pytest.mark.parametrize(
    "requested, device, expected",
    [("auto", "cpu", "fp32"), ("fp32", "cpu", "fp32"), ("bf16", "cpu", "bf16")],
)
def test_precision_by_device(requested, device, expected):
    assert resolve_precision(requested, torch.device(device)) == expected


def test_fp16_on_cpu_refused():
    with pytest.raises(JarobertaError, match="fp16 needs a GPU"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_autocast_on_cpu_trains(tmp_path):
    result = train(LeastSquares(), _config(tmp_path, precision="bf16"))
    assert result.steps == 5 and torch.isfinite(LeastSquares().model.weight).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be"),
        ({"warmup_steps": 9}, "warmup"),
        ({"precision": "fp8"}, "precision must be"),
        ({"patience": 2}, "needs periodic evaluation"),
        ({"keep_checkpoints": 0}, "keep_checkpoints"),
    ],
)
def test_bad_loop_config_refused(tmp_path, kwargs, message):
    with pytest.raises(JarobertaError, match=message):
        _config(tmp_path, **kwargs)


def test_schedule_warms_up_then_decays_to_zero(tmp_path):
    train(LeastSquares(), _config(tmp_path, steps=5, warmup_steps=2, log_every=1))
    lrs = [r["lr"] for r in read_log(tmp_path) if r["kind"] == "train"]
    # (s + 1) / warmup, then (steps - s) / (steps - warmup): no step is wasted at lr 0
    assert lrs == pytest.approx([0.025, 0.05, 0.05, 0.05 * 2 / 3, 0.05 / 3])
