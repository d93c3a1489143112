"""One code path for 1 and N processes: `torchrun --nproc_per_node 2` on CPU (gloo) gives
the loss curve and weights of 1 process with the same global batch, within float tolerance.

Two processes with micro-batch 4 and --batch-size 8 (no accumulation) against one process
with micro-batch 4 and --batch-size 8 (accumulation 2): the same 8 rows per step, masked alike (every process masks the whole
global batch with the shared generator and keeps its slice), the loss summed and divided
by the global count of masked tokens. Only the order of float additions differs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_pack import corpus_dir, shards_dir, tokenizer_dir  # noqa: F401  (fixtures)

from jaroberta.train.logs import read_log

COMMON = ["--steps", "4", "--micro-batch", "4", "--eval-limit", "8", "--log-every", "1", "--save-every", "2",
          "--model-config"]


def _env() -> dict:
    # One thread per process: two processes on two cores, no oversubscription.
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def no_dropout_config(tmp_path_factory, shards_dir):
    """Dropout draws differ per process, so the comparison runs without it (the tiny preset has none)."""
    from jaroberta.corpus.shards import ShardHeader
    from jaroberta.model.presets import model_config

    header = ShardHeader.load(shards_dir)
    path = tmp_path_factory.mktemp("config") / "config.json"
    model_config("tiny", header.vocab_size, header.special_ids, header.seq_len).to_json_file(path)
    return str(path)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(shards_dir, no_dropout_config, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "jaroberta", "pretrain", str(shards_dir), str(one), *COMMON, no_dropout_config,
                    "--batch-size", "8"], check=True, env=_env(), capture_output=True, timeout=300)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "jaroberta", "pretrain", str(shards_dir), str(two), *COMMON, no_dropout_config,
                             "--batch-size", "8"], env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    losses = [[r["loss"] for r in read_log(run) if r["kind"] == "train"] for run in (one, two)]
    assert len(losses[0]) == 4
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    evals = [[r["dev_loss"] for r in read_log(run) if r["kind"] == "eval"] for run in (one, two)]
    assert evals[1] == pytest.approx(evals[0], rel=1e-5)
    a, b = (load_file(run / "model" / "model.safetensors") for run in (one, two))
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)
    # Each rank saved its own RNG state; rank 0 alone wrote the rest.
    checkpoint = two / "checkpoints" / "step-00000004"
    assert (checkpoint / "rng-rank0.pt").exists() and (checkpoint / "rng-rank1.pt").exists()
    assert result.stdout.count("dev rows perplexity") == 1  # one report, from rank 0
