"""Hub ids wherever a model is taken: resolved once, through huggingface_hub's cache,
offline; a local folder of the same name wins; every mistake is one line."""

from __future__ import annotations

import logging

import pytest
import torch
from hub_cache import write_hub_cache
from layouts import MANBYO_FILE, _sentences, jmed_dir, manbyo_dic, rinna_dir, write_rinna_layout  # noqa: F401

import jaroberta
from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.core.hub import resolve_model
from jaroberta.text import load_tokenizer
from jaroberta.core.hub import resolve_model

REPO = "rinna/japanese-roberta-base"
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40
TEXT = "東京は日本の[MASK]である。"


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """An empty HF_HOME, offline: no test reaches the network."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no folder named like the id here
    return home


@pytest.fixture(scope="module")
def other_rinna_dir(tmp_path_factory):
    """Same layout as rinna_dir, other weights (seed 1): a second commit."""
    return write_rinna_layout(tmp_path_factory.mktemp("rinna_b"), _sentences(), seed=1)


def _logits(lm) -> torch.Tensor:
    ids = lm.frame(lm.tokenizer.encode(TEXT).ids)
    with torch.no_grad():
        return lm.model(**lm.batch_inputs([ids])).logits


def test_hub_id_loads_from_the_cache_offline(hub_home, rinna_dir):
    snapshot = write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)
    lm = jaroberta.load(REPO)
    assert lm.path == snapshot
    assert lm.conventions.name == "rinna"
    assert torch.equal(_logits(lm), _logits(jaroberta.load(rinna_dir)))


def test_revision_pins_a_commit(hub_home, rinna_dir, other_rinna_dir):
    write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)  # refs/main -> A
    write_hub_cache(hub_home / "hub", REPO, other_rinna_dir, COMMIT_B, ref=None)
    main_lm, pinned = jaroberta.load(REPO), jaroberta.load(REPO, revision=COMMIT_B)
    assert pinned.path.name == COMMIT_B and main_lm.path.name == COMMIT_A
    assert torch.equal(_logits(pinned), _logits(jaroberta.load(other_rinna_dir)))
    assert not torch.equal(_logits(pinned), _logits(main_lm))


def test_hub_cache_env_is_read_at_call_time(tmp_path, monkeypatch, rinna_dir):
    cache = tmp_path / "elsewhere"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    snapshot = write_hub_cache(cache, REPO, rinna_dir, COMMIT_A)
    assert resolve_model(REPO) == snapshot


def test_local_folder_of_the_same_name_wins_and_says_so(hub_home, rinna_dir, other_rinna_dir, tmp_path, caplog):
    write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)
    local = tmp_path / "rinna" / "japanese-roberta-base"
    local.parent.mkdir()
    local.symlink_to(other_rinna_dir, target_is_directory=True)
    with caplog.at_level(logging.INFO, logger="jaroberta.core.hub"):
        assert resolve_model(REPO) == local.relative_to(tmp_path)
    assert "using the local folder" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="jaroberta.core.hub"):  # a command resolves its model once
        assert main(["fill-mask", REPO, TEXT, "--json"]) == 0
    assert caplog.text.count("using the local folder") == 1


def test_tokenizer_by_hub_id(hub_home, rinna_dir):
    write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)
    assert load_tokenizer(resolve_model(REPO)).encode(TEXT).ids == load_tokenizer(rinna_dir).encode(TEXT).ids


def test_jmedroberta_by_hub_id_asks_for_its_user_dictionary(hub_home, jmed_dir, manbyo_dic):
    write_hub_cache(hub_home / "hub", "alabnii/jmedroberta-base-manbyo-wordpiece", jmed_dir, COMMIT_A)
    with pytest.raises(JarobertaError, match=MANBYO_FILE):
        jaroberta.load("alabnii/jmedroberta-base-manbyo-wordpiece")
    lm = jaroberta.load("alabnii/jmedroberta-base-manbyo-wordpiece", user_dict=[manbyo_dic])
    assert lm.conventions.name == "jmedroberta"


@pytest.mark.parametrize(
    "name, revision, expected",
    [
        # neither a folder nor a hub id
        ("no/such/model", None, "does not exist: no such folder, and not a Hugging Face hub id"),
        # a hub id with nothing cached, offline: the id, the cache, how to download it
        ("org/absent-model", None, "org/absent-model is not in the hub cache"),
        # a revision that is not in the cache
        (REPO, COMMIT_B, f"at revision {COMMIT_B} is not in the hub cache"),
    ],
)
def test_bad_names_are_one_line(hub_home, rinna_dir, name, revision, expected):
    write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)
    with pytest.raises(JarobertaError) as info:
        jaroberta.load(name, revision=revision)
    message = str(info.value)
    assert expected in message and "\n" not in message
    if "cache" in expected:
        assert str(hub_home / "hub") in message and "hf download" in message


def test_folder_without_tokenizer_is_one_line(hub_home, rinna_dir, tmp_path):
    bare = tmp_path / "org" / "bare"
    bare.mkdir(parents=True)
    (bare / "config.json").write_bytes((rinna_dir / "config.json").read_bytes())
    (bare / "model.safetensors").write_bytes((rinna_dir / "model.safetensors").read_bytes())
    with pytest.raises(JarobertaError, match="not a tokenizer folder"):
        jaroberta.load("org/bare")


def test_cli_takes_hub_id_and_revision(hub_home, rinna_dir, other_rinna_dir, capsys):
    write_hub_cache(hub_home / "hub", REPO, rinna_dir, COMMIT_A)
    write_hub_cache(hub_home / "hub", REPO, other_rinna_dir, COMMIT_B, ref=None)
    assert main(["fill-mask", REPO, TEXT, "--json", "--revision", COMMIT_B]) == 0
    by_id = capsys.readouterr().out
    assert main(["fill-mask", str(other_rinna_dir), TEXT, "--json"]) == 0
    assert by_id == capsys.readouterr().out
    assert main(["fill-mask", REPO, TEXT, "--revision", "c" * 40]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hf download" in err
