"""Length-grouped batches: deterministic, resumable, every row once per epoch, less
padding, and the same loss as the padded computation on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import Killed, kill_at_batch
from test_pack import corpus_dir, shards_dir, tokenizer_dir  # noqa: F401  (fixtures)

from jaroberta.corpus.shards import SplitArrays
from jaroberta.model.masking import IGNORE_INDEX, NO_WORD, RINNA_MASKING, mask_batch
from jaroberta.train.data import Cursor, ShuffledRows
from jaroberta.train.objective import MaskedLMObjective, trim_padding
from jaroberta.train.sampler import LengthGroupedRows

SEQ = 64
PAD = 3


def _arrays(lengths: list[int], seq_len: int = SEQ) -> SplitArrays:
    """Rows whose ids are [CLS]=4 then 10, 11, ... up to their length, padded with PAD."""
    rows = len(lengths)
    ids = np.full((rows, seq_len), PAD, dtype=np.uint16)
    words = np.full((rows, seq_len), np.iinfo(np.uint16).max, dtype=np.uint16)
    for r, n in enumerate(lengths):
        ids[r, 0] = 4
        ids[r, 1:n] = 10 + (np.arange(1, n) * (r + 1)) % 50
        words[r, 1:n] = np.arange(n - 1)
    return SplitArrays(ids=ids, words=words, lengths=np.array(lengths, dtype=np.int32))


def _lengths(rows: int = 200, seed: int = 0) -> list[int]:
    """Document-layout-like: mostly short, a few at the cap."""
    rng = np.random.default_rng(seed)
    return np.minimum(rng.geometric(1 / 12, rows) + 2, SEQ).tolist()


def _take(stream, steps: int) -> list[np.ndarray]:
    return [stream.next_indices().copy() for _ in range(steps)]


def test_order_is_a_function_of_seed_and_epoch():
    arrays = _arrays(_lengths())
    a = _take(LengthGroupedRows(arrays, 8, seed=1, group_batches=4), 60)
    b = _take(LengthGroupedRows(arrays, 8, seed=1, group_batches=4), 60)
    c = _take(LengthGroupedRows(arrays, 8, seed=2, group_batches=4), 60)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("rows, per_step, group", [(200, 8, 4), (203, 8, 4), (50, 7, 64), (16, 16, 1)])
def test_every_row_once_per_epoch(rows, per_step, group):
    stream = LengthGroupedRows(_arrays(_lengths(rows)), per_step, seed=0, group_batches=group)
    first_epoch = stream._permutation(0)
    assert sorted(first_epoch.tolist()) == list(range(rows))
    assert not np.array_equal(first_epoch, stream._permutation(1))


def test_resume_from_a_cursor_continues_the_same_stream():
    arrays = _arrays(_lengths())
    whole = _take(LengthGroupedRows(arrays, 8, seed=3, group_batches=4), 70)  # crosses two epochs
    first = LengthGroupedRows(arrays, 8, seed=3, group_batches=4)
    head = _take(first, 31)
    resumed = LengthGroupedRows(arrays, 8, seed=3, cursor=Cursor(**first.cursor.to_dict()), group_batches=4)
    tail = _take(resumed, 39)
    assert all(np.array_equal(x, y) for x, y in zip(whole, head + tail))


def _padded_slots(stream, steps: int, micro: int) -> tuple[int, int]:
    """(slots computed after trimming each micro-batch to its longest row, real tokens)."""
    slots = real = 0
    for _ in range(steps):
        batch = next(stream)
        for start in range(0, len(batch.lengths), micro):
            lengths = batch.lengths[start : start + micro]
            slots += int(lengths.max()) * len(lengths)
            real += int(lengths.sum())
    return slots, real


def test_grouping_removes_most_padding():
    arrays = _arrays(_lengths(400))
    plain_slots, plain_real = _padded_slots(ShuffledRows(arrays, 16, seed=0), 25, micro=8)
    grouped_slots, grouped_real = _padded_slots(LengthGroupedRows(arrays, 16, seed=0), 25, micro=8)
    assert plain_real == grouped_real == sum(arrays.lengths.tolist())  # one epoch each: the same rows
    assert grouped_slots < 0.6 * plain_slots
    assert grouped_real / grouped_slots > 0.8


def test_rows_of_a_batch_come_longest_first():
    stream = LengthGroupedRows(_arrays(_lengths()), 8, seed=0)
    for _ in range(30):
        lengths = next(stream).lengths.tolist()
        assert lengths == sorted(lengths, reverse=True)


@pytest.fixture(scope="module")
def objective():
    from transformers import RobertaConfig, RobertaForMaskedLM

    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=SEQ + 2, pad_token_id=PAD, attn_implementation="sdpa")
    return MaskedLMObjective(RobertaForMaskedLM(config), explicit_position_ids=True).eval()


@pytest.mark.parametrize("micro", [1, 4, 16])
def test_grouped_trimmed_loss_equals_the_padded_loss(objective, micro):
    """The micro-batches a grouped stream produces, each trimmed to its longest row, give the
    summed loss of the same rows padded to seq_len in one forward pass."""
    arrays = _arrays(_lengths(64, seed=5))
    batch = next(LengthGroupedRows(arrays, 16, seed=0))
    ids, labels = mask_batch(batch.ids, batch.words == NO_WORD, RINNA_MASKING, 6, 64, torch.Generator().manual_seed(0),
                             word_ids=batch.words)
    assert int(batch.lengths.max()) < SEQ  # the padded side really carries padding columns
    with torch.no_grad():
        padded = objective(ids, labels, batch.lengths)
        trimmed = sum(objective(*trim_padding(ids[s : s + micro], labels[s : s + micro], batch.lengths[s : s + micro]),
                                batch.lengths[s : s + micro]) for s in range(0, 16, micro))
    assert int((labels != IGNORE_INDEX).sum()) > 0
    torch.testing.assert_close(trimmed, padded, rtol=1e-5, atol=1e-4)


# -- through pretraining ------------------------------------------------------------------------
def _run(shards, out, steps=6, **loop_kwargs):
    from jaroberta.train.pretrain import PretrainConfig, plan_pretraining, pretrain

    config = PretrainConfig(shards=shards, out=out, steps=steps, micro_batch=4, batch_size=8, eval_limit=8,
                            group_by_length=True, progress=False, log_every=1, **loop_kwargs)
    return pretrain(plan_pretraining(config, world_size=1))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_grouped_pretraining_resumes_bit_exact(shards_dir, tmp_path, monkeypatch, one_thread):
    from safetensors.torch import load_file

    from jaroberta.train.logs import read_log
    from jaroberta.train.pretrain import MaskedLMTask

    whole = _run(shards_dir, tmp_path / "whole", save_every=2)
    original = kill_at_batch(monkeypatch, MaskedLMTask, 5)
    with pytest.raises(Killed):
        _run(shards_dir, tmp_path / "resumed", save_every=2)
    monkeypatch.setattr(MaskedLMTask, "next_batch", original)
    resumed = _run(shards_dir, tmp_path / "resumed", save_every=2, resume=True)
    a, b = (load_file(r.model_dir / "model.safetensors") for r in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = [[r["loss"] for r in read_log(run.run_dir) if r["kind"] == "train"] for run in (whole, resumed)]
    assert losses[0] == losses[1] and len(losses[0]) == 6
    tokens = [r["tokens"] for r in read_log(whole.run_dir) if r["kind"] == "train"]
    assert tokens == sorted(tokens) and tokens[0] > 0


def test_pack_reports_the_padding_share(shards_dir):
    from jaroberta.corpus.shards import ShardHeader, open_split

    header = ShardHeader.load(shards_dir)
    for split, stats in header.splits.items():
        lengths = open_split(shards_dir, split, header).lengths
        expected = 1 - int(lengths.sum()) / (len(lengths) * header.seq_len)
        assert stats.padding_share == pytest.approx(expected)
        assert 0 < stats.padding_share < 1  # document layout: short documents are padded
