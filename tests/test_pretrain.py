"""Pretraining end to end on tiny data: exact resume, Hugging Face-native checkpoints, a
fixed-seed loss regression, the seeds' recipes, and every bad input the issue lists.

Regenerate the stored losses (after a deliberate change of the numerics) with
    JAROBERTA_UPDATE_LOSSES=1 .venv/bin/python -m pytest tests/test_pretrain.py -k regression
and review the diff of tests/assets/pretrain_losses.json.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import Killed, kill_at_batch
from safetensors.torch import load_file
from test_pack import SEQ_LEN, corpus_dir, shards_dir, tokenizer_dir, write_corpus  # noqa: F401  (fixtures)

from jaroberta.api import pack
from jaroberta.cli import main
from jaroberta.corpus.pack import PackConfig
from jaroberta.errors import JarobertaError
from jaroberta.model.families import RECIPES
from jaroberta.train import checkpoint as ckpt
from jaroberta.train.logs import read_log
from jaroberta.train.loop import NonFiniteLoss
from jaroberta.train.pretrain import MaskedLMTask, PretrainConfig, plan_pretraining, pretrain

LOSSES = Path(__file__).parent / "assets" / "pretrain_losses.json"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run faster on one thread, and a busy machine's other processes cannot
    stall two OpenMP threads waiting on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dropout_config(tmp_path_factory, shards_dir) -> Path:
    """A 2-layer RoBERTa config with dropout on: resume must restore the RNG too."""
    from transformers import RobertaConfig

    from jaroberta.corpus.shards import ShardHeader

    header = ShardHeader.load(shards_dir)
    config = RobertaConfig(vocab_size=header.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=SEQ_LEN + 2, pad_token_id=header.special_ids["pad"],
                           hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    path = tmp_path_factory.mktemp("config") / "config.json"
    config.to_json_file(path)
    return path


def _run(shards, out, steps=6, **kwargs):
    config = PretrainConfig(shards=shards, out=out, steps=steps, **{"micro_batch": 4, "batch_size": 8, "eval_limit": 8,
                                                                  "progress": False, "log_every": 1, **kwargs})
    return pretrain(plan_pretraining(config))


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def test_killed_and_resumed_run_is_bit_identical(shards_dir, dropout_config, tmp_path, monkeypatch):
    task_kwargs = {"model_config": dropout_config}
    whole = _run(shards_dir, tmp_path / "whole", save_every=2, eval_every=3)

    original = kill_at_batch(monkeypatch, MaskedLMTask, 5)
    with pytest.raises(Killed):
        _run(shards_dir, tmp_path / "resumed", save_every=2, eval_every=3)
    assert ckpt.latest(tmp_path / "resumed").name == "step-00000004"
    monkeypatch.setattr(MaskedLMTask, "next_batch", original)
    resumed = _run(shards_dir, tmp_path / "resumed", save_every=2, eval_every=3, resume=True)

    a, b = _weights(whole.model_dir), _weights(resumed.model_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    train_losses = [[r["loss"] for r in read_log(run.run_dir) if r["kind"] == "train"] for run in (whole, resumed)]
    assert train_losses[0] == train_losses[1] and len(train_losses[0]) == 6
    assert whole.metrics == resumed.metrics


def test_checkpoint_loads_in_transformers_with_identical_logits(shards_dir, tmp_path):
    from transformers import AutoModelForMaskedLM

    from jaroberta.model.loading import load

    result = _run(shards_dir, tmp_path / "run", steps=2)
    task = MaskedLMTask(plan_pretraining(PretrainConfig(shards=shards_dir, out=tmp_path, steps=2, recipe="rinna")))
    task.load_model(result.model_dir)
    hf = AutoModelForMaskedLM.from_pretrained(result.model_dir).eval()
    ours = load(result.model_dir)
    ids = torch.tensor([[4, 20, 21, 22, 23, 24, 25]])
    positions = torch.arange(ids.shape[1])[None]  # rinna's convention: from 0
    with torch.no_grad():
        expected = task.hf_model.eval()(input_ids=ids, position_ids=positions).logits
        assert torch.equal(hf(input_ids=ids, position_ids=positions).logits, expected)
        assert torch.equal(ours.model(**ours.batch_inputs([ids[0].tolist()])).logits, expected)
    assert type(hf).__name__ == "RobertaForMaskedLM" and ours.conventions.explicit_position_ids
    for name in ("config.json", "model.safetensors", "spiece.model", "jaroberta_conventions.json", "jaroberta_meta.json"):
        assert (result.model_dir / name).exists(), name
    meta = json.loads((result.model_dir / "jaroberta_meta.json").read_text())
    assert meta["step"] == 2 and meta["tokenizer_fingerprint"] and meta["versions"]["torch"]


def test_fixed_seed_loss_regression(shards_dir, tmp_path):
    result = _run(shards_dir, tmp_path / "run", steps=5)
    losses = [r["loss"] for r in read_log(result.run_dir) if r["kind"] == "train"]
    observed = {"train_losses": losses, "dev_loss": result.metrics["dev_loss"]}
    if os.environ.get("JAROBERTA_UPDATE_LOSSES"):
        LOSSES.parent.mkdir(exist_ok=True)
        LOSSES.write_text(json.dumps(observed, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(LOSSES.read_text(encoding="utf-8"))
    # Tolerance for other CPUs' kernels (AVX2 vs AVX-512 sum in other orders), not for other code.
    assert observed["train_losses"] == pytest.approx(expected["train_losses"], rel=1e-4)
    assert observed["dev_loss"] == pytest.approx(expected["dev_loss"], rel=1e-4)
    assert losses[0] == pytest.approx(math.log(300), rel=0.1)  # starts near uniform over the vocabulary


def test_logs_curve_and_config_in_the_run_dir(shards_dir, tmp_path):
    result = _run(shards_dir, tmp_path / "run", steps=4, eval_every=2)
    records = read_log(result.run_dir)
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(math.exp(r["dev_loss"]) == pytest.approx(r["dev_rows_perplexity"]) for r in evals)
    assert all({"loss", "lr", "tokens_per_s", "grad_norm"} <= r.keys() for r in records if r["kind"] == "train")
    assert (result.run_dir / "loss.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["loop"]["steps"] == 4 and saved["task"]["masking"]["mask_fraction"] == 1.0  # rinna: all [MASK]


def test_dev_loss_is_the_inference_perplexity(corpus_dir, tokenizer_dir, tmp_path):
    """Pretraining's dev metric and `jaroberta eval perplexity` are one definition: where no
    dev document is truncated by packing, they are the same number."""
    from jaroberta.model.loading import load
    from jaroberta.model.perplexity import masked_perplexity

    shards = tmp_path / "shards"
    header = pack(PackConfig(corpus=corpus_dir, tokenizer=tokenizer_dir, out=shards, max_length=160))
    assert header.splits["dev"].truncated_documents == 0
    result = _run(shards, tmp_path / "run", steps=2, eval_limit=0)
    report = masked_perplexity(load(result.model_dir), corpus_dir, split="dev", seed=0)
    assert result.metrics["dev_masked"] == report.n_masked
    assert result.metrics["dev_loss"] == pytest.approx(report.cross_entropy, rel=1e-5)


@pytest.mark.parametrize("recipe, lr, mask_fraction, warmup", [("rinna", 6e-4, 1.0, 10), ("jmedroberta", 1e-4, 0.8, 10)])
def test_recipes_scale_to_steps(shards_dir, tmp_path, recipe, lr, mask_fraction, warmup):
    plan = plan_pretraining(PretrainConfig(shards=shards_dir, out=tmp_path, steps=1000, recipe=recipe))
    assert (plan.loop.lr, plan.loop.warmup_steps) == (lr, warmup)
    assert MaskedLMTask(plan).masking.mask_fraction == mask_fraction


def test_the_plan_decides_once_and_is_saved_whole(shards_dir, tmp_path):
    """Every "None = the recipe's" is decided by plan_pretraining; config.json holds the plan."""
    plan = plan_pretraining(PretrainConfig(shards=shards_dir, out=tmp_path / "run", steps=2, micro_batch=4,
                                           batch_size=8, recipe="rinna", warmup_ratio=0.5, progress=False), world_size=1)
    assert (plan.loop.lr, plan.loop.warmup_steps, plan.seed, plan.accumulation) == (6e-4, 1, 0, 2)
    assert (plan.masking.rate, plan.masking.whole_word) == (0.15, False)
    pretrain(plan)
    saved = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert saved["task"]["accumulation"] == 2 and saved["task"]["seed"] == 0 and saved["loop"]["lr"] == 6e-4
    assert (saved["task"]["lr"], saved["task"]["warmup_steps"], saved["task"]["batch_size"]) == (6e-4, 1, 8)
    assert saved["task"]["masking"]["rate"] == saved["task"]["mask_rate"] == 0.15 and saved["task"]["recipe"] == "rinna"


# -- bad input ------------------------------------------------------------------------------------
def test_mismatched_tokenizer_refused(shards_dir, tmp_path):
    from jaroberta.api import train_tokenizer
    from jaroberta.text import TokenizerTrainConfig

    other_corpus = write_corpus(tmp_path / "corpus", seed=1)
    other_tok = tmp_path / "tok"
    train_tokenizer(TokenizerTrainConfig(tokenizer_kind="sentencepiece", inputs=(other_corpus,), out=other_tok, vocab_size=320))
    other_shards = tmp_path / "shards"
    pack(PackConfig(corpus=other_corpus, tokenizer=other_tok, out=other_shards, max_length=SEQ_LEN))
    model = _run(other_shards, tmp_path / "other", steps=1).model_dir
    with pytest.raises(JarobertaError, match="different tokenizer than the shards"):
        MaskedLMTask(plan_pretraining(PretrainConfig(shards=shards_dir, out=tmp_path, steps=1, init_from=model,
                                                     recipe="rinna")))


def test_corpus_smaller_than_a_batch_refused(shards_dir, tmp_path):
    with pytest.raises(JarobertaError, match="fewer than one global batch"):
        pretrain(plan_pretraining(PretrainConfig(shards=shards_dir, out=tmp_path, steps=2, micro_batch=64, batch_size=256,
                                                 progress=False), world_size=1))


def test_batch_that_does_not_fit_refused_before_starting(shards_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("jaroberta.train.loop.available_bytes", lambda device: 1 << 20)
    with pytest.raises(JarobertaError, match="lower micro_batch"):
        _run(shards_dir, tmp_path / "run", steps=2)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_nan_stops_and_keeps_the_last_good_checkpoint(shards_dir, tmp_path, monkeypatch):
    original = MaskedLMTask.loss
    steps = {"n": 0}

    def nan_at_step_3(self, model, micro):
        loss, count = original(self, model, micro)
        steps["n"] += 1
        return (loss * float("nan") if steps["n"] > 4 else loss), count  # 2 micro-steps per step

    monkeypatch.setattr(MaskedLMTask, "loss", nan_at_step_3)
    with pytest.raises(NonFiniteLoss, match=r"became nan at step 3.*step-00000002"):
        _run(shards_dir, tmp_path / "run", steps=6, save_every=2)
    assert ckpt.latest(tmp_path / "run").name == "step-00000002"
    ckpt.verify(ckpt.latest(tmp_path / "run"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_corrupt_checkpoint_refused_naming_the_file(shards_dir, tmp_path, damage):
    _run(shards_dir, tmp_path / "run", steps=2)
    weights = ckpt.latest(tmp_path / "run") / "model.safetensors"
    data = weights.read_bytes()
    if damage == "flip":
        weights.write_bytes(data[:-10] + bytes(b ^ 0xFF for b in data[-10:]))
    elif damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    else:
        weights.unlink()
    with pytest.raises(JarobertaError, match=str(weights)):
        _run(shards_dir, tmp_path / "run", steps=4, resume=True)


def test_fresh_run_into_a_used_run_dir_refused(shards_dir, tmp_path):
    _run(shards_dir, tmp_path / "run", steps=1)
    with pytest.raises(JarobertaError, match="holds a previous `jaroberta pretrain` run: pass --resume to continue it or --overwrite"):
        _run(shards_dir, tmp_path / "run", steps=1)


def test_pretrain_command_and_resume_of_a_finished_run(shards_dir, tmp_path, capsys):
    args = ["pretrain", str(shards_dir), str(tmp_path / "run"), "--steps", "3", "--micro-batch", "4", "--eval-limit", "8"]
    assert main(args) == 0
    assert "dev rows perplexity" in capsys.readouterr().out
    before = _weights(tmp_path / "run" / "model")
    assert main(args + ["--resume"]) == 0  # already finished: nothing more to do
    after = _weights(tmp_path / "run" / "model")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert main(["pretrain", str(shards_dir), str(tmp_path / "x"), "--steps", "0"]) == 2


@pytest.mark.parametrize(
    "preset, model_type, layers, hidden, positions, eps",
    [
        ("rinna-base", "roberta", 12, 768, 514, 1e-5),  # rinna/japanese-roberta-base's config.json
        ("jmed-base", "bert", 12, 768, 512, 1e-12),
        ("small", "roberta", 4, 256, 514, 1e-5),
        ("mini", "roberta", 4, 128, 514, 1e-5),
        ("tiny", "roberta", 2, 64, 514, 1e-5),
    ],
)
def test_presets_are_transformers_configs(preset, model_type, layers, hidden, positions, eps):
    from jaroberta.model.presets import model_config

    specials = {"pad": 3, "cls": 4, "sep": 5, "mask": 6, "bos": 1, "eos": 2}  # rinna's ids
    config = model_config(preset, 32000, specials, 512)
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == (model_type, layers, hidden)
    assert (config.max_position_embeddings, config.layer_norm_eps, config.pad_token_id, config.vocab_size) == (positions, eps, 3, 32000)


@pytest.mark.parametrize(
    "recipe, family, whole_word",
    [("jmedroberta", "mecab-wordpiece", True), ("jmedroberta", "sentencepiece", False), ("rinna", "mecab-wordpiece", False)],
)
def test_whole_word_masking_follows_recipe_and_family(shards_dir, recipe, family, whole_word):
    from jaroberta.corpus.shards import ShardHeader
    from jaroberta.train.pretrain import _masking

    header = ShardHeader.load(shards_dir)
    header.tokenizer_kind = family
    config = PretrainConfig(shards=shards_dir, out="run", steps=1)
    assert _masking(config, RECIPES[recipe], header).whole_word is whole_word
    forced = _masking(replace(config, whole_word=not whole_word), RECIPES[recipe], header)
    assert forced.whole_word is (not whole_word)


@pytest.mark.parametrize(
    "field, value, message",
    [("steps", 0, "steps must"), ("minutes", 0.0, "minutes must"), ("mask_rate", 1.0, "mask_rate"), ("lr", 0.0, "lr must")],
)
def test_demo_config_names_the_bad_option(field, value, message):
    from jaroberta.demo import DemoConfig

    with pytest.raises(JarobertaError, match=message):
        DemoConfig(**{field: value})


@pytest.mark.slow
@pytest.mark.parametrize("family, preset, model_type, folder", [("rinna", "tiny", "roberta", ""),
                                                                 ("jmedroberta", "tiny-bert", "bert", "jmedroberta")])
def test_demo_driver_end_to_end(tmp_path, capsys, family, preset, model_type, folder):
    """`make demo`'s stages top to bottom on a tiny corpus (the default corpus needs apt and minutes)."""
    from transformers import AutoModelForMaskedLM

    from jaroberta.demo import DemoConfig, run_demo

    corpus = write_corpus(tmp_path / "demo" / "corpus", train_documents=200, dev_documents=20)
    (corpus / "corpus.json").write_text('{"options": {"dev_fraction": 0.1}}\n', encoding="utf-8")  # a finished demo build: reused
    summary = run_demo(DemoConfig(out=tmp_path / "demo", family=family, steps=3, preset=preset, vocab_size=300))
    out = capsys.readouterr().out
    for key in ("tokenizer", "shards", "model", "log", "loss_curve"):
        assert Path(summary[key]).exists() and summary[key] in out
    assert Path(summary["tokenizer"]) == tmp_path / "demo" / folder / "tokenizer"  # the default family's at the top
    assert AutoModelForMaskedLM.from_pretrained(summary["model"]).config.model_type == model_type
    assert len(summary["dictionaries"]) == (family == "jmedroberta")
    assert summary["dev_bits_per_character"]["characters"] > 0 and summary["fill_mask"]
    assert all("[MASK]" in example["text"] and example["predictions"] for example in summary["fill_mask"])


def test_deleting_a_corrupt_checkpoint_resumes_from_the_one_before(shards_dir, tmp_path):
    _run(shards_dir, tmp_path / "run", steps=4, save_every=2)
    newest = ckpt.latest(tmp_path / "run")
    (newest / "training_state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(JarobertaError, match="training_state.pt is corrupt"):
        _run(shards_dir, tmp_path / "run", steps=4, resume=True)
    shutil.rmtree(newest)  # what the message advises
    assert ckpt.latest(tmp_path / "run").name == "step-00000002"
    assert _run(shards_dir, tmp_path / "run", steps=4, resume=True).steps == 4
