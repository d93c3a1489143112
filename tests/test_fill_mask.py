"""Fill-mask equals a forward pass computed by hand with the family's framing; the fast
path (head only at masks, length buckets) changes nothing; bad input is a clear error;
and transformers' pipeline gets rinna wrong where jaroberta does not."""

from __future__ import annotations

import json
import math

import pytest
import torch
from layouts import jmed_dir, manbyo_dic, real_rinna_dir, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.infer.fill_mask import fill_mask, fill_span, target_pieces
from jaroberta.model.loading import load

TEXTS = [
    "今日は[MASK]が良いので公園を散歩した。",
    "東京は日本の[MASK]である。",
    "[MASK]は毎朝コーヒーを飲んでから仕事に出かける。",
    "この本はとても面白かったので[MASK]にも薦めた。",
]


@pytest.fixture(scope="module")
def rinna(rinna_dir):
    return load(rinna_dir)


@pytest.fixture(scope="module", params=["rinna", "jmed"])
def lm(request, rinna_dir):
    if request.param == "rinna":
        return load(rinna_dir)
    return load(request.getfixturevalue("jmed_dir"), user_dicts=[request.getfixturevalue("manbyo_dic")])


def hand_probs(lm, text: str) -> tuple[list[int], torch.Tensor]:
    """The reference: encode, frame by hand, one full forward pass, softmax at the masks."""
    pieces = lm.tokenizer.encode(text).ids
    c = lm.conventions
    ids = [lm.tokenizer.token_to_id(t) for t in c.prefix] + pieces + [lm.tokenizer.token_to_id(t) for t in c.suffix]
    kwargs = {"input_ids": torch.tensor([ids])}
    if c.explicit_position_ids:
        kwargs["position_ids"] = torch.arange(len(ids))[None]
    with torch.no_grad():
        logits = lm.model(**kwargs).logits[0]  # (T, V)
    masks = [i for i, idx in enumerate(ids) if idx == lm.mask_id]
    return masks, torch.softmax(logits[masks], dim=-1)


def test_fill_mask_equals_a_forward_pass_by_hand(lm):
    results = fill_mask(lm, TEXTS, top_k=5, batch_size=3)
    for text, result in zip(TEXTS, results):
        masks, probs = hand_probs(lm, text)
        assert [m.index for m in result.masks] == masks
        for mask, row in zip(result.masks, probs):
            for cand in mask.candidates:
                assert cand.score == pytest.approx(float(row[cand.token_id]), rel=1e-4, abs=1e-7)
            excluded = set(lm.tokenizer.special_ids.values()) | lm.special_ids
            allowed = row.clone()
            allowed[sorted(excluded)] = -1
            assert mask.candidates[0].token_id == int(allowed.argmax())


def test_head_only_at_masks_equals_the_full_forward(lm):
    framed = [lm.frame(lm.tokenizer.encode(t).ids) for t in TEXTS]
    batch = lm.batch_inputs(framed)
    rows = torch.tensor([0, 1, 3, 3])
    cols = torch.tensor([2, 1, 0, len(framed[3]) - 1])
    with torch.no_grad():
        fast = lm.logits_at(batch, rows, cols)
        full = lm.model(**batch).logits[rows, cols]
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)


def test_the_mlm_head_runs_only_at_the_masks(rinna):
    rows = []
    handle = rinna.mlm_head.register_forward_pre_hook(lambda module, args: rows.append(tuple(args[0].shape)))
    try:
        fill_mask(rinna, TEXTS + ["[MASK]は日本の[MASK]である。"], top_k=2, batch_size=8)
    finally:
        handle.remove()
    assert rows == [(len(TEXTS) + 2, rinna.model.config.hidden_size)]  # (masks, H): one batch, 6 masks, no other token


@pytest.mark.parametrize(
    "lengths, batch_size, expected",
    [
        ([3, 10, 5, 9], 2, [[1, 3], [2, 0]]),  # longest first: each batch pads to nearly its own length
        ([4, 4, 4], 5, [[0, 1, 2]]),
        ([], 3, []),
    ],
)
def test_length_buckets(lengths, batch_size, expected):
    from jaroberta.model.forward import length_buckets

    assert length_buckets(lengths, batch_size) == expected


def test_int8_model_fills_masks(rinna_dir):
    [result] = fill_mask(load(rinna_dir, quantize="int8"), [TEXTS[0]], top_k=3)
    scores = [c.score for c in result.masks[0].candidates]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1


def test_batching_and_bucketing_do_not_change_results(rinna):
    one = fill_mask(rinna, TEXTS, top_k=3, batch_size=1)
    many = fill_mask(rinna, TEXTS, top_k=3, batch_size=16)
    for a, b in zip(one, many):
        assert a.text == b.text and a.ids == b.ids
        for ma, mb in zip(a.masks, b.masks):
            assert [c.token_id for c in ma.candidates] == [c.token_id for c in mb.candidates]
            assert [c.score for c in ma.candidates] == pytest.approx([c.score for c in mb.candidates], abs=1e-6)


