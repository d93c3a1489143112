"""`eval jglue` end to end on tiny files in JGLUE's formats (written here: JGLUE's data is never
committed) for the four public tasks, with one setting: results.json, predictions.jsonl recomputed
independently, results.md, --card's model-index, resuming, skipped tasks and malformed files."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest
from conftest import JA_SENTENCES
from huggingface_hub import ModelCard
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)
from scipy import stats

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.finetune import jglue_eval
from jaroberta.finetune.jglue_eval import JglueEvalConfig, evaluate_jglue
from jaroberta.finetune.run import finetune_loop

N = len(JA_SENTENCES)
PLACES = ["東京", "日本", "京都", "富士山", "公園", "図書館", "駅前", "病院"]


def _lines(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def jglue_checkout(root: Path) -> Path:
    """datasets/<task>-v1.3/{train,valid}-v1.3.json for JSTS, JNLI, JSQuAD and JCommonsenseQA, in JGLUE's formats."""
    data = root / "JGLUE" / "datasets"
    for split, offset in (("train", 0), ("valid", 8)):
        ids = range(offset, offset + 12)
        _lines(data / "jsts-v1.3" / f"{split}-v1.3.json", [
            {"sentence_pair_id": str(i), "yjcaptions_id": f"{i}-{i}-{i}", "sentence1": JA_SENTENCES[i % N],
             "sentence2": JA_SENTENCES[(i + i % 3) % N], "label": [5.0, 3.2, 1.4][i % 3]} for i in ids])
        _lines(data / "jnli-v1.3" / f"{split}-v1.3.json", [
            {"sentence_pair_id": str(i), "yjcaptions_id": f"{i}", "sentence1": JA_SENTENCES[i % N],
             "sentence2": JA_SENTENCES[(i + i % 3) % N], "label": ["entailment", "neutral", "contradiction"][i % 3]} for i in ids])
        _lines(data / "jcommonsenseqa-v1.3" / f"{split}-v1.3.json", [
            {"q_id": 9000 + i, "question": JA_SENTENCES[i % N][:10], "label": i % 5,
             **{f"choice{k}": JA_SENTENCES[(i + (k - i % 5) * 5) % N][:8] for k in range(5)}} for i in ids])
        paragraphs = []
        for i in ids:
            context = "梅雨 [SEP] " + JA_SENTENCES[i % N] + JA_SENTENCES[(i + 1) % N]
            place = next((p for p in PLACES if p in context), "梅雨")
            answers = [{"text": place, "answer_start": context.index(place)}]
            if split == "valid":  # dev questions carry several gold answers
                answers.append({"text": context[context.index(place):][:len(place) + 1], "answer_start": context.index(place)})
            paragraphs.append({"context": context, "qas": [{"question": "どこの話か。", "id": f"a{i}p0q0", "is_impossible": False,
                                                            "answers": answers}]})
        path = data / "jsquad-v1.3" / f"{split}-v1.3.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"version": "v1.0", "data": [{"title": "梅雨", "paragraphs": paragraphs}]}, ensure_ascii=False),
                        encoding="utf-8")
    return root / "JGLUE"


def config(model: Path, out: Path, data: Path, **changes) -> JglueEvalConfig:
    return JglueEvalConfig(model=model, out=out, data=data, lr=5e-4, epochs=1, batch_size=8, train_limit=10,
                           loop=finetune_loop(seed=1, progress=False), **changes)


@pytest.fixture(scope="module", params=["rinna", pytest.param("jmed", marks=pytest.mark.slow)])
def evaluated(request, rinna_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"jglue-{request.param}")
    model, user_dicts = (rinna_dir, ()) if request.param == "rinna" else (
        request.getfixturevalue("jmed_dir"), (request.getfixturevalue("manbyo_dic"),))
    checkout = jglue_checkout(root)
    result = evaluate_jglue(config(model, root / "out", checkout, user_dicts=user_dicts,
                                   word_boundaries="mecab" if request.param == "rinna" else None))
    return request.param, model, user_dicts, checkout, root / "out", result


