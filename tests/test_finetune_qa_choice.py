"""The `qa` and `choice` fine-tuning kinds on tiny models of both families: SQuAD v1 files and
JCommonsenseQA-like lines written here, windows over long contexts, answers as spans of the
context, corrected and rejected answers counted, the word-boundary option kept by the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import transformers
from conftest import JA_SENTENCES
from huggingface_hub import ModelCard
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.finetune.finetuned import load_finetuned
from jaroberta.finetune.jglue_metrics import accuracy, squad_scores
from jaroberta.finetune.predict import predict
from jaroberta.finetune.run import FinetuneConfig, finetune, finetune_loop
from jaroberta.text import load_tokenizer

PLACES = ["東京", "日本", "京都", "富士山", "公園", "図書館", "駅前", "病院"]


def squad_file(path: Path, broken: bool = False) -> Path:
    """SQuAD v1 JSON as JSQuAD ships it: contexts of several sentences, the answer a place named in it.
    `broken`: one answer_start off by two (corrected), one answer absent from its context (not trained on)."""
    paragraphs = []
    for i in range(12):
        sentences = [JA_SENTENCES[(i + k) % len(JA_SENTENCES)] for k in range(6)]
        context = "".join(sentences)
        place = next((p for p in PLACES if p in context), None)
        if place is None:
            continue
        qas = [{"id": f"a{i}p0q0", "question": "どこの話か。", "answers": [{"text": place, "answer_start": context.index(place)}]}]
        paragraphs.append({"context": context, "qas": qas})
    if broken:
        paragraphs[0]["qas"][0]["answers"][0]["answer_start"] += 2
        paragraphs[1]["qas"].append({"id": "missing", "question": "何か。", "answers": [{"text": "大阪城", "answer_start": 3}]})
    path.write_text(json.dumps({"version": "v1.0", "data": [{"title": "t", "paragraphs": paragraphs}]}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def choice_file(path: Path, choices: int = 3) -> Path:
    """Questions whose right choice is the sentence itself among others (learnable by a tiny model)."""
    n = len(JA_SENTENCES)
    records = []
    for i, sentence in enumerate(JA_SENTENCES[:16]):
        options = [JA_SENTENCES[(i + k * 7) % n][:12] for k in range(choices)]
        label = i % choices
        options[0], options[label] = options[label], options[0]
        records.append({"q_id": i, "question": sentence[:12], **{f"choice{k}": c for k, c in enumerate(options)}, "label": label})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["rinna", pytest.param("jmed", marks=pytest.mark.slow)])
def family(request, rinna_dir):
    if request.param == "rinna":
        return request.param, rinna_dir, ()
    return request.param, request.getfixturevalue("jmed_dir"), (request.getfixturevalue("manbyo_dic"),)


@pytest.fixture(scope="module")
def qa_run(family, tmp_path_factory):
    """QA with windows of 40 ids and a stride of 8 pieces: every context spans several windows."""
    name, model_dir, user_dicts = family
    root = tmp_path_factory.mktemp(f"qa-{name}")
    data = squad_file(root / "train-v1.3.json", broken=True)
    config = FinetuneConfig(task="qa", model=model_dir, out=root / "run", train=data, dev=data, user_dicts=user_dicts,
                            max_length=40, stride=8, steps=6, batch_size=16, warmup_ratio=0.0, patience=0, metric="loss",
                            word_boundaries="mecab" if name == "rinna" else None,
                            loop=finetune_loop(lr=2e-3, seed=1, progress=False))
    return name, data, user_dicts, finetune(config)


def test_qa_reports_windows_answers_and_the_boundary_ceiling(qa_run):
    name, data, user_dicts, result = qa_run
    written = json.loads((result.run_dir / "results.json").read_text(encoding="utf-8"))
    for split in ("train", "dev"):
        encoding = written["encoding"][split]
        assert encoding["windows"] > encoding["rows"]  # long contexts became strided windows
        assert encoding["answers"] == {"gold": encoding["rows"], "corrected": 1, "not_found": 1}
        assert 0.0 < encoding["boundary_ceiling"] <= 1.0
    assert {"exact_match", "f1", "loss"} <= set(written["metrics"]["dev"])
    meta = json.loads((result.model_dir / "jaroberta_meta.json").read_text(encoding="utf-8"))
    assert meta["finetune"] == {"task": "qa", "objective": "extraction", "labels": [], "auto_class": "AutoModelForQuestionAnswering",
                                "max_length": 40, "stride": 8, "max_answer_length": 30}
    plain = transformers.AutoModelForQuestionAnswering.from_pretrained(result.model_dir)
    assert type(plain).__name__ == ("RobertaForQuestionAnswering" if name == "rinna" else "BertForQuestionAnswering")
    assert ModelCard.load(result.model_dir / "README.md").data.pipeline_tag == "question-answering"


def test_qa_predictions_are_spans_of_the_context_and_reproduce_the_scores(qa_run):
    name, data, user_dicts, result = qa_run
    model = load_finetuned(result.model_dir, user_dicts=list(user_dicts) or None)
    questions = [(p["context"], qa) for a in json.loads(data.read_text(encoding="utf-8"))["data"]
                 for p in a["paragraphs"] for qa in p["qas"]]
    predictions = predict(model, [{"question": qa["question"], "context": context} for context, qa in questions])
    for (context, qa), prediction in zip(questions, predictions):
        assert prediction["answer"] == context[prediction["start"] : prediction["end"]] and prediction["answer"] in context
    golds = {qa["id"]: [a["text"] for a in qa["answers"]] for _, qa in questions}
    recomputed = squad_scores(golds, {qa["id"]: p["answer"] for (_, qa), p in zip(questions, predictions)})
    assert recomputed == pytest.approx({k: result.results["metrics"]["dev"][k] for k in ("exact_match", "f1")})


def test_the_word_boundary_option_is_kept_by_the_folder(qa_run):
    name, data, user_dicts, result = qa_run
    tokenizer = load_tokenizer(result.model_dir, user_dicts=list(user_dicts) or None)
    assert getattr(tokenizer, "word_boundaries", None) == ("mecab" if name == "rinna" else None)


def test_choice_learns_and_predicts_a_choice_index(family, tmp_path):
    name, model_dir, user_dicts = family
    choices = 3 if name == "rinna" else 5  # JCommonsenseQA has 5; the file decides
    data = choice_file(tmp_path / "train-v1.3.json", choices)
    result = finetune(FinetuneConfig(task="choice", model=model_dir, out=tmp_path / "run", train=data, dev=data, user_dicts=user_dicts,
                                     steps=6, batch_size=8, warmup_ratio=0.0, patience=0, metric="loss",
                                     loop=finetune_loop(lr=2e-3, seed=1, progress=False)))
    assert result.results["metrics"]["dev"]["loss"] < result.results["dev_before_training"]["dev_loss"]
    plain = transformers.AutoModelForMultipleChoice.from_pretrained(result.model_dir)
    assert type(plain).__name__ == ("RobertaForMultipleChoice" if name == "rinna" else "BertForMultipleChoice")
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    model = load_finetuned(result.model_dir, user_dicts=list(user_dicts) or None)
    predictions = predict(model, [{"question": r["question"], "choices": [r[f"choice{k}"] for k in range(choices)]} for r in records])
    assert all(0 <= p["choice"] < choices and len(p["probabilities"]) == choices for p in predictions)
    assert result.results["metrics"]["dev"]["accuracy"] == pytest.approx(accuracy([r["label"] for r in records], [p["choice"] for p in predictions]))


def test_choice_rows_with_different_numbers_of_choices_batch_together(tmp_path, rinna_dir):
    mixed = choice_file(tmp_path / "a.jsonl", 3).read_text(encoding="utf-8") + choice_file(tmp_path / "b.jsonl", 4).read_text(encoding="utf-8")
    data = tmp_path / "mixed.jsonl"
    data.write_text(mixed, encoding="utf-8")
    result = finetune(FinetuneConfig(task="choice", model=rinna_dir, out=tmp_path / "run", train=data, dev=data, steps=2,
                                     batch_size=8, loop=finetune_loop(progress=False)))
    predictions = result.predictions["dev"]
    assert [len(p["probabilities"]) for p in predictions] == [3] * 16 + [4] * 16


BAD = [
    ("c.jsonl", '{"question": "q", "choice0": "a", "label": 0}\n', "choice", r"c\.jsonl:1: a multiple-choice line needs choice0, choice1"),
    ("c.jsonl", '{"question": "q", "choice0": "a", "choice1": "b", "label": 2}\n', "choice", r"c\.jsonl:1: 'label' must be the index"),
    ("q.json", '{"data": [{"paragraphs": [{"context": "abc"}]}]}', "qa", r"q\.json: data\[0\]\.paragraphs\[0\]: 'qas' is missing"),
]


@pytest.mark.parametrize("name, content, task, message", BAD)
def test_bad_files_are_named(tmp_path, rinna_dir, name, content, task, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(JarobertaError, match=message):
        finetune(FinetuneConfig(task=task, model=rinna_dir, out=tmp_path / "run", train=path, dev=path, steps=1))


def test_cli_finetune_qa_then_predict(tmp_path, rinna_dir, capsys):
    data = squad_file(tmp_path / "train.json")
    out = tmp_path / "run"
    assert main(["finetune", "qa", str(rinna_dir), str(out), "--train", str(data), "--dev", str(data), "--steps", "1",
                 "--batch-size", "8", "--max-length", "48", "--word-boundaries", "mecab", "--no-progress"]) == 0
    assert "| exact_match |" in capsys.readouterr().out
    context = JA_SENTENCES[24] + JA_SENTENCES[25]
    record = tmp_path / "in.jsonl"
    record.write_text(json.dumps({"question": "どこか。", "context": context}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["predict", str(out / "best"), "--input", str(record), "--json"]) == 0
    prediction = json.loads(capsys.readouterr().out)
    assert prediction["answer"] == context[prediction["start"] : prediction["end"]]
