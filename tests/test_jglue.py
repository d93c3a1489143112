"""Reading a JGLUE checkout: folders, versions, files, every task's format, bad input, settings, results.md.

The files are written here in JGLUE's formats (JGLUE's data is never committed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaroberta.errors import JarobertaError
from jaroberta.finetune import jglue
from jaroberta.finetune.jglue_metrics import squad_scores

JSTS = [
    {"sentence_pair_id": "0", "yjcaptions_id": "100312_421853-104611-31624", "sentence1": "レンガの建物の前を女性が歩いています。",
     "sentence2": "厩舎で馬と女性とが寄り添っています。", "label": 0.0},
    {"sentence_pair_id": "1", "yjcaptions_id": "10-11-12", "sentence1": "バスが走っています。", "sentence2": "道路をバスが走る。", "label": 4.4},
]
JNLI = [{"sentence_pair_id": "7", "yjcaptions_id": "1-2-3", "sentence1": "猫が寝ている。", "sentence2": "動物がいる。", "label": "entailment"}]
JCQA = [{"q_id": 3016, "question": "会社の最高責任者を何というか？", "choice0": "社長", "choice1": "教師", "choice2": "部長",
         "choice3": "バイト", "choice4": "部下", "label": 0}]
MARC = [{"sentence": "とても良い商品でした。", "label": "positive", "review_id": "R2H83XHJUDZBHT"}]
JSQUAD = {"version": "v1.0", "data": [{"title": "梅雨", "paragraphs": [{"context": "梅雨 [SEP] 梅雨は北海道と小笠原諸島を除く日本で見られる。", "qas": [
    {"question": "梅雨がないのはどこか。", "id": "a10336p0q0", "is_impossible": False,
     "answers": [{"text": "北海道", "answer_start": 12}, {"text": "北海道と小笠原諸島", "answer_start": 12}]}]}]}]}


def _lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.fixture()
def checkout(tmp_path) -> Path:
    """A JGLUE checkout: two JSTS versions, JNLI without valid, user-converted MARC-ja (version 1.0 file names), no JSQuAD."""
    data = tmp_path / "JGLUE" / "datasets"
    for version in ("1.1", "1.3"):
        for split in ("train", "valid", "test"):
            _lines(data / f"jsts-v{version}" / f"{split}-v{version}.json", JSTS)
    _lines(data / "jnli-v1.3" / "train-v1.3.json", JNLI)
    for split in ("train", "valid"):
        _lines(data / "jcommonsenseqa-v1.3" / f"{split}-v1.3.json", JCQA)
        _lines(data / "marc_ja-v1.3" / f"{split}-v1.0.json", MARC)  # marc-ja.py's --version defaults to 1.0
    (data / "marc_ja-v1.2").mkdir()  # JGLUE ships an empty placeholder
    (data / "marc_ja-v1.2" / ".gitkeep").touch()
    return tmp_path / "JGLUE"


@pytest.mark.parametrize("given", ["root", "datasets"])
def test_find_tasks_picks_the_newest_version_and_says_what_it_skips(checkout, given):
    search = jglue.find_tasks(checkout if given == "root" else checkout / "datasets")
    assert list(search.found) == ["marc-ja", "jsts", "jcommonsenseqa"]
    jsts = search.found["jsts"]
    assert (jsts.version, jsts.train.name, jsts.valid.name) == ("1.3", "train-v1.3.json", "valid-v1.3.json")
    assert search.found["marc-ja"].valid.name == "valid-v1.0.json"
    assert search.skipped == {
        "jnli": f"{checkout / 'datasets' / 'jnli-v1.3'} has no valid-v1.3.json",
        "jsquad": f"no jsquad-v<version> folder in {checkout / 'datasets'}",
    }


def test_version_order_is_numeric(tmp_path):
    for version in ("1.3", "1.10", "1.9"):
        for split in ("train", "valid"):
            _lines(tmp_path / f"jnli-v{version}" / f"{split}-v{version}.json", JNLI)
    assert jglue.find_tasks(tmp_path, "jnli").found["jnli"].version == "1.10"


def test_task_names_are_checked_and_put_in_jglue_order():
    assert jglue.parse_tasks("jsquad, JSTS") == ["jsts", "jsquad"]
    assert jglue.parse_tasks(None) == ["marc-ja", "jsts", "jnli", "jsquad", "jcommonsenseqa"]
    with pytest.raises(JarobertaError, match="unknown JGLUE task.*jglue-x; known: marc-ja, jsts, jnli, jsquad, jcommonsenseqa"):
        jglue.parse_tasks("jsts,jglue-x")


def test_a_folder_that_is_not_jglue_is_refused(tmp_path):
    with pytest.raises(JarobertaError, match="neither datasets/ nor task folders"):
        jglue.find_tasks(tmp_path)
    with pytest.raises(JarobertaError, match="does not exist"):
        jglue.find_tasks(tmp_path / "missing")


def test_every_format_reads_into_typed_records_with_jglue_ids(checkout, tmp_path):
    search = jglue.find_tasks(checkout)
    jsts = jglue.read_split(search.found["jsts"], "valid").records
    assert [(r.id, r.label) for r in jsts] == [("0", 0.0), ("1", 4.4)]
    assert jsts[1].first == "バスが走っています。" and jsts[1].where.line == 2
    choice = jglue.read_split(search.found["jcommonsenseqa"], "train").records[0]
    assert (choice.id, choice.choices[0], len(choice.choices), choice.label) == (3016, "社長", 5, 0)
    review = jglue.read_split(search.found["marc-ja"], "valid").records[0]
    assert (review.id, review.text, review.label) == ("R2H83XHJUDZBHT", "とても良い商品でした。", "positive")
    _lines(tmp_path / "jnli.json", JNLI)
    assert jglue.read_task("jnli", tmp_path / "jnli.json").records[0].label == "entailment"
    squad = tmp_path / "valid-v1.3.json"
    squad.write_text(json.dumps(JSQUAD, ensure_ascii=False), encoding="utf-8")
    data = jglue.read_task("jsquad", squad)
    assert data.answers.matched == 2
    golds = jglue.gold_answers(data.records)
    assert golds == {"a10336p0q0": ["北海道", "北海道と小笠原諸島"]}
    assert squad_scores(golds, {"a10336p0q0": "北海道と小笠原諸島"}) == {"exact_match": 1.0, "f1": 1.0}


def test_a_choice_line_may_have_any_number_of_choices(tmp_path):
    _lines(tmp_path / "three.json", [{"q_id": 1, "question": "どれ？", "choice0": "a", "choice1": "b", "choice2": "c", "label": 2}])
    assert jglue.read_task("jcommonsenseqa", tmp_path / "three.json").records[0].choices == ("a", "b", "c")


BAD_LINES = [
    # task, the bad second line, what the error says after "file:2:"
    ("jsts", '{"sentence_pair_id": "1", "sentence1": "a", "sentence2": "b", "label": 4.4', "not valid JSON"),
    ("jsts", '{"sentence_pair_id": "1", "sentence1": "a", "sentence2": "b", "label": 7}', "JSTS 'label' must be a number from 0 to 5"),
    ("jsts", '{"sentence_pair_id": "1", "sentence1": "a", "label": 1.0}', "'sentence2' must be a non-empty string"),
    ("jnli", '{"sentence1": "a", "sentence2": "b", "label": "neutral"}', "no 'sentence_pair_id'"),
    ("jcommonsenseqa", '{"q_id": 2, "question": "q", "choice0": "a", "choice1": "b", "label": 2}', "'label' must be the index of a choice \\(0 to 1\\)"),
    ("jcommonsenseqa", '{"q_id": 2, "question": "q", "choice0": "a", "label": 0}', "a multiple-choice line needs choice0, choice1"),
    ("marc-ja", '["R1", "良い", "positive"]', "expected a JSON object"),
    ("jsts", json.dumps(JSTS[0]), "sentence_pair_id '0' also at line 1"),
]


@pytest.mark.parametrize("task, line, message", BAD_LINES)
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, task, line, message):
    first = {"jsts": JSTS, "jnli": JNLI, "jcommonsenseqa": JCQA, "marc-ja": MARC}[task][0]
    path = tmp_path / "valid-v1.3.json"
    path.write_text(json.dumps(first, ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(JarobertaError, match=f"^{path}:2: {message}"):
        jglue.read_task(task, path)


def test_settings_are_jglues():
    assert {name: s.max_length for name, s in jglue.SETTINGS.items()} == {
        "marc-ja": 512, "jsts": 128, "jnli": 128, "jsquad": 384, "jcommonsenseqa": 64}
    settings = jglue.SETTINGS["jsquad"]
    assert (settings.warmup_ratio, settings.batch_size) == (0.1, 32)
    assert settings.grid() == [(5e-5, 3), (5e-5, 4), (3e-5, 3), (3e-5, 4), (2e-5, 3), (2e-5, 4)]
    assert {name: spec.id_field for name, spec in jglue.TASKS.items()} == {
        "marc-ja": "review_id", "jsts": "sentence_pair_id", "jnli": "sentence_pair_id", "jsquad": "id", "jcommonsenseqa": "q_id"}


def test_pick_best_chooses_on_the_first_metric_and_never_a_nan():
    runs = {(5e-5, 3): {"pearson": 0.80, "spearman": 0.9}, (3e-5, 4): {"pearson": 0.85, "spearman": 0.7},
            (2e-5, 3): {"pearson": float("nan"), "spearman": 0.99}}
    assert jglue.pick_best("jsts", runs) == (3e-5, 4)


def test_results_markdown_puts_the_model_beside_jglues_rows():
    results = {"jsts": {"pearson": 0.5, "spearman": 0.41234}, "jnli": {"accuracy": 0.6},
               "jsquad": {"exact_match": 0.25, "f1": 0.5, "boundary_ceiling": 0.835}}
    text = jglue.results_markdown([("tiny", results), ("tiny (JSTS zero-shot)", {"jsts": {"pearson": 0.1, "spearman": 0.2}})])
    lines = text.splitlines()
    assert lines[2:5] == ["|Model|MARC-ja|JSTS|JNLI|JSQuAD|JCommonsenseQA|", "|-----|-------|-------|-------|-------|-------|",
                          "||acc|Pearson/Spearman|acc|EM/F1|acc|"]
    assert lines[5] == "|**tiny**|-|0.500/0.412|0.600|0.250/0.500|-|"
    assert lines[6] == "|**tiny (JSTS zero-shot)**|-|0.100/0.200|-|-|-|"
    # JGLUE README v1.3.0's dev rows, as printed there
    assert "|Tohoku BERT base|0.958|0.909/0.868|0.906|0.871/0.941|0.808|" in lines
    assert "|Waseda RoBERTa base|0.962|0.913/0.873|0.900|0.864/0.927|0.840|" in lines
    assert "|XLM RoBERTa base|0.961|0.877/0.831|0.898|-|0.687|" in lines
    assert "yahoojapan/JGLUE v1.3.0" in text