def _predictions(out: Path, task: str) -> dict:
    lines = (out / task / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"]: r["prediction"] for r in map(json.loads, lines)}


def _records(checkout: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (checkout / "datasets" / f"{task}-v1.3" / "valid-v1.3.json").read_text(encoding="utf-8").splitlines()]


def _normalize(text: str) -> str:
    return " ".join(text.lower().rstrip("。").split())


def _f1(gold: str, predicted: str) -> float:
    g, p = list(_normalize(gold)), list(_normalize(predicted))
    if not g or not p:
        return float(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    return 0.0 if not same else 2 * same / (len(g) + len(p))


def test_results_json_holds_every_task_as_fractions_with_its_setting(evaluated):
    family, model, user_dicts, checkout, out, result = evaluated
    written = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(result.results))
    assert set(written) == {"jsts", "jnli", "jsquad", "jcommonsenseqa", "about"}
    assert written["about"]["skipped"] == {"marc-ja": f"no marc_ja-v<version> folder in {checkout / 'datasets'}"}
    assert written["about"]["train_limit"] == 10
    for task, metrics in {"jsts": ("pearson", "spearman"), "jnli": ("accuracy",), "jsquad": ("exact_match", "f1", "boundary_ceiling"),
                          "jcommonsenseqa": ("accuracy",)}.items():
        entry = written[task]
        assert entry["setting"] == {"lr": 5e-4, "epochs": 1} and entry["examples"] == {"train": 10, "dev": 12}
        assert all(math.isnan(entry[m]) or 0.0 <= abs(entry[m]) <= 1.0 for m in metrics)
    assert written["jsquad"]["answers"]["dev"] == {"gold": 24, "corrected": 0, "not_found": 0}
    assert {"pearson", "spearman"} <= set(written["jsts"]["zero_shot"])
    table = (out / "results.md").read_text(encoding="utf-8")
    assert f"|**{model.name}**|-|" in table and "JSTS zero-shot" in table and "|Tohoku BERT base|0.958|" in table


def test_predictions_recomputed_independently_give_the_same_scores(evaluated):
    family, model, user_dicts, checkout, out, result = evaluated
    written = result.results
    jsts, jnli, jcqa = (_predictions(out, t) for t in ("jsts", "jnli", "jcommonsenseqa"))
    gold = {r["sentence_pair_id"]: r["label"] for r in _records(checkout, "jsts")}
    assert list(jsts) == list(gold) and all(isinstance(v, float) for v in jsts.values())
    x, y = [gold[k] for k in gold], [jsts[k] for k in gold]
    assert written["jsts"]["pearson"] == pytest.approx(stats.pearsonr(x, y)[0], nan_ok=True)
    assert written["jsts"]["spearman"] == pytest.approx(stats.spearmanr(x, y)[0], nan_ok=True)
    records = _records(checkout, "jnli")
    assert set(jnli.values()) <= {"entailment", "neutral", "contradiction"}
    assert written["jnli"]["accuracy"] == pytest.approx(sum(jnli[r["sentence_pair_id"]] == r["label"] for r in records) / len(records))
    records = _records(checkout, "jcommonsenseqa")
    assert list(jcqa) == [r["q_id"] for r in records] and all(v in range(5) for v in jcqa.values())
    assert written["jcommonsenseqa"]["accuracy"] == pytest.approx(sum(jcqa[r["q_id"]] == r["label"] for r in records) / len(records))
    squad = json.loads((checkout / "datasets" / "jsquad-v1.3" / "valid-v1.3.json").read_text(encoding="utf-8"))
    questions = [(p["context"], qa) for a in squad["data"] for p in a["paragraphs"] for qa in p["qas"]]
    answers = _predictions(out, "jsquad")
    assert all(answers[qa["id"]] in context for context, qa in questions)  # every answer a substring of its context
    em = sum(max(_normalize(a["text"]) == _normalize(answers[qa["id"]]) for a in qa["answers"]) for _, qa in questions) / len(questions)
    f1 = sum(max(_f1(a["text"], answers[qa["id"]]) for a in qa["answers"]) for _, qa in questions) / len(questions)
    assert (written["jsquad"]["exact_match"], written["jsquad"]["f1"]) == pytest.approx((em, f1))


def test_a_rerun_skips_finished_settings_and_card_gets_the_model_index(evaluated, monkeypatch):
    family, model, user_dicts, checkout, out, result = evaluated
    ran = []
    monkeypatch.setattr(jglue_eval, "finetune", lambda cfg: ran.append(cfg) or pytest.fail("a finished setting ran again"))
    card = model / "README.md"
    before = card.read_text(encoding="utf-8") if card.is_file() else None
    again = evaluate_jglue(config(model, out, checkout, user_dicts=user_dicts, word_boundaries="mecab" if family == "rinna" else None, card=True))
    assert not ran and again.results["jnli"] == result.results["jnli"]
    index = ModelCard.load(card).data.eval_results
    found = {(r.dataset_config, r.metric_type): r.metric_value for r in index}
    assert found[("JSTS", "pearson")] == pytest.approx(result.results["jsts"]["pearson"], nan_ok=True)
    assert found[("JSQuAD", "exact_match")] == pytest.approx(result.results["jsquad"]["exact_match"])
    assert {r.dataset_type for r in index if r.dataset_config == "JNLI"} == {"shunk031/JGLUE"}
    if before is not None:  # the rest of the card is as it was
        body = before.split("---", 2)[2]
        assert ModelCard.load(card).text.strip() == body.strip()
    # a rerun with other settings is refused
    with pytest.raises(JarobertaError, match="holds a JGLUE evaluation with other settings"):
        evaluate_jglue(JglueEvalConfig(model=model, out=out, data=checkout, train_limit=3))


def test_bad_input(tmp_path, rinna_dir):
    checkout = jglue_checkout(tmp_path)
    with pytest.raises(JarobertaError, match="unknown JGLUE task\\(s\\) jsquad2; known: marc-ja, jsts, jnli, jsquad, jcommonsenseqa"):
        config(rinna_dir, tmp_path / "out", checkout, tasks=("jsquad2",))
    bad = checkout / "datasets" / "jnli-v1.3" / "valid-v1.3.json"
    lines = bad.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-5]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(JarobertaError, match=f"{bad}:3: not valid JSON"):
        evaluate_jglue(config(rinna_dir, tmp_path / "out", checkout, tasks=("jsts", "jnli")))
    assert not list((tmp_path / "out").glob("*/lr*"))  # nothing trained before the check
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(JarobertaError, match="already holds files"):
        evaluate_jglue(config(rinna_dir, tmp_path / "foreign", checkout, tasks=("jsts",)))


