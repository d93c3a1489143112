"""Extending a general tokenizer for a domain (text/extend.py) and growing its model (model/grow.py).

A tiny general tokenizer of each family (trained on conftest's everyday sentences) is
extended on medical sentences written here: base ids keep their pieces, at most N entries
are added, text in which no new entry occurs gets exactly its old ids (a property test),
pieces per character go down on held-out medical sentences; the grown model's new rows are
the means of their base pieces' rows, its old rows and hidden states are unchanged, and
`pretrain --init-from` grows a published-layout model to shards packed with the extension.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from conftest import JA_SENTENCES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from layouts import build_manbyo_dictionary, train_rinna_spiece, write_rinna_layout
from transformers import AutoModelForMaskedLM, AutoTokenizer

from jaroberta.api import pack, train_tokenizer
from jaroberta.cli import main
from jaroberta.corpus.layout import write_documents
from jaroberta.corpus.pack import PackConfig
from jaroberta.errors import JarobertaError
from jaroberta.model.grow import INIT_METHOD, grow_model
from jaroberta.text import TokenizerTrainConfig, load_tokenizer
from jaroberta.text.extend import ExtendReport, base_ids_of_new_entries, extend_tokenizer, save_extended
from jaroberta.train.pretrain import MaskedLMTask, PretrainConfig, plan_pretraining, pretrain

DISEASES = ["糖尿病性腎症", "慢性腎臓病", "急性心筋梗塞", "慢性閉塞性肺疾患", "高血圧性心疾患", "糖尿病性網膜症",
            "間質性肺炎", "脳梗塞", "心房細動", "肝硬変", "関節リウマチ", "気管支喘息"]
TESTS = ["血液検査", "心電図検査", "胸部レントゲン", "腹部超音波検査", "頭部MRI", "尿検査"]
DRUGS = ["降圧薬", "抗菌薬", "抗凝固薬", "吸入ステロイド", "インスリン", "利尿薬"]
TEMPLATES = [
    "患者は{d}と診断され、{m}の投与を開始した。",
    "{t}の結果から{d}が疑われた。",
    "{d}の既往がある患者に{m}を処方した。",
    "外来で{t}を行い、{d}の進行を確認した。",
    "{d}に対して{m}を継続し、経過を観察した。",
    "入院時の{t}では{d}を示唆する所見を認めた。",
]
ADD = 30


def medical_sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(TEMPLATES).format(d=rng.choice(DISEASES), t=rng.choice(TESTS), m=rng.choice(DRUGS)) for _ in range(n)]


DOMAIN = medical_sentences(300, seed=0)
HELD_OUT = medical_sentences(60, seed=1)
# Pieces of text that hypothesis strings together: everyday and medical, with spaces and Latin letters.
FRAGMENTS = sorted({s[i:i + 4] for s in JA_SENTENCES + HELD_OUT[:10] for i in range(0, len(s), 3)} | {" ", "MRI", "a b", "。"})


@pytest.fixture(scope="module")
def sp_base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sp_base")
    train_rinna_spiece(folder, JA_SENTENCES)
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def sp_extended(sp_base, tmp_path_factory):
    tokenizer, report = extend_tokenizer(sp_base, DOMAIN, ADD, dev_sentences=HELD_OUT, base_name="tiny-general")
    out = save_extended(tokenizer, report, tmp_path_factory.mktemp("sp_extended"))
    return tokenizer, report, out


@pytest.fixture(scope="module")
def manbyo(tmp_path_factory) -> Path:
    return build_manbyo_dictionary(tmp_path_factory.mktemp("manbyo"), DISEASES)


@pytest.fixture(scope="module")
def wp_base(tmp_path_factory):
    text = tmp_path_factory.mktemp("wp_text") / "general.txt"
    text.write_text("\n".join(JA_SENTENCES) + "\n", encoding="utf-8")
    return train_tokenizer(TokenizerTrainConfig(tokenizer_kind="mecab-wordpiece", inputs=(text,), vocab_size=300, min_frequency=1))


@pytest.fixture(scope="module")
def wp_extended(wp_base, manbyo, tmp_path_factory):
    tokenizer, report = extend_tokenizer(wp_base, DOMAIN, ADD, user_dicts=[manbyo], dev_sentences=HELD_OUT)
    out = save_extended(tokenizer, report, tmp_path_factory.mktemp("wp_extended"))
    return tokenizer, report, out


def _new_entries(base, extended) -> list[str]:
    return [extended.id_to_token(i) for i in range(base.vocab_size, extended.vocab_size)]


# -- the tokenizer -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sp", "wp"])
def test_base_ids_keep_their_pieces_and_at_most_n_are_added(kind, request):
    base = request.getfixturevalue(f"{kind}_base")
    extended, report, out = request.getfixturevalue(f"{kind}_extended")
    assert [extended.id_to_token(i) for i in range(base.vocab_size)] == [base.id_to_token(i) for i in range(base.vocab_size)]
    assert 0 < extended.vocab_size - base.vocab_size <= ADD
    assert report.added == extended.vocab_size - base.vocab_size == len(report.entries)
    assert extended.special_ids == base.special_ids
    reloaded = load_tokenizer(out)
    assert reloaded.fingerprint == extended.fingerprint != base.fingerprint
    assert reloaded.extends.base_fingerprint == base.fingerprint
    assert (reloaded.extends.base_vocab_size, reloaded.extends.added) == (base.vocab_size, report.added)


@pytest.mark.parametrize("kind", ["sp", "wp"])
def test_pieces_per_character_go_down_on_held_out_domain_text(kind, request):
    base = request.getfixturevalue(f"{kind}_base")
    extended, report, _ = request.getfixturevalue(f"{kind}_extended")
    characters = sum(map(len, HELD_OUT))
    before = sum(map(len, base.encode_ids_batch(HELD_OUT))) / characters
    after = sum(map(len, extended.encode_ids_batch(HELD_OUT))) / characters
    assert after < before
    assert (report.measured_on, report.characters) == ("dev", characters)
    assert report.pieces_per_char_before == pytest.approx(before)
    assert report.pieces_per_char_after == pytest.approx(after)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(add=st.integers(1, 45), size=st.integers(150, len(DOMAIN)))
def test_any_extension_keeps_base_ids_adds_at_most_n_and_shortens_held_out_text(sp_base, add, size):
    extended, report = extend_tokenizer(sp_base, DOMAIN[:size], add, dev_sentences=HELD_OUT)
    assert [extended.id_to_token(i) for i in range(sp_base.vocab_size)] == [sp_base.id_to_token(i) for i in range(sp_base.vocab_size)]
    assert extended.vocab_size - sp_base.vocab_size == report.added <= add
    assert report.pieces_per_char_after < report.pieces_per_char_before


def _sp_occurs(base, entries: list[str], text: str) -> bool:
    """Whether a new piece's string occurs in the text as SentencePiece sees it (normalized, `▁` written out)."""
    seen = spm.SentencePieceProcessor(model_proto=base.model_proto).normalize(base.normalization(text))
    return any(entry in seen for entry in entries)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_sentencepiece_text_without_new_pieces_keeps_its_ids(sp_base, sp_extended, parts):
    text = "".join(parts)
    assume(not _sp_occurs(sp_base, _new_entries(sp_base, sp_extended[0]), text))
    assert sp_extended[0].encode(text).ids == sp_base.encode(text).ids


