"""What a run tells the world: `log.jsonl`, a PNG loss curve, TensorBoard where installed.

`log.jsonl` holds one JSON object per line, with `kind` 'train' (loss, lr, grad norm,
tokens/s...), 'eval' (the task's metrics) or 'event' (e.g. a NaN stop). On resume, lines
after the checkpoint's step (written by the killed run, about to be redone) are dropped,
and a run that starts from scratch starts an empty log, so the log of a resumed run holds
each step once and reads as if it had never stopped. Only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from jaroberta.deps import require

log = logging.getLogger(__name__)

LOG_FILE = "log.jsonl"
PLOT_FILE = "loss.png"
PLOT_EVERY_S = 30.0
"""Redraw loss.png at an evaluation at most this often (drawing costs ~0.3 s); always at the end."""


class RunLogger:
    """Appends records to log.jsonl, mirrors them to TensorBoard, redraws loss.png at evaluations."""

    def __init__(self, run_dir: Path, enabled: bool = True, resumed_at: int | None = None):
        self.enabled = enabled
        self.jsonl_path = Path(run_dir) / LOG_FILE
        self.plot_path = Path(run_dir) / PLOT_FILE
        self.records: list[dict] = []
        self._tensorboard = None
        self._plotted_at = 0.0
        if not enabled:
            return
        self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
        if resumed_at is not None:
            self.records = _records_up_to(self.jsonl_path, resumed_at)
        self._file = open(self.jsonl_path, "w" if resumed_at is not None else "a", encoding="utf-8")
        for record in self.records:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self._tensorboard = _tensorboard_writer(Path(run_dir) / "tensorboard")

    def train(self, **fields) -> None:
        self._write("train", fields)

    def eval(self, **fields) -> None:
        self._write("eval", fields)
        if self.enabled:
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in fields.items() if k not in ("step", "tokens", "elapsed") and isinstance(v, float))
            log.info("step %d: %s", fields["step"], metrics)
            if time.monotonic() - self._plotted_at >= PLOT_EVERY_S:
                self.plot()

    def event(self, **fields) -> None:
        self._write("event", fields)

    def _write(self, kind: str, fields: dict) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, **fields}
        self.records.append(record)
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            for key, value in fields.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tensorboard.add_scalar(f"{kind}/{key}", value, fields["step"])

    def plot(self) -> None:
        """Train loss and every eval loss-like metric against steps (matplotlib, no display needed)."""
        matplotlib = require("matplotlib", "the loss curve")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train = [(r["step"], r["loss"]) for r in self.records if r["kind"] == "train"]
        evals = [r for r in self.records if r["kind"] == "eval"]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if train:
            ax.plot(*zip(*train), label="train loss", linewidth=1)
        for key in sorted({k for r in evals for k in r if k.endswith("loss")}):
            points = [(r["step"], r[key]) for r in evals if key in r]
            ax.plot(*zip(*points), marker="o", label=key.replace("_", " "))
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.plot_path)
        plt.close(fig)
        self._plotted_at = time.monotonic()

    def close(self) -> None:
        if not self.enabled:
            return
        self.plot()
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_log(run_dir: Path) -> list[dict]:
    """All records of a run's log.jsonl."""
    path = Path(run_dir) / LOG_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _records_up_to(path: Path, step: int) -> list[dict]:
    """The records of the steps a checkpoint at `step` has done (none for a start from scratch)."""
    if step <= 0 or not path.exists():
        return []
    kept, torn = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:  # the line a kill cut short
            torn += 1
            continue
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(record)
    if torn:
        log.warning("warning: %s: dropped %d incomplete line(s) left by the interrupted run", path, torn)
    return kept


def _tensorboard_writer(directory: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: log.jsonl and loss.png always exist
        log.debug("tensorboard is not installed: logging to %s only", LOG_FILE)
        return None
    return SummaryWriter(str(directory))
