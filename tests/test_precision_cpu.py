"""The GPU run's code paths, on CPU: bf16 autocast trains with a loss close to fp32's, and
torch.compile gives the eager loss."""

from __future__ import annotations

import pytest
import torch

from jaroberta.train.logs import read_log
from jaroberta.train.pretrain import PretrainConfig, plan_pretraining, pretrain
from test_pack import corpus_dir, full_shards_dir, shards_dir, tokenizer_dir  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _losses(shards, out, steps=4, **loop_kwargs) -> list[float]:
    config = PretrainConfig(shards=shards, out=out, steps=steps, micro_batch=4, eval_limit=8, progress=False, log_every=1,
                            **loop_kwargs)
    pretrain(plan_pretraining(config))
    return [r["loss"] for r in read_log(out) if r["kind"] == "train"]


@pytest.mark.slow
def test_bf16_autocast_on_cpu_trains_close_to_fp32(shards_dir, tmp_path):
    fp32 = _losses(shards_dir, tmp_path / "fp32", precision="fp32")
    bf16 = _losses(shards_dir, tmp_path / "bf16", precision="bf16")
    assert len(bf16) == len(fp32) == 4
    assert bf16 != fp32  # autocast really ran in bf16
    assert bf16 == pytest.approx(fp32, rel=2e-2)


@pytest.mark.slow
def test_compiled_model_gives_the_eager_loss(full_shards_dir, tmp_path):
    # Full rows (one row length) and 3 steps: each new shape costs a compilation of minutes on 2 cores.
    eager = _losses(full_shards_dir, tmp_path / "eager", steps=3)
    compiled = _losses(full_shards_dir, tmp_path / "compiled", steps=3, compile=True)
    assert len(compiled) == 3
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-4)