def test_everyday_sentences_keep_their_ids(sp_base, sp_extended, wp_base, wp_extended):
    for base, (extended, _, _), occurs in ((sp_base, sp_extended, _sp_occurs), (wp_base, wp_extended, _wp_occurs)):
        entries = _new_entries(base, extended)
        untouched = [s for s in JA_SENTENCES if not occurs(base, entries, s)]
        assert len(untouched) > len(JA_SENTENCES) // 2
        assert extended.encode_ids_batch(untouched) == base.encode_ids_batch(untouched)


def _wp_occurs(base, entries: list[str], text: str) -> bool:
    """Whether a new word, or a word of the added dictionary, occurs in the text as MeCab sees it (normalized)."""
    seen = base.normalization(text)
    return any(word in seen for word in [*entries, *(base.normalization(d) for d in DISEASES)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_mecab_text_without_new_words_keeps_its_ids(wp_base, wp_extended, parts):
    text = "".join(parts)
    assume(not _wp_occurs(wp_base, _new_entries(wp_base, wp_extended[0]), text))
    assert wp_extended[0].encode(text).ids == wp_base.encode(text).ids


def test_sentencepiece_new_pieces_are_used_and_plain_transformers_agrees(sp_base, sp_extended):
    extended, _, out = sp_extended
    ids = extended.encode_ids_batch(HELD_OUT)
    assert any(i >= sp_base.vocab_size for row in ids for i in row)
    # alone, a word-initial new piece is the segmentation of its word (also where the base knows every character)
    word_initial = [e for e in _new_entries(sp_base, extended) if e.startswith("\u2581")]
    assert word_initial and all(extended.encode(e[1:]).tokens == [e] for e in word_initial)
    known = [e for e, ids in zip(_new_entries(sp_base, extended), base_ids_of_new_entries(sp_base, extended))
             if e in word_initial and sp_base.special_ids["unk"] not in ids]
    assert known
    fast = AutoTokenizer.from_pretrained(out)
    for sentence, row in zip(HELD_OUT[:20] + JA_SENTENCES[:10], extended.encode_ids_batch(HELD_OUT[:20] + JA_SENTENCES[:10])):
        assert fast(sentence)["input_ids"] == [extended.special_ids["cls"], *row]


def test_mecab_dictionary_words_become_whole_entries(wp_base, wp_extended, manbyo):
    extended, report, out = wp_extended
    assert wp_base.encode("糖尿病性腎症").tokens != ["糖尿病性腎症"]
    assert extended.encode("患者は糖尿病性腎症と診断された。").tokens[2] == "糖尿病性腎症"
    assert report.user_dicts == [manbyo.name]
    assert (out / manbyo.name).is_file() and (out / "vocab.txt").read_text(encoding="utf-8").splitlines()[-ADD:] == report.entries
    diseases = [w for w in report.words if w["word"] in DISEASES]
    assert diseases and all(w["before"] != [w["word"]] and w["after"] == [w["word"]] and w["count"] > 1 for w in diseases)
    assert [w["count"] for w in report.words] == sorted((w["count"] for w in report.words), reverse=True)


def test_tokenizer_info_shows_the_extension(sp_extended, capsys):
    _, report, out = sp_extended
    assert main(["tokenizer", "info", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"+ {report.added} domain entries" in printed and "pieces per character on dev" in printed
    assert main(["tokenizer", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["extension"]["added"] == report.added
    assert ExtendReport.load(out) == report


def test_tokenizer_extend_command(published, tmp_path, capsys):
    corpus = _medical_corpus(tmp_path / "corpus")
    out = tmp_path / "extended"
    assert main(["tokenizer", "extend", str(published), str(corpus), str(out), "--add", str(ADD), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["measured_on"], report["sentences"]) == (ADD, "dev", len(HELD_OUT))
    assert report["pieces_per_char_after"] < report["pieces_per_char_before"]
    assert load_tokenizer(out).extends.base_fingerprint == load_tokenizer(published).fingerprint
    assert main(["tokenizer", "extend", str(published), str(corpus), str(tmp_path / "none"), "--add", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert "add 0: give the number of domain entries" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "none").exists()
    assert main(["tokenizer", "extend", str(published), str(corpus), str(tmp_path / "none"), "--add", "5000"]) == 2
    error = capsys.readouterr().err.strip()
    assert f"the domain corpus {corpus} gives" in error and "pass add=" in error and len(error.splitlines()) == 1


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("add", [0, -3])
def test_add_must_be_positive(sp_base, add):
    with pytest.raises(JarobertaError, match=f"add {add}: give the number"):
        extend_tokenizer(sp_base, DOMAIN, add)


def test_vocabulary_past_uint16_refused(sp_base):
    with pytest.raises(JarobertaError, match=r"past the 65,535 ids .* pass add=65,229 or fewer"):
        extend_tokenizer(sp_base, DOMAIN, 65_535 - sp_base.vocab_size + 1)


@pytest.mark.parametrize("kind", ["sp", "wp"])
def test_corpus_too_small_says_how_many_it_gives(kind, request):
    base = request.getfixturevalue(f"{kind}_base")
    with pytest.raises(JarobertaError, match=r"the domain corpus gives (\d+) new entries.*fewer than the 5,000 asked: pass add=\1"):
        extend_tokenizer(base, DOMAIN[:20], 5000)


def test_unknown_tokenizer_kind_refused():
    class Other:
        tokenizer_kind, vocab_size, fingerprint = "bpe", 100, "x"

    with pytest.raises(JarobertaError, match="which jaroberta cannot extend"):
        extend_tokenizer(Other(), DOMAIN, 10, base_name="gpt2")


def test_user_dict_with_sentencepiece_refused(sp_base, manbyo):
    with pytest.raises(JarobertaError, match="user_dicts applies to MeCab tokenizers only"):
        extend_tokenizer(sp_base, DOMAIN, 10, user_dicts=[manbyo])


# -- growing the model ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A tiny random RoBERTa in rinna's published layout (no jaroberta sidecar)."""
    return write_rinna_layout(tmp_path_factory.mktemp("published"), JA_SENTENCES)


@pytest.fixture(scope="module")
def published_extended(published, tmp_path_factory):
    base = load_tokenizer(published)
    extended, report = extend_tokenizer(base, DOMAIN, ADD, dev_sentences=HELD_OUT, base_name=str(published))
    return base, extended, save_extended(extended, report, tmp_path_factory.mktemp("published_extended"))


def _load(folder: Path):
    return AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32).eval()


def test_new_rows_are_means_of_base_pieces_and_old_rows_and_outputs_are_unchanged(published, published_extended):
    base, extended, _ = published_extended
    before, model = _load(published), _load(published)
    growth = grow_model(model, base, extended, base_model="tiny/published", revision="abc")
    assert (growth.base_vocab_size, growth.added, growth.init, growth.revision) == (base.vocab_size, ADD, INIT_METHOD, "abc")
    old_embeddings = before.get_input_embeddings().weight
    embeddings = model.get_input_embeddings().weight
    assert embeddings.shape[0] == model.config.vocab_size == extended.vocab_size
    assert model.get_output_embeddings().weight is embeddings  # still tied
    assert torch.equal(embeddings[: base.vocab_size], old_embeddings)
    assert torch.equal(model.lm_head.bias[: base.vocab_size], before.lm_head.bias)
    sources = base_ids_of_new_entries(base, extended)
    for row, (entry, ids) in enumerate(zip(_new_entries(base, extended), sources), start=base.vocab_size):
        assert "".join(base.id_to_token(i) for i in ids) == entry or base.special_ids["unk"] in ids
        torch.testing.assert_close(embeddings[row], old_embeddings[ids].mean(dim=0), rtol=0, atol=1e-7)
        torch.testing.assert_close(model.lm_head.bias[row], before.lm_head.bias[ids].mean(), rtol=0, atol=1e-7)
    sentence = next(s for s in JA_SENTENCES if not _sp_occurs(base, _new_entries(base, extended), s))
    ids = torch.tensor([[base.special_ids["cls"], *base.encode(sentence).ids]])
    assert ids.tolist()[0][1:] == extended.encode(sentence).ids
    with torch.no_grad():
        old, new = before(ids, output_hidden_states=True), model(ids, output_hidden_states=True)
    for a, b in zip(old.hidden_states, new.hidden_states):
        assert torch.equal(a, b)
    assert torch.equal(new.logits[..., : base.vocab_size], old.logits)


def test_embed_vectors_of_text_without_new_entries_are_unchanged_by_growing(published, published_extended, tmp_path):
    from jaroberta.infer.embeddings import embed
    from jaroberta.model.loading import load
    from jaroberta.model.saving import save_model

    base, extended, _ = published_extended
    sentences = [s for s in JA_SENTENCES if not _sp_occurs(base, _new_entries(base, extended), s)][:6]
    lm = load(published)
    before = embed(lm, sentences)
    grow_model(lm.model, base, extended)
    save_model(tmp_path / "grown", lm.model, extended, lm.conventions, {})
    grown = load(tmp_path / "grown")
    assert grown.tokenizer.fingerprint == extended.fingerprint
    assert (embed(grown, sentences) == before).all()


def test_bert_of_the_mecab_family_grows_the_same_way(wp_base, wp_extended):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=wp_base.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, pad_token_id=wp_base.special_ids["pad"])
    before = BertForMaskedLM(config).eval()
    with torch.no_grad():
        before.cls.predictions.bias.normal_()  # zeros would make the bias check vacuous
    model = BertForMaskedLM(config).eval()
    model.load_state_dict(before.state_dict())
    extended = wp_extended[0]
    grow_model(model, wp_base, extended)
    old, new = before.get_input_embeddings().weight, model.get_input_embeddings().weight
    assert torch.equal(new[: wp_base.vocab_size], old) and model.get_output_embeddings().weight is new
    bias, old_bias = model.cls.predictions.bias, before.cls.predictions.bias
    for row, ids in enumerate(base_ids_of_new_entries(wp_base, extended), start=wp_base.vocab_size):
        assert ids == wp_base.encode(extended.id_to_token(row)).ids
        torch.testing.assert_close(new[row], old[ids].mean(dim=0), rtol=0, atol=1e-7)
        torch.testing.assert_close(bias[row], old_bias[ids].mean(), rtol=0, atol=1e-7)
    ids = torch.tensor([[wp_base.special_ids["cls"], *wp_base.encode(JA_SENTENCES[0]).ids, wp_base.special_ids["sep"]]])
    with torch.no_grad():
        assert torch.equal(before(ids).logits, model(ids).logits[..., : wp_base.vocab_size])


def test_growing_to_an_unrelated_tokenizer_refused(published, published_extended, sp_extended):
    base, _, _ = published_extended
    with pytest.raises(JarobertaError, match="neither the base's .* nor an extension of it"):
        grow_model(_load(published), base, sp_extended[0])


def _medical_corpus(directory: Path) -> Path:
    for split, sentences in (("train", DOMAIN), ("dev", HELD_OUT)):
        (directory / split).mkdir(parents=True, exist_ok=True)
        documents = [sentences[i:i + 4] for i in range(0, len(sentences), 4)]
        with open(directory / split / "part-00000.txt", "w", encoding="utf-8") as handle:
            write_documents(handle, documents)
    return directory


def test_pretrain_init_from_grows_the_base_to_the_extended_shards(published, published_extended, sp_extended, tmp_path):
    base, extended, tokenizer_dir = published_extended
    corpus = _medical_corpus(tmp_path / "corpus")
    shards = tmp_path / "shards"
    pack(PackConfig(corpus=corpus, tokenizer=tokenizer_dir, out=shards, max_length=48))
    plan = plan_pretraining(PretrainConfig(shards=shards, out=tmp_path / "run", steps=1, init_from=published, micro_batch=4,
                                           eval_limit=4, lr=1e-12, warmup_steps=0, progress=False))
    result = pretrain(plan)
    grown, before = _load(result.model_dir), _load(published)
    embeddings, old = grown.get_input_embeddings().weight, before.get_input_embeddings().weight
    assert embeddings.shape[0] == extended.vocab_size
    torch.testing.assert_close(embeddings[: base.vocab_size], old, rtol=0, atol=1e-6)
    sources = base_ids_of_new_entries(base, extended)
    torch.testing.assert_close(embeddings[base.vocab_size:], torch.stack([old[ids].mean(dim=0) for ids in sources]), rtol=0, atol=1e-6)
    meta = json.loads((result.model_dir / "jaroberta_meta.json").read_text(encoding="utf-8"))
    assert meta["vocabulary_extension"]["added"] == ADD
    assert meta["vocabulary_extension"]["base_model"] == str(published)
    card = (result.model_dir / "README.md").read_text(encoding="utf-8")
    assert "## Vocabulary extension" in card and f"entries added for the domain: {ADD}" in card and INIT_METHOD in card

    # the grown model continues on the same shards as it is
    assert MaskedLMTask(plan_pretraining(PretrainConfig(shards=shards, out=tmp_path / "again", steps=1, init_from=result.model_dir))).growth is None

    # shards of an extension of another tokenizer: refused, with the way out
    other = tmp_path / "other_shards"
    pack(PackConfig(corpus=corpus, tokenizer=sp_extended[2], out=other, max_length=48))
    with pytest.raises(JarobertaError, match="different tokenizer than the shards .*which extends another tokenizer"):
        MaskedLMTask(plan_pretraining(PretrainConfig(shards=other, out=tmp_path / "refused", steps=1, init_from=published, micro_batch=4)))


def test_card_names_the_hub_base_model_and_its_revision():
    from jaroberta.model.card import CardFacts, build_card

    extension = {"base_model": "rinna/japanese-roberta-base", "revision": "9f8e7d6", "base_vocab_size": 32000, "added": 2000,
                 "init": INIT_METHOD, "base_tokenizer_fingerprint": "ab" * 32, "tokenizer_fingerprint": "cd" * 32}
    card = build_card(CardFacts(name="med", architecture="RobertaForMaskedLM", config={},
                                meta={"vocabulary_extension": extension}))
    assert card.data.base_model == "rinna/japanese-roberta-base"
    assert "- base model: `rinna/japanese-roberta-base` at revision `9f8e7d6`" in card.text
    assert "- entries added for the domain: 2000, appended after the base's" in card.text
    assert "## Vocabulary extension" not in build_card(CardFacts(name="m", architecture="RobertaForMaskedLM", config={})).text
