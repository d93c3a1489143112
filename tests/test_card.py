"""Model cards: huggingface_hub metadata and the sections a seed model's card has."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard
from test_pack import corpus_dir, shards_dir, tokenizer_dir  # noqa: F401  (fixtures)

from jaroberta.cli import main
from jaroberta.model.card import CardFacts, build_card, spdx_expression

CONFIG = {"architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 2, "intermediate_size": 256, "vocab_size": 300, "max_position_embeddings": 50}
CONVENTIONS = {"name": "rinna", "normalization": {"nfkc": False, "full_width": False, "lowercase": True},
               "prefix": ["[CLS]"], "suffix": [], "mask_token": "[MASK]", "explicit_position_ids": True,
               "position_start": 0, "max_length": 48}
CORPUS = {"splits": {"train": {"documents": 120, "sentences": 900, "characters": 40000},
                      "dev": {"documents": 2, "sentences": 10, "characters": 400}},
          "sources": [{"name": "debian-reference-ja", "version": "2.1", "license": "GPL-2+"}]}
CLEANING = {"rules": {"too_short": {"what": "sentences under the minimum length", "sentences": 12}}}
META = {"step": 200, "tokens": 51200, "elapsed": 93.0, "metrics": {"dev_loss": 4.2, "dev_rows_perplexity": 66.7},
        "loop": {"lr": 6e-4, "steps": 200}, "hardware": "2 CPU cores (x86_64)"}


def _facts(**changes) -> CardFacts:
    base = {"name": "tiny-ja", "architecture": "RobertaForMaskedLM", "config": CONFIG, "parameters": 127212,
            "tokenizer_kind": "sentencepiece", "conventions": CONVENTIONS, "meta": META, "corpus": CORPUS, "cleaning": CLEANING}
    return CardFacts(**{**base, **changes})


def test_metadata_is_huggingface_hub_card_data():
    card = ModelCard(str(build_card(_facts())))
    data = card.data
    assert data.language == "ja" and data.library_name == "transformers" and data.pipeline_tag == "fill-mask"
    # GPL-2+ is GPL-2.0-or-later, which no hub license id says ("gpl-2.0" would lose "or later")
    assert (data.license, data.license_name) == ("other", "gpl-2.0-or-later")
    assert data.license_link == "https://spdx.org/licenses/GPL-2.0-or-later.html"
    assert data.datasets is None  # Debian package names are no hub dataset ids: the text names them
    results = {r.metric_name: r.metric_value for r in data.eval_results}
    assert results == {"dev_loss": 4.2, "dev_rows_perplexity": 66.7}
    assert data.eval_results[1].metric_type == "perplexity"


@pytest.mark.parametrize(
    "section, expected",
    [
        ("## Model", "parameters: 127,212"),
        ("## Tokenizer and input conventions", "position ids: passed explicitly, from 0"),
        ("## Tokenizer and input conventions", "normalization before tokenization: lowercase"),
        ("## Training data", "train: 120 documents, 900 sentences, 40,000 characters"),
        ("## Training data", "license GPL-2+"),
        ("## Training data", "too_short"),
        ("## Training procedure", "| wall time | 93 s |"),
        ("## Training procedure", "| hardware | 2 CPU cores (x86_64) |"),
        ("## Training procedure", "| lr | 0.0006 |"),
        ("## Training procedure", "| tokens seen | 51200 |"),
        ("## Results", "dev_rows_perplexity: 66.7000"),
        ("## How to use", "position_ids=positions"),
        ("## Limitations", "biases"),
    ],
)
def test_body_sections(section, expected):
    text = str(build_card(_facts()))
    body = text.split(section, 1)[1].split("\n## ", 1)[0]
    assert expected in body


def test_license_option_wins_and_mixed_licenses_are_other():
    assert build_card(_facts(license="apache-2.0")).data.license == "apache-2.0"
    mixed = {**CORPUS, "sources": [{"name": "a", "license": "MIT"}, {"name": "b", "license": "GPL-2+"}]}
    assert build_card(_facts(corpus=mixed)).data.license == "other"
    one = {**CORPUS, "sources": [{"name": "a", "license": "Apache-2.0"}]}
    assert build_card(_facts(corpus=one)).data.license == "apache-2.0"
    user_file = {**CORPUS, "sources": [{"name": "/data/ja.txt", "license": "not recorded (user input)"}]}
    data = build_card(_facts(corpus=user_file)).data
    assert (data.license, data.license_name, data.datasets) == ("other", None, None)


DEMO_SOURCES = [  # the default corpus's four packages, licenses as their copyright files say
    {"name": "libreoffice-help-ja", "version": "4:7.4.7-1+deb12u14", "license": "MPL-2.0", "origin": "Debian package"},
    {"name": "debian-reference-ja", "version": "2.100", "license": "GPL-2+", "origin": "Debian package"},
    {"name": "developers-reference-ja", "version": "12.18", "license": "GPL-2+", "origin": "Debian package"},
    {"name": "maint-guide-ja", "version": "1.2.53", "license": "GPL-2.0+", "origin": "Debian package"},
]


def test_compound_corpus_license_is_one_deduplicated_spdx_expression():
    card = build_card(_facts(corpus={**CORPUS, "sources": DEMO_SOURCES}))
    assert (card.data.license, card.data.license_name) == ("other", "gpl-2.0-or-later-and-mpl-2.0")
    assert card.data.datasets is None
    body = str(card).split("## Training data", 1)[1].split("\n## ", 1)[0]
    assert "`GPL-2.0-or-later AND MPL-2.0`" in body
    assert all(f"source `{s['name']}` {s['version']} (Debian package)" in body for s in DEMO_SOURCES)


@pytest.mark.parametrize(
    ("licenses", "expression"),
    [
        (["GPL-2+", "GPL-2.0+", "MPL-2.0"], "GPL-2.0-or-later AND MPL-2.0"),
        (["GPL-2", "GPL-2+"], "GPL-2.0-only AND GPL-2.0-or-later"),
        (["Expat", "MIT"], "MIT"),
        (["LGPL-2.1+"], "LGPL-2.1-or-later"),
        (["apache-2.0"], "Apache-2.0"),
        (["gpl-3.0-or-later"], "GPL-3.0-or-later"),
        (["Some License 1"], "LicenseRef-Some-License-1"),
    ],
)
def test_spdx_expression(licenses, expression):
    assert spdx_expression(licenses) == expression


def test_single_spdx_id_that_is_a_hub_id_stays_one():
    for license, hub in (("GPL-2", "gpl-2.0"), ("MPL-2.0", "mpl-2.0"), ("Expat", "mit")):
        data = build_card(_facts(corpus={**CORPUS, "sources": [{"name": "a", "license": license}]})).data
        assert (data.license, data.license_name) == (hub, None)


def test_exported_sentencepiece_card_uses_the_pipeline():
    facts = _facts(conventions={**CONVENTIONS, "explicit_position_ids": False}, notes=["something stays inexact"])
    text = str(build_card(facts))
    assert 'pipeline("fill-mask"' in text and "- something stays inexact" in text


def test_pretrain_writes_a_card_into_model(shards_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["pretrain", str(shards_dir), str(out), "--preset", "tiny", "--steps", "2", "--micro-batch", "4",
                 "--eval-limit", "8", "--license", "apache-2.0"]) == 0
    card = ModelCard.load(out / "model" / "README.md")
    assert card.data.pipeline_tag == "fill-mask" and card.data.license == "apache-2.0"
    assert (out / "model" / "loss.png").is_file() and "![loss curve](loss.png)" in card.text
    assert "dev_rows_perplexity" in {r.metric_name for r in card.data.eval_results}
    assert "## Training procedure" in card.text and "| optimizer steps | 2 |" in card.text
