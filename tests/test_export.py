"""`jaroberta export`: a folder in which plain transformers gives jaroberta's answers.

Checked against rinna's real google_sp.model (with a tiny random RoBERTa in rinna's
published layout): AutoTokenizer's ids, the fill-mask pipeline's candidates and
probabilities, and AutoModelForMaskedLM's logits with its default position ids.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from huggingface_hub import ModelCard
from layouts import MANBYO_FILE, MEDICAL_SENTENCES, jmed_dir, manbyo_dic, real_rinna_dir  # noqa: F401
from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

import jaroberta
from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.infer.fill_mask import fill_mask
from jaroberta.model.conventions import InputConventions
from jaroberta.model.families import RINNA
from jaroberta.api import export
from jaroberta.model.export import export_model, move_positions
from jaroberta.text.fast_unigram import build_fast_unigram
from jaroberta.text.unigram import SentencePieceTokenizer

# Unknown characters (emoji, rare kanji), upper case, half-width kana and ASCII, full-width
# Latin, spaces, masks at the edges and in a row.
SENTENCES = [
    "4年に1度[MASK]は開かれる。",
    "東京は日本の[MASK]である。",
    "首都😀は[MASK]です",
    "[MASK]🎉🎉パーティー",
    "ABCニュースによると[MASK]が増えた。",
    "NHKとBBCの[MASK]",
    "ﾃﾞｰﾀを[MASK]する",
    "ｶﾞｲﾄﾞﾌﾞｯｸの[MASK]ﾍﾟｰｼﾞ",
    "ＡＢＣ社の[MASK]は１２３円",
    "Hello World の [MASK] です",
    "  前後に空白  [MASK]  ",
    "[MASK]から始まる文",
    "終わりが[MASK]",
    "𠮷野家で[MASK]を食べた",
    "iPhoneで[MASK]を撮った😀👍",
    "ｱｲｳｴｵ　全角スペース[MASK]",
    "Ｔｏｋｙｏ　ＴＯＷＥＲは[MASK]にある",
    "彼は「[MASK]」と言った。",
    "x[MASK]y",
    "①②③の[MASK]",
]
PLAIN = [s.replace("[MASK]", "") for s in SENTENCES] + ["", "ＡＢＣ ｶﾀｶﾅ 😀", "[MASK][MASK]連続"]


@pytest.fixture(scope="module")
def exported(real_rinna_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "out"
    export_model(real_rinna_dir, out, license="apache-2.0")
    return out


@pytest.fixture(scope="module")
def original(real_rinna_dir):
    return jaroberta.load(real_rinna_dir)


def test_auto_tokenizer_gives_jaroberta_framed_ids(exported, original):
    hf = AutoTokenizer.from_pretrained(str(exported))
    for text in SENTENCES + PLAIN:
        ours = original.frame(original.tokenizer.encode(text).ids)
        assert hf(text)["input_ids"] == ours, text


def test_tokenizer_folders_jaroberta_writes_give_the_same_ids(shared_dir, tmp_path):
    """`tokenizer train --family rinna` folders: AutoTokenizer no longer maps <unk> to </s>."""
    tok = SentencePieceTokenizer.from_file(shared_dir / "reference" / "rinna" / "google_sp.model")
    tok.save(tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert hf("首都😀")["input_ids"] == [4, 9, 3277, 0]  # T5Tokenizer gives [9, 3277, 2, 2]
    for text in SENTENCES + PLAIN:
        assert hf(text)["input_ids"] == [4, *tok.encode(text).ids], text


def _alphabet() -> str:
    """ASCII, kana (with the combining, spacing and half-width voiced marks), full- and
    half-width forms, some kanji, emoji and whitespace."""
    ranges = [(0x20, 0x7F), (0x3040, 0x3100), (0xFF01, 0xFFA0), (0x4E00, 0x4E80)]
    return "".join(chr(c) for a, b in ranges for c in range(a, b)) + "´😀🎉👍🏻𠮷①㌔㈱\u3000\t\n"


def test_tokenizer_json_matches_sentencepiece_on_random_text(shared_dir):
    """Seeded random strings, with and without a typed [MASK], through rinna's real model."""
    proto = (shared_dir / "reference" / "rinna" / "google_sp.model").read_bytes()
    ours = SentencePieceTokenizer(proto)
    theirs = build_fast_unigram(proto, ours.normalization)
    rng = random.Random(0)
    alphabet = _alphabet()

    def chunk(n):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    texts = [chunk(30) for _ in range(1500)]
    texts += [chunk(10) + rng.choice(["[MASK]", " [MASK]", "[MASK] ", "  [MASK]  "]) + chunk(10) for _ in range(500)]
    differ = [t for t in texts if theirs.encode(t).ids != [4, *ours.encode(t).ids]]
    assert differ == []


def test_default_positions_give_the_trained_logits(exported, original):
    """No position_ids passed: RoBERTa's padding_idx + 1 + i reaches trained row i."""
    model = AutoModelForMaskedLM.from_pretrained(str(exported)).eval()
    assert model.config.max_position_embeddings == model.config.pad_token_id + 1 + 512
    for text in SENTENCES[:6]:
        ids = original.frame(original.tokenizer.encode(text).ids)
        with torch.no_grad():
            ours = original.model(**original.batch_inputs([ids])).logits
            theirs = model(input_ids=torch.tensor([ids])).logits
        torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)


def test_fill_mask_pipeline_answers_like_jaroberta(exported, original):
    fill = pipeline("fill-mask", str(exported))
    specials = set(AutoTokenizer.from_pretrained(str(exported)).all_special_ids) | {0, 1, 2}
    k = 5
    for text in SENTENCES:
        ours = fill_mask(original, [text], top_k=k)[0].masks[0].candidates
        # The pipeline offers special tokens too; jaroberta never does (same probabilities otherwise).
        theirs = [c for c in fill(text, top_k=k + len(specials)) if c["token"] not in specials][:k]
        assert [c["token"] for c in theirs] == [c.token_id for c in ours], text
        for a, b in zip(theirs, ours):
            assert abs(a["score"] - b.score) < 1e-5, text