def test_several_masks_in_one_text(rinna):
    [result] = fill_mask(rinna, ["[MASK]は日本の[MASK]である。"], top_k=2)
    assert len(result.masks) == 2
    assert all(result.ids[m.index] == rinna.mask_id for m in result.masks)
    assert result.tokens[0] == "[CLS]"


def test_single_piece_target_scores_match_top_k(rinna):
    [top] = fill_mask(rinna, [TEXTS[1]], top_k=3)
    best = top.masks[0].candidates[0]
    word = rinna.tokenizer.decode([best.token_id])
    [scored] = fill_mask(rinna, [TEXTS[1]], targets=[word])
    cand = scored.masks[0].candidates[0]
    assert cand.token_ids == [best.token_id]
    assert cand.score == pytest.approx(best.score, rel=1e-5)


def test_multi_piece_target_is_the_chain_rule_by_hand(rinna):
    target = "首都"
    pieces = target_pieces(rinna, target, sentence_start=False)
    assert len(pieces) >= 2, "the tiny vocabulary should split this word"
    [scored] = fill_mask(rinna, [TEXTS[1]], targets=[target])
    cand = scored.masks[0].candidates[0]
    assert cand.token == target and cand.token_id == -1 and cand.token_ids == pieces
    # by hand: widen the mask, fill left to right
    framed = rinna.frame(rinna.tokenizer.encode(TEXTS[1]).ids)
    pos = framed.index(rinna.mask_id)
    ids = framed[:pos] + [rinna.mask_id] * len(pieces) + framed[pos + 1 :]
    total = 0.0
    for step, piece in enumerate(pieces):
        with torch.no_grad():
            logits = rinna.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(len(ids))[None]).logits[0]
        total += float(torch.log_softmax(logits[pos + step], -1)[piece])
        ids[pos + step] = piece
    assert cand.score == pytest.approx(math.exp(total), rel=1e-4)


def test_greedy_span_is_argmax_left_to_right_and_beam_is_no_worse(rinna):
    greedy = fill_span(rinna, TEXTS[1], n_masks=2, strategy="greedy", top_k=1)
    beam = fill_span(rinna, TEXTS[1], n_masks=2, strategy="beam", beam_size=4, top_k=3)
    assert len(greedy) == 1 and len(greedy[0].token_ids) == 2
    assert beam[0].log_prob >= greedy[0].log_prob - 1e-6
    assert [b.log_prob for b in beam] == sorted((b.log_prob for b in beam), reverse=True)
    # by hand: take the best non-special piece at each mask, left to right
    framed = rinna.frame(rinna.tokenizer.encode(TEXTS[1]).ids)
    pos = framed.index(rinna.mask_id)
    ids = framed[:pos] + [rinna.mask_id] * 2 + framed[pos + 1 :]
    excluded = sorted(set(rinna.tokenizer.special_ids.values()) | rinna.special_ids)
    total = 0.0
    for step in range(2):
        with torch.no_grad():
            logits = rinna.model(input_ids=torch.tensor([ids]), position_ids=torch.arange(len(ids))[None]).logits[0]
        log_probs = torch.log_softmax(logits[pos + step], -1)
        log_probs[excluded] = -math.inf
        ids[pos + step] = int(log_probs.argmax())
        total += float(log_probs.max())
    assert greedy[0].token_ids == ids[pos : pos + 2]
    assert greedy[0].log_prob == pytest.approx(total, abs=1e-4)


@pytest.mark.parametrize(
    "texts, kwargs, message",
    [
        (["今日は天気が良い。"], {}, "no \\[MASK\\]"),
        (["[MASK]" * 20], {}, "20 masks"),
        (["あ" * 600 + "[MASK]"], {}, "--truncate"),
        (["[MASK]" + "あ" * 600], {"top_k": 0}, "top_k"),
        (["東京は日本の[MASK]である。"], {"targets": ["😀"]}, "vocabulary lacks"),
    ],
)
def test_bad_input_is_a_clear_error(rinna, texts, kwargs, message):
    with pytest.raises(JarobertaError, match=message):
        fill_mask(rinna, texts, **kwargs)


def test_truncate_cuts_long_text_but_keeps_an_early_mask(rinna):
    [result] = fill_mask(rinna, ["[MASK]" + "今日は天気が良い。" * 200], truncate=True, top_k=1)
    assert len(result.ids) == rinna.conventions.max_length
    with pytest.raises(JarobertaError, match="beyond"):
        fill_mask(rinna, ["今日は天気が良い。" * 200 + "[MASK]"], truncate=True)


def test_fill_span_needs_exactly_one_mask(rinna):
    with pytest.raises(JarobertaError, match="exactly one"):
        fill_span(rinna, "[MASK]と[MASK]", n_masks=2)


@pytest.fixture(scope="module")
def jmed(jmed_dir, manbyo_dic):
    return load(jmed_dir, user_dicts=[manbyo_dic])


def test_jmed_mask_splits_mecab_words_like_the_card(jmed):
    [result] = fill_mask(jmed, ["この患者は[MASK]と診断された。"], top_k=3)
    assert result.tokens == ["[CLS]", "この", "患者", "は", "[MASK]", "と", "診断", "さ", "れ", "た", "。", "[SEP]"]


