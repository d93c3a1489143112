"""`jaroberta adapt`: a tiny general model of the SentencePiece family adapted on medical text.

The base is a tiny random RoBERTa in rinna's published layout whose tokenizer learned
conftest's everyday sentences; the domain is test_extend's medical sentences written as raw
text (documents between blank lines), as a user hands them over. Checked: report.json with
the dev metric before and after, at most N entries added, base ids kept, pieces per
character down on held-out medical sentences, the card; at a learning rate of about zero
the new rows are the means of their base pieces' rows, the old rows and the `embed` vectors
of a general sentence without new entries are unchanged; each bad input is one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import JA_SENTENCES
from layouts import write_rinna_layout
from test_extend import ADD, DOMAIN, HELD_OUT, medical_sentences
from transformers import AutoModelForMaskedLM

import jaroberta
from jaroberta.adapt import DEFAULT_ADD, DEFAULT_MIN_COUNT, AdaptConfig, AdaptReport
from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.infer.embeddings import embed
from jaroberta.model.grow import INIT_METHOD
from jaroberta.model.loading import load
from jaroberta.text import load_tokenizer
from jaroberta.text.extend import base_ids_of_new_entries

UNSEEN = medical_sentences(40, seed=7)
"""Medical sentences of the same kind, neither in the domain text nor its dev split."""
FAST = ["--steps", "3", "--micro-batch", "4", "--max-length", "48", "--dev-fraction", "0.2", "--no-progress"]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A tiny random RoBERTa in rinna's published layout (no jaroberta sidecar)."""
    return write_rinna_layout(tmp_path_factory.mktemp("published"), JA_SENTENCES)