def test_jaroberta_loads_the_exported_folder_the_same(exported, original):
    again = jaroberta.load(exported)
    assert again.conventions.explicit_position_ids is False
    for text in SENTENCES[:5]:
        a = fill_mask(original, [text], top_k=5)[0].masks[0].candidates
        b = fill_mask(again, [text], top_k=5)[0].masks[0].candidates
        assert [c.token_id for c in a] == [c.token_id for c in b]
        assert all(abs(x.score - y.score) < 1e-5 for x, y in zip(a, b))


def test_card_metadata_and_usage(exported):
    card = ModelCard.load(exported / "README.md")
    assert card.data.language == "ja" and card.data.license == "apache-2.0"
    assert card.data.pipeline_tag == "fill-mask" and card.data.library_name == "transformers"
    assert 'pipeline("fill-mask"' in card.text and "jaroberta.load(" in card.text
    assert "combining accent" in card.text  # what stays inexact is repeated in the card


def test_typed_special_tokens_are_the_one_known_difference(exported, original):
    """transformers matches every special-token string in raw text; jaroberta only [MASK]."""
    hf = AutoTokenizer.from_pretrained(str(exported))
    assert hf("</s>は")["input_ids"] == [4, 2, 11]
    assert original.tokenizer.encode("</s>は").ids != [2, 11]
    assert "typed in the text" in ModelCard.load(exported / "README.md").text


def test_too_short_position_table_cannot_be_moved(original):
    rows = original.model.config.max_position_embeddings
    conventions = original.conventions.with_overrides(max_length=rows + 1)
    with pytest.raises(JarobertaError, match="cannot be moved") as info:
        move_positions(original.model, conventions, where="tiny")
    assert "\n" not in str(info.value)


def _classifier(folder):
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["RobertaForSequenceClassification"]}))


def _longer_conventions(folder):
    """Conventions that promise positions the 514-row table does not have."""
    RINNA.with_overrides(max_length=600).save(folder)


@pytest.mark.parametrize(
    "damage, expected",
    [
        (None, "did not write (keep.txt)"),  # OUT already holds the user's files
        (_classifier, "not a masked language model"),
        (_longer_conventions, "cannot be moved"),
        (lambda d: (d / "spiece.model").unlink(), "not a tokenizer folder"),
    ],
)
def test_bad_exports_are_one_line(real_rinna_dir, tmp_path, capsys, damage, expected):
    model, out = tmp_path / "model", tmp_path / "out"
    shutil.copytree(real_rinna_dir, model)
    out.mkdir()
    if damage is None:
        (out / "keep.txt").write_text("x")
    else:
        damage(model)
    assert main(["export", str(model), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1


def test_mecab_export_carries_its_dictionary(jmed_dir, manbyo_dic, tmp_path):
    out = tmp_path / "jmed"
    result = export_model(jmed_dir, out, user_dicts=[manbyo_dic])
    assert (out / MANBYO_FILE).is_file()
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert str((out / MANBYO_FILE).resolve()) in config["mecab_kwargs"]["mecab_option"]
    assert any("absolute path" in note for note in result.notes)
    assert InputConventions.load(out).name == "jmedroberta"
    card = ModelCard.load(out / "README.md").text
    assert "full width" in card
    assert "may offer special tokens" in card  # as the SentencePiece card says
    lm = jaroberta.load(out)
    hf = AutoTokenizer.from_pretrained(str(out))
    for text in MEDICAL_SENTENCES:
        full_width = lm.tokenizer.normalization(text)  # BertJapaneseTokenizer does not convert
        assert hf(full_width)["input_ids"] == lm.frame(lm.tokenizer.encode(text).ids), text
    # The card's one-liner, run as a user would after moving the folder to a path with a space.
    expected = [hf(lm.tokenizer.normalization(text))["input_ids"] for text in MEDICAL_SENTENCES]
    moved = tmp_path / "my models" / "jmed"
    shutil.move(out, moved)
    snippet = next(block for block in card.split("```python")[1:] if "mecab_option" in block).split("```")[0]
    namespace = {}
    exec(snippet.replace('path = "PATH"', f"path = {str(moved)!r}"), namespace)  # our own card's code
    assert [namespace["tok"](lm.tokenizer.normalization(text))["input_ids"] for text in MEDICAL_SENTENCES] == expected


def test_hub_model_export_keeps_its_license_and_records_the_commit(real_rinna_dir, tmp_path, monkeypatch):
    from hub_cache import write_hub_cache

    source = tmp_path / "source"
    shutil.copytree(real_rinna_dir, source)
    (source / "README.md").write_text("---\nlicense: mit\nlanguage: ja\n---\n# japanese-roberta-base\n", encoding="utf-8")
    commit = "0123456789abcdef" * 2 + "01234567"
    write_hub_cache(tmp_path / "cache", "rinna/japanese-roberta-base", source, commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no local folder of that name
    out = tmp_path / "out"
    export("rinna/japanese-roberta-base", out)  # the verb: a hub id becomes a folder at the boundary
    card = ModelCard.load(out / "README.md")
    assert card.data.license == "mit"  # the model's own license, not 'other'
    assert f"at commit `{commit}`" in card.text
    exported_from = json.loads((out / "jaroberta_meta.json").read_text(encoding="utf-8"))["exported_from"]
    assert (exported_from["model"], exported_from["revision"], exported_from["commit"]) == ("rinna/japanese-roberta-base", None, commit)