def test_cli_eval_jglue(tmp_path, rinna_dir, capsys):
    checkout = jglue_checkout(tmp_path)
    assert main(["eval", "jglue", str(rinna_dir), str(tmp_path / "out"), "--data", str(checkout), "--tasks", "jnli",
                 "--lr", "5e-4", "--epochs", "1", "--batch-size", "8", "--train-limit", "8", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "|Model|MARC-ja|JSTS|JNLI|JSQuAD|JCommonsenseQA|" in printed and f"results: {tmp_path / 'out' / 'results.json'}" in printed
    assert json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["jnli"]["setting"] == {"lr": 5e-4, "epochs": 1}
    assert main(["eval", "jglue", str(rinna_dir), str(tmp_path / "out2"), "--data", str(checkout), "--tasks", "jnli,nope"]) == 2
    assert "known: marc-ja, jsts" in capsys.readouterr().err


def test_card_keeps_what_was_there_and_replaces_older_jglue_scores(tmp_path):
    from huggingface_hub import EvalResult, ModelCardData

    old = [EvalResult(task_type="fill-mask", dataset_type="dev", dataset_name="dev split", metric_type="perplexity", metric_value=9.5),
           EvalResult(task_type="text-classification", dataset_type="shunk031/JGLUE", dataset_name="JGLUE JNLI", dataset_config="JNLI",
                      dataset_split="validation", metric_type="accuracy", metric_value=0.1)]
    data = ModelCardData(license="cc-by-sa-4.0", model_name="mine", eval_results=old)
    body = "# mine\n\nWritten by hand: kept as it is.\n"
    (tmp_path / "README.md").write_text(f"---\n{data.to_yaml()}\n---\n\n{body}", encoding="utf-8")
    results = {"jnli": {"accuracy": 0.5}, "jsts": {"pearson": 0.25, "spearman": float("nan")},
               "jsquad": {"exact_match": 0.125, "f1": 0.375, "boundary_ceiling": 0.99}}
    jglue_eval.add_to_card(tmp_path, results)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.text.strip() == body.strip() and card.data.license == "cc-by-sa-4.0"
    found = {(r.dataset_type, r.dataset_config, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert found == {("dev", None, "perplexity"): 9.5, ("shunk031/JGLUE", "JNLI", "accuracy"): 0.5,
                     ("shunk031/JGLUE", "JSTS", "pearson"): 0.25,  # a NaN is no score: left out
                     ("shunk031/JGLUE", "JSQuAD", "exact_match"): 0.125, ("shunk031/JGLUE", "JSQuAD", "f1"): 0.375}
