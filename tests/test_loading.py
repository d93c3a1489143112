"""Loading model folders: ours, rinna's and JMedRoBERTa's published layouts, with the
input conventions each family needs (framing, positions, normalization, dictionaries)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from layouts import (  # noqa: F401  (module-scoped fixtures)
    MANBYO_FILE,
    MEDICAL_WORDS,
    jmed_dir,
    manbyo_dic,
    real_rinna_dir,
    rinna_dir,
    write_rinna_layout,
)

import jaroberta
from jaroberta.errors import JarobertaError
from jaroberta.model.families import JMEDROBERTA, RINNA
from jaroberta.model.loading import detect_conventions, load, resolve_conventions

CARD_TEXT = "4年に1度オリンピックは開かれる。"
CARD_IDS = [4, 1602, 44, 24, 368, 6, 11, 21583, 8]  # [CLS] ... with index 5 masked, from rinna's model card


@pytest.fixture(scope="module")
def rinna(rinna_dir):
    return load(rinna_dir)


@pytest.fixture(scope="module")
def jmed(jmed_dir, manbyo_dic):
    return load(jmed_dir, user_dicts=[manbyo_dic])


# -- conventions are detected for the published layouts, stored for ours ---------------
def test_rinna_layout_gets_rinna_conventions(rinna_dir):
    assert detect_conventions(rinna_dir) == RINNA


def test_jmed_layout_gets_jmed_conventions_with_its_dictionary(jmed_dir):
    conventions = detect_conventions(jmed_dir)
    assert conventions == JMEDROBERTA.with_overrides(dictionaries=(MANBYO_FILE,))


def test_stored_conventions_win_over_detection(rinna_dir, tmp_path):
    ours = tmp_path / "ours"
    shutil.copytree(rinna_dir, ours)
    stored = RINNA.with_overrides(name="ours", max_length=64)
    stored.save(ours)
    assert detect_conventions(ours) == stored
    assert load(ours).conventions == stored


def test_our_saved_folder_loads_with_its_stored_conventions(rinna, tmp_path):
    """A folder written by jaroberta's save_model states its conventions; load never guesses."""
    from jaroberta.infer.fill_mask import fill_mask
    from jaroberta.model.conventions import CONVENTIONS_FILE
    from jaroberta.model.families import get_family
    from jaroberta.model.saving import save_model

    conventions = get_family("rinna").conventions_for(rinna.tokenizer.normalization, 128)
    folder = save_model(tmp_path / "ours", rinna.model, rinna.tokenizer, conventions, {"step": 0})
    assert (folder / CONVENTIONS_FILE).is_file()
    ours = load(folder)
    assert ours.conventions == conventions and ours.conventions.name == "rinna-style"
    text = "今日は[MASK]が良い。"
    [a], [b] = fill_mask(rinna, [text], top_k=3), fill_mask(ours, [text], top_k=3)
    assert [c.token_id for c in a.masks[0].candidates] == [c.token_id for c in b.masks[0].candidates]


