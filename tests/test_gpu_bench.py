"""bench/gpu.py, the prepared GPU run: it refuses a machine without a GPU in one line (exit 2),
and its --dry-run-cpu mode runs every path (ours, the Trainer, MFU arithmetic, save -> resume)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu.py"


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_it_stops_with_one_line():
    result = subprocess.run([sys.executable, str(SCRIPT)], env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no CUDA GPU" in result.stderr and "--dry-run-cpu" in result.stderr
    assert result.stdout == ""


def test_flops_per_token_of_rinna_base():
    """6 x weights used per token + attention: about 0.66 GFLOPs + 0.06 GFLOPs at seq 512."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from gpu import PEAK_TFLOPS, SPECIAL, VOCAB, flops_per_token
    finally:
        sys.path.remove(str(SCRIPT.parent))
    from jaroberta.model.presets import model_config

    config = model_config("rinna-base", VOCAB, SPECIAL, 512)
    weights = 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 768 * 768 + 768 * 32000
    assert flops_per_token(config, 512) == 6 * weights + 12 * 12 * 768 * 512
    assert 0.70e9 < flops_per_token(config, 512) < 0.73e9
    table = dict(PEAK_TFLOPS)
    assert table["H100"] == table["H200"] == 989.0 and table["A100"] == 312.0 and table["L4"] == 121.0
    pieces = [piece for piece, _ in PEAK_TFLOPS]
    assert pieces.index("H100 PCIe") < pieces.index("H100") and pieces.index("L40S") < pieces.index("L4")


@pytest.mark.slow
def test_dry_run_on_cpu_runs_every_path(tmp_path):
    report_path = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run-cpu", "--json", str(report_path)], env=_env(),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["settings"]["device"] == "cpu" and report["settings"]["precision"] == "bf16"
    for side in ("ours", "hf_trainer"):
        assert report[side]["tokens_per_s"] > 0
        assert report[side]["loss_end"] < report[side]["loss_start"]
    assert report["round_trip"]["ok"] and report["round_trip"]["difference"] == 0.0
    assert "tokens/s" in result.stdout and "save -> resume" in result.stdout and "loss going down on both sides: yes" in result.stdout
