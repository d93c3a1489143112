"""README's `torchrun --nproc_per_node 2 -m jaroberta finetune ner ...` runs: two CPU processes
(gloo), the default micro-batch split over them, rank 0 alone scores, writes and prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)
from test_finetune import ner_records, write_jsonl


def _env() -> dict:
    # One thread per process: two processes on two cores, no oversubscription.
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
@pytest.mark.parametrize("output", ["table", "json"])
def test_finetune_under_torchrun_with_two_processes(rinna_dir, tmp_path, output):  # noqa: F811
    data = write_jsonl(tmp_path / "ner.jsonl", ner_records())
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "jaroberta", "finetune", "ner", str(rinna_dir), str(out), "--train", str(data), "--dev", str(data),
         "--steps", "2", "--batch-size", "8", "--no-progress", *(["--json"] if output == "json" else [])],
        env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["steps"] == 2 and "entity_f1" in results["metrics"]["dev"]
    assert results["config"]["micro_batch"] is None  # the default: 8 examples over 2 processes, 4 each
    assert (out / "best" / "model.safetensors").is_file() and (out / "results.md").is_file()
    meta = json.loads((out / "best" / "jaroberta_meta.json").read_text(encoding="utf-8"))
    assert meta["finetune"]["task"] == "ner"
    if output == "json":  # one report, from rank 0
        assert json.loads(result.stdout)["model"] == str(out / "best")
    else:
        assert result.stdout.count("| metric | dev |") == 1 and result.stdout.count("model: ") == 1


@pytest.mark.slow
def test_eval_jglue_under_torchrun_runs_one_task_after_another(rinna_dir, tmp_path):  # noqa: F811
    """Several fine-tunings in one torchrun: one process group serves them all (joining and leaving
    it per run hung the second run while rank 0 alone scored the first)."""
    from test_jglue_eval import jglue_checkout

    checkout = jglue_checkout(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "jaroberta", "eval", "jglue", str(rinna_dir), str(out), "--data", str(checkout), "--tasks", "jsts,jnli,jsquad",
         "--lr", "5e-4", "--epochs", "1", "--batch-size", "8", "--train-limit", "8", "--no-progress", "--device", "cpu"],
        env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {"jsts", "jnli", "jsquad"} <= set(results)
    assert all((out / task / "predictions.jsonl").is_file() for task in ("jsts", "jnli", "jsquad"))
    assert result.stdout.count("# JGLUE dev scores") == 1  # one report, from rank 0