@pytest.mark.parametrize("target, pieces", [("ALS", ["ＡＬＳ"]), ("統合失調症", ["統合失調症"])])
def test_jmed_targets_are_full_width_and_dictionary_words(jmed, target, pieces):
    """Targets go through the model's own normalization and dictionary: 'ALS' is scored as
    the full-width word the vocabulary holds, a Manbyo disease name as one word."""
    ids = target_pieces(jmed, target, sentence_start=False)
    assert [jmed.tokenizer.id_to_token(i) for i in ids] == pieces
    [scored] = fill_mask(jmed, ["この患者は[MASK]と診断された。"], targets=[target])
    assert scored.masks[0].candidates[0].token_ids == ids


# -- transformers.pipeline on the rinna layout --------------------------------------
def _positions_seen(model, run) -> list[list[int]]:
    """The position ids `model` looked up in its position table while `run()` ran."""
    seen = []
    table = model.base_model.embeddings.position_embeddings
    handle = table.register_forward_pre_hook(lambda module, args: seen.append(args[0].tolist()))
    try:
        run()
    finally:
        handle.remove()
    return [row for batch in seen for row in batch]


def test_pipeline_frames_rinna_wrongly_and_jaroberta_does_not(rinna_dir, rinna):
    from transformers import pipeline

    text = "東京は日本の[MASK]である。"
    pipe = pipeline("fill-mask", model=str(rinna_dir), device="cpu")
    pipe_ids = pipe.tokenizer(text)["input_ids"]
    ours = rinna.frame(rinna.tokenizer.encode(text).ids)
    # Framing: the pipeline has no [CLS] and a trailing </s>; ours is [CLS] + pieces.
    assert pipe_ids[0] != 4 and pipe_ids[-1] == 2
    assert ours[0] == 4 and 2 not in ours
    # Positions: the pipeline lets RoBERTa count from padding_idx + 1 = 4; ours start at 0.
    [pipe_positions] = _positions_seen(pipe.model, lambda: pipe(text, top_k=1))
    [our_positions] = _positions_seen(rinna.model, lambda: fill_mask(rinna, [text], top_k=1))
    assert pipe_positions == list(range(4, 4 + len(pipe_ids)))
    assert our_positions == list(range(len(ours)))
    # The pipeline's answer differs from the model's answer under the training protocol; ours equals it.
    [hand_masks], hand = hand_probs(rinna, text)
    pipe_scores = {d["token"]: d["score"] for d in pipe(text, top_k=5)}
    assert any(abs(s - float(hand[0][t])) > 1e-4 for t, s in pipe_scores.items())
    [result] = fill_mask(rinna, [text], top_k=5)
    for cand in result.masks[0].candidates:
        assert cand.score == pytest.approx(float(hand[0][cand.token_id]), rel=1e-4)


def test_pipeline_tokenizer_ignores_rinnas_lower_casing_and_ours_applies_it(real_rinna_dir):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(real_rinna_dir))
    ours = load(real_rinna_dir).tokenizer
    text = "OpenAIのGPTはTransformerを使う。"
    # transformers 5 loads rinna's tokenizer_config.json (do_lower_case: true) and does not lower-case.
    assert hf(text, add_special_tokens=False)["input_ids"] != hf(text.lower(), add_special_tokens=False)["input_ids"]
    assert ours.encode(text).ids == ours.encode(text.lower()).ids == hf(text.lower(), add_special_tokens=False)["input_ids"]


# -- CLI ---------------------------------------------------------------------------
def test_cli_fill_mask_json(rinna_dir, capsys):
    assert main(["fill-mask", str(rinna_dir), TEXTS[0], TEXTS[1], "--top-k", "2", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["text"] for d in lines] == TEXTS[:2]
    assert all(len(d["masks"][0]["candidates"]) == 2 for d in lines)


def test_cli_fill_mask_table_targets_and_span(rinna_dir, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text(TEXTS[1] + "\n\n", encoding="utf-8")
    assert main(["fill-mask", str(rinna_dir), "--input", str(inputs), "--targets", "首都,都市"]) == 0
    out = capsys.readouterr().out
    assert "首都" in out and "mask 1" in out
    assert main(["fill-mask", str(rinna_dir), TEXTS[1], "--span", "2", "--strategy", "beam"]) == 0
    assert " 1. " in capsys.readouterr().out


def test_cli_convention_override_reaches_the_model(rinna_dir, capsys):
    text = "[MASK]は天気が良いので公園を散歩した。"
    assert main(["fill-mask", str(rinna_dir), text, "--convention", "max_length=8"]) == 2
    assert "at most 7 (8 with special tokens)" in capsys.readouterr().err
    assert main(["fill-mask", str(rinna_dir), text, "--convention", "max_length=8", "--truncate", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["ids"]) == 8
    assert main(["fill-mask", str(rinna_dir), text, "--convention", "max_length"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_cli_errors_are_one_line(rinna_dir, capsys):
    assert main(["fill-mask", str(rinna_dir), "no mask here"]) == 2
    err = capsys.readouterr().err
    assert "error: text: no [MASK]" in err and "Traceback" not in err