def test_unknown_layout_asks_for_a_family(rinna_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(rinna_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["pad_token_id"] = 1  # not rinna's signature any more
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(JarobertaError, match="name=FAMILY, one of rinna"):
        detect_conventions(other)
    assert resolve_conventions(other, {"name": "rinna"}) == RINNA


@pytest.mark.parametrize(
    "overrides, field, expected",
    [
        ({"max_length": "64"}, "max_length", 64),
        ({"explicit_position_ids": "false"}, "explicit_position_ids", False),
        ({"suffix": "[SEP]"}, "suffix", ("[SEP]",)),
        ({"suffix": ""}, "suffix", ()),
        ({"normalization": "nfkc+lowercase"}, "normalization", None),
    ],
)
def test_convention_overrides_are_typed(rinna_dir, overrides, field, expected):
    from jaroberta.text.normalize import Normalization

    if field == "normalization":
        expected = Normalization(nfkc=True, lowercase=True)
    assert getattr(resolve_conventions(rinna_dir, overrides), field) == expected


# -- rinna: the card's protocol ----------------------------------------------------------
def test_card_example_ids_and_positions_with_the_real_rinna_tokenizer(real_rinna_dir):
    lm = load(real_rinna_dir)
    framed = lm.frame(lm.tokenizer.encode(CARD_TEXT).ids)
    framed[5] = lm.mask_id  # the card masks index 5 after tokenization
    assert framed == CARD_IDS  # [CLS] + pieces, no </s>
    assert [lm.tokenizer.id_to_token(i) for i in lm.frame(lm.tokenizer.encode(CARD_TEXT).ids)] == [
        "[CLS]", "▁4", "年に", "1", "度", "オリンピック", "は", "開かれる", "。"
    ]
    batch = lm.batch_inputs([framed])
    assert batch["input_ids"].tolist() == [CARD_IDS]
    assert batch["position_ids"].tolist() == [list(range(9))]


def test_typed_mask_gives_the_card_ids(real_rinna_dir):
    lm = load(real_rinna_dir)
    assert lm.frame(lm.tokenizer.encode("4年に1度[MASK]は開かれる。").ids) == CARD_IDS


def test_rinna_frame_has_cls_and_no_end_token(rinna):
    framed = rinna.frame(rinna.tokenizer.encode("今日は天気が良い。").ids)
    assert framed[0] == rinna.token_id("[CLS]") == 4
    assert 2 not in framed and rinna.token_id("[SEP]") not in framed  # no </s>, no [SEP]


def test_rinna_positions_start_at_zero_in_a_padded_batch(rinna):
    batch = rinna.batch_inputs([[4, 10, 11], [4, 10]])
    assert batch["position_ids"].tolist() == [[0, 1, 2], [0, 1, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["input_ids"][1, 2].item() == 3  # rinna's [PAD]


@pytest.mark.parametrize("text, same_as", [("ABC", "abc"), ("Tokyoは", "tokyoは"), ("ＡＢＣ", "abc")])
def test_rinna_lower_cases(rinna, text, same_as):
    assert rinna.tokenizer.encode(text).ids == rinna.tokenizer.encode(same_as).ids


# -- JMedRoBERTa: full-width, dictionary ------------------------------------------------
@pytest.mark.parametrize(
    "text, full_width",
    [
        ("ALS", "ＡＬＳ"),
        ("HbA1c 7.0%", "ＨｂＡ１ｃ ７．０％"),
        ("ｶﾞﾝ", "ガン"),
        ("患者", "患者"),
    ],
)
def test_jmed_converts_to_full_width(jmed, text, full_width):
    assert jmed.tokenizer.normalization(text) == full_width
    assert jmed.tokenizer.encode(text).ids == jmed.tokenizer.encode(full_width).ids


def test_jmed_frames_like_bert_and_lets_bert_count_positions(jmed):
    framed = jmed.frame(jmed.tokenizer.encode("患者は発熱した。").ids)
    assert framed[0] == jmed.token_id("[CLS]") and framed[-1] == jmed.token_id("[SEP]")
    assert "position_ids" not in jmed.batch_inputs([framed])


@pytest.mark.parametrize("word", MEDICAL_WORDS)
def test_user_dictionary_override_keeps_medical_words_whole(jmed, word):
    tokens = jmed.tokenizer.encode(f"この患者は{word}と診断された。").tokens
    assert word in tokens


def test_missing_dictionary_names_the_file_and_the_fix(jmed_dir):
    with pytest.raises(JarobertaError, match=MANBYO_FILE):
        load(jmed_dir)


# -- weights -----------------------------------------------------------------------------
def test_pytorch_model_bin_loads_weights_only_and_matches_safetensors(rinna_dir, tmp_path):
    from conftest import JA_SENTENCES

    as_bin = write_rinna_layout(tmp_path / "bin", JA_SENTENCES, weights="bin")
    shutil.copyfile(rinna_dir / "spiece.model", as_bin / "spiece.model")  # same tokenizer
    a, b = load(rinna_dir), load(as_bin)
    for (name, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(p, q), name


def test_pickle_with_code_is_refused(rinna_dir, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(rinna_dir, folder)
    os.remove(folder / "model.safetensors")
    torch.save({"x": _Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(JarobertaError, match="weights-only"):
        load(folder)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("command", ["fill-mask", "predict"])
def test_a_pickle_with_code_is_refused_before_torch_reads_it(rinna_dir, tmp_path, capfd, monkeypatch, command, legacy):
    from jaroberta.cli import main

    folder = tmp_path / "evil"
    shutil.copytree(rinna_dir, folder)
    os.remove(folder / "model.safetensors")
    torch.save({"x": _Evil()}, folder / "pytorch_model.bin", _use_new_zipfile_serialization=not legacy)
    (folder / "jaroberta_meta.json").write_text('{"finetune": {"task": "classify", "labels": ["a", "b"]}}', encoding="utf-8")

    def never(*args, **kwargs):
        raise AssertionError("torch.load was asked to read a pickle with code")

    monkeypatch.setattr(torch, "load", never)
    assert main([command, str(folder), "今日は[MASK]です。"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused, the pickle holds more than tensors" in err, err
    assert "pytorch_model.bin" in err and "print" in err


def test_a_legacy_pickle_of_tensors_still_loads(rinna_dir, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "legacy"
    shutil.copytree(rinna_dir, folder)
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    os.remove(folder / "model.safetensors")
    assert load(folder).tokenizer.vocab_size > 0


def test_model_without_mlm_head_is_refused_but_embeds(tmp_path, rinna_dir):
    from conftest import JA_SENTENCES

    folder = write_rinna_layout(tmp_path / "base", JA_SENTENCES, with_head=False)
    with pytest.raises(JarobertaError, match="no masked-language-model head"):
        load(folder)
    assert load(folder, head="base").model.config.hidden_size == 32


def test_checkpoint_missing_encoder_weights_is_refused_not_filled_at_random(rinna_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "partial"
    shutil.copytree(rinna_dir, folder)
    weights = load_file(folder / "model.safetensors")
    dropped = next(k for k in weights if "layer.1.attention" in k and k.endswith("weight"))
    save_file({k: v for k, v in weights.items() if k != dropped}, folder / "model.safetensors", metadata={"format": "pt"})
    for head in ("mlm", "base"):
        with pytest.raises(JarobertaError, match="lacks 1 weight"):
            load(folder, head=head)


def test_base_head_loads_quietly_without_a_pooler(rinna_dir, capfd):
    lm = load(rinna_dir, head="base")
    assert getattr(lm.model, "pooler", None) is None
    assert "LOAD REPORT" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "no config.json"),
        (lambda d: (d / "f.txt").write_text("x") and d / "f.txt", "is a file"),
    ],
)
def test_bad_model_paths_are_clear(tmp_path, make, message):
    with pytest.raises(JarobertaError, match=message):
        load(make(tmp_path))


def test_missing_weights_are_named(rinna_dir, tmp_path):
    folder = tmp_path / "noweights"
    shutil.copytree(rinna_dir, folder)
    os.remove(folder / "model.safetensors")
    with pytest.raises(JarobertaError, match="has no weights"):
        load(folder)


def test_int8_quantizes_linear_layers(rinna_dir):
    lm = load(rinna_dir, quantize="int8")
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    linears = [m for m in lm.model.modules() if isinstance(m, (torch.nn.Linear, DynamicLinear))]
    assert linears and all(isinstance(m, DynamicLinear) for m in linears)
    assert lm.quantized == "int8"


def test_top_level_load_is_this_loader(rinna_dir):
    assert jaroberta.load(rinna_dir).conventions == RINNA
