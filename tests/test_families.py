"""The family registry: every name resolves, each family states its parts, published layouts are
recognised by one rule, and a family is one entry (cl-tohoku's added without touching a consumer)."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.errors import JarobertaError
from jaroberta.model.families import JMEDROBERTA, RINNA
from jaroberta.model.families import FAMILIES, NAMES, family_of_tokenizer, get_family
from jaroberta.model.loading import detect_conventions
from jaroberta.model.presets import PRESETS
from jaroberta.model.families import RECIPES
from jaroberta.text.normalize import Normalization


@pytest.mark.parametrize("name", ["rinna", "jmedroberta", "tohoku"])
def test_every_name_resolves(name):
    assert get_family(name).name == name


def test_unknown_family_names_the_choices():
    with pytest.raises(JarobertaError, match="unknown model family 'bpe'.*rinna.*tohoku"):
        get_family("bpe")
    with pytest.raises(JarobertaError, match="sentencepiece is a tokenizer kind"):
        get_family("sentencepiece")  # "family" means a model family only


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_names_parts_that_exist(family):
    entry = FAMILIES[family]
    assert entry.recipe in RECIPES and entry.base_preset in PRESETS and entry.cpu_preset in PRESETS
    assert PRESETS[entry.base_preset].model_type == PRESETS[entry.cpu_preset].model_type == entry.model_type
    assert entry.conventions.mask_token in entry.demo_text
    assert family in NAMES


@pytest.mark.parametrize("family, kind, vocab, system_dict, normalization", [
    ("rinna", "sentencepiece", 32000, "ipadic", Normalization(lowercase=True)),
    ("jmedroberta", "mecab-wordpiece", 30000, "ipadic", Normalization(full_width=True)),
    ("tohoku", "mecab-wordpiece", 32768, "unidic-lite", Normalization(nfkc=True)),
])
def test_tokenizer_config_carries_the_family_defaults(tmp_path, family, kind, vocab, system_dict, normalization):
    (tmp_path / "t.txt").write_text("文。\n", encoding="utf-8")
    config = get_family(family).tokenizer_config(inputs=(tmp_path / "t.txt",))
    assert (config.tokenizer_kind, config.vocab_size, config.system_dict, config.normalization) == (kind, vocab, system_dict, normalization)
    assert get_family(family).tokenizer_config(inputs=(tmp_path / "t.txt",), vocab_size=500).vocab_size == 500


@pytest.mark.parametrize("kind, system_dict, family", [
    ("sentencepiece", None, "rinna"), ("mecab-wordpiece", "ipadic", "jmedroberta"),
    ("mecab-wordpiece", "unidic-lite", "tohoku"), ("mecab-wordpiece", None, "jmedroberta"),
])
def test_a_tokenizer_belongs_to_one_family(kind, system_dict, family):
    assert family_of_tokenizer(kind, system_dict).name == family


def test_conventions_for_our_models_keep_the_seed_framing():
    ours = get_family("rinna").conventions_for(Normalization(lowercase=True), 128)
    assert (ours.name, ours.prefix, ours.suffix, ours.explicit_position_ids, ours.max_length) == ("rinna-style", ("[CLS]",), (), True, 128)


def test_published_layouts_detected_by_one_rule(rinna_dir, jmed_dir, tmp_path):
    assert detect_conventions(rinna_dir) == RINNA
    assert detect_conventions(jmed_dir).with_overrides(dictionaries=()) == JMEDROBERTA
    # cl-tohoku's layout: JMedRoBERTa's files with UniDic and the tokenizer's own NFKC.
    tohoku = shutil.copytree(jmed_dir, tmp_path / "tohoku")
    config = json.loads((tohoku / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["mecab_kwargs"] = {"mecab_dic": "unidic_lite"}
    (tohoku / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    detected = detect_conventions(tohoku)
    assert (detected.name, detected.normalization, detected.suffix, detected.dictionaries) == ("tohoku", Normalization(nfkc=True), ("[SEP]",), ())


# -- family knowledge lives in families.py --------------------------------------------------------
SRC = Path(__file__).resolve().parents[1] / "src" / "jaroberta"


def _docstrings(tree: ast.AST) -> set[int]:
    """The string statements of a module: docstrings of modules, classes, functions and fields."""
    bodies = [node.body for node in ast.walk(tree) if isinstance(getattr(node, "body", None), list)]
    return {id(statement.value) for body in bodies for statement in body
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)}


def _family_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    return [f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in FAMILIES and id(node) not in docs]


def test_family_names_appear_in_code_only_in_families_py():
    """A family switch elsewhere (`if family.name == "jmedroberta"`) is knowledge out of its place:
    give the Family entry a field instead. Prose (docstrings, comments, messages) may name them."""
    found = [hit for path in sorted(SRC.rglob("*.py")) if path != SRC / "model" / "families.py"
             for hit in _family_literals(path)]
    assert not found, "family names in code outside model/families.py:\n" + "\n".join(found)
    assert _family_literals(SRC / "model" / "families.py")  # the check sees them where they belong