@pytest.fixture(scope="module")
def raw_text(tmp_path_factory) -> Path:
    """The domain as a user has it: a text file, one document per blank-line block."""
    sentences = DOMAIN + HELD_OUT
    documents = ["\n".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    path = tmp_path_factory.mktemp("raw") / "case_notes.txt"
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


def _general_without_new_entries(base, extended) -> list[str]:
    """Everyday sentences that no new piece occurs in (as SentencePiece sees them): their ids are the base's."""
    entries = [extended.id_to_token(i) for i in range(base.vocab_size, extended.vocab_size)]
    sentences = [s for s in JA_SENTENCES if extended.encode(s).ids == base.encode(s).ids
                 and not any(i >= base.vocab_size for i in extended.encode(s).ids)]
    assert len(sentences) > len(JA_SENTENCES) // 2 and entries
    return sentences


def test_adapt_end_to_end(published, raw_text, tmp_path, capsys):
    out = tmp_path / "adapted"
    assert main(["adapt", str(published), str(raw_text), str(out), "--add", str(ADD), *FAST]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for side in ("before", "after"):
        assert report[side]["bits_per_character"] > 0 and report[side]["standard_error"] > 0
        low, high = report[side]["interval"]
        assert low <= report[side]["bits_per_character"] <= high
        assert report[side]["yardstick"]["n_documents"] > 1
    # the same masked words for both models: whole words cut by script, not by either tokenizer
    assert report["before"]["yardstick"]["masked_words"] == report["after"]["yardstick"]["masked_words"]
    for side in ("before", "after"):
        yardstick = report[side]["yardstick"]
        assert report[side]["bits_per_word"] == pytest.approx(yardstick["bits"] / yardstick["masked_words"])
    assert report["after"]["pieces_per_character"] < report["before"]["pieces_per_character"]
    assert report["after"]["pieces_per_word"] < report["before"]["pieces_per_word"]
    assert 0 < report["extension"]["added"] <= ADD and report["extension"]["asked"] == ADD
    assert report["model"] == str(out / "model") and report["steps"] == 3
    assert "before" in printed and "after" in printed and "bits/char" in printed and "bits/word" in printed and str(out / "report.json") in printed

    base, adapted = load_tokenizer(published), load_tokenizer(out / "model")
    added = adapted.vocab_size - base.vocab_size
    assert 0 < added <= ADD and added == report["extension"]["added"] == report["after"]["vocab_size"] - base.vocab_size
    assert [adapted.id_to_token(i) for i in range(base.vocab_size)] == [base.id_to_token(i) for i in range(base.vocab_size)]
    assert adapted.extends.base_fingerprint == base.fingerprint
    characters = sum(map(len, UNSEEN))
    assert sum(map(len, adapted.encode_ids_batch(UNSEEN))) / characters < sum(map(len, base.encode_ids_batch(UNSEEN))) / characters
    card = (out / "model" / "README.md").read_text(encoding="utf-8")
    assert f"- dev domain_bits_per_character: {report['after']['bits_per_character']:.4f}" in card
    assert f"- base model: `{published}`" in card and f"entries added for the domain: {added}" in card and INIT_METHOD in card
    assert AutoModelForMaskedLM.from_pretrained(out / "model").get_input_embeddings().weight.shape[0] == adapted.vocab_size


def test_at_a_learning_rate_of_about_zero_the_base_is_kept(published, raw_text, tmp_path):
    report = jaroberta.adapt(published, raw_text, tmp_path / "adapted", steps=1, lr=1e-12, micro_batch=4, max_length=48,
                             dev_fraction=0.2)
    assert isinstance(report, AdaptReport)
    # the default --add: what this small corpus gives, each entry seen at least DEFAULT_MIN_COUNT times
    extension = report.extension
    assert (extension["asked"], extension["min_count"]) == (DEFAULT_ADD, DEFAULT_MIN_COUNT)
    assert 0 < extension["added"] == extension["available"] < DEFAULT_ADD
    base, adapted = load_tokenizer(published), load_tokenizer(report.model)
    before, after = load(published), load(report.model)
    old, new = before.model.get_input_embeddings().weight, after.model.get_input_embeddings().weight
    torch.testing.assert_close(new[: base.vocab_size], old, rtol=0, atol=1e-6)
    means = torch.stack([old[ids].mean(dim=0) for ids in base_ids_of_new_entries(base, adapted)])
    torch.testing.assert_close(new[base.vocab_size:], means, rtol=0, atol=1e-6)
    general = _general_without_new_entries(base, adapted)
    np.testing.assert_allclose(embed(after, general), embed(before, general), rtol=0, atol=1e-5)


@pytest.mark.slow  # two more adapt runs (about 15 s)
def test_no_extend_keeps_the_vocabulary(published, tmp_path, raw_text, capsys):
    out = tmp_path / "plain"
    assert main(["adapt", str(published), str(raw_text), str(out), "--no-extend", *FAST]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["extension"] is None
    assert report["before"]["vocab_size"] == report["after"]["vocab_size"] == load_tokenizer(published).vocab_size
    assert report["before"]["pieces_per_character"] == report["after"]["pieces_per_character"]
    assert "no entries added (--no-extend)" in capsys.readouterr().out
    # a corpus folder as INPUT is used as it is
    assert main(["adapt", str(published), str(out / "corpus"), str(tmp_path / "again"), "--no-extend", *FAST]) == 0
    assert not (tmp_path / "again" / "corpus").exists()


# -- bad input: one line naming the input and what to do --------------------------------------------
def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def test_bad_input_is_one_line(published, raw_text, tmp_path, capsys):
    out = str(tmp_path / "out")
    error = _error(capsys, ["adapt", str(published), str(raw_text), out, "--add", "0"])
    assert "add 0: give the number of domain entries" in error and "--no-extend" in error
    error = _error(capsys, ["adapt", str(published), str(raw_text), out, "--add", "5000", *FAST])
    assert "gives" in error and "fewer than the 5,000 asked: pass add=" in error and "corpus" in error
    error = _error(capsys, ["adapt", str(published), str(raw_text), out, "--add", "65535", *FAST])
    assert "past the 65,535 ids packed shards hold as uint16" in error and "pass add=" in error
    error = _error(capsys, ["adapt", str(published), str(tmp_path / "missing.txt"), out])
    assert "missing.txt does not exist" in error
    error = _error(capsys, ["adapt", str(published), str(raw_text), out, "--add", "10", "--no-extend"])
    assert "give one or the other" in error


def test_base_whose_tokenizer_cannot_be_extended(raw_text, tmp_path, capsys):
    """A model folder with a byte-level BPE tokenizer (GPT-2's kind): no family jaroberta extends."""
    from tokenizers import Tokenizer, models

    base = tmp_path / "bpe-model"
    base.mkdir()
    (base / "config.json").write_text(json.dumps({"model_type": "roberta", "vocab_size": 10}), encoding="utf-8")
    Tokenizer(models.BPE()).save(str(base / "tokenizer.json"))
    error = _error(capsys, ["adapt", str(base), str(raw_text), str(tmp_path / "out")])
    assert f"BASE {base}" in error and "adapt extends SentencePiece (rinna family) and MeCab + WordPiece" in error
    assert not (tmp_path / "out").exists()  # refused before any work


def test_config_and_verb_agree():
    """The verb's keyword defaults are the config's (the CLI and Python take the same defaults)."""
    import dataclasses
    import inspect

    from jaroberta.adapt import adapt

    parameters = inspect.signature(adapt).parameters
    for field in dataclasses.fields(AdaptConfig):
        if field.name in ("base", "input", "out"):
            continue
        assert parameters[field.name].default == field.default, field.name
    with pytest.raises(JarobertaError, match="steps must be >= 1"):
        AdaptConfig(base="x", input=Path(__file__), out=Path("o"), steps=0)


@pytest.mark.slow  # an adapt run that times a few steps first
def test_minutes_turn_into_steps(published, raw_text, tmp_path):
    from jaroberta.adapt import STEP_LIMITS

    report = jaroberta.adapt(published, raw_text, tmp_path / "timed", extend=False, minutes=0.01, micro_batch=4,
                             max_length=48, dev_fraction=0.2)
    assert report.steps >= STEP_LIMITS[0] and report.config["minutes"] == 0.01
