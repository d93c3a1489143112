"""Fine-tuning: readers and their errors, every task kind on tiny data with both tokenizer
families, predictions that agree with evaluation, the transformers reload, the CLI, and
the built-in hironsan NER task end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import JA_SENTENCES
from huggingface_hub import ModelCard
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.finetune.predict import predict
from jaroberta.finetune import metrics
from jaroberta.finetune.data import Span, read_classification, read_ner, read_pairs
from jaroberta.finetune.finetuned import load_finetuned
from jaroberta.finetune.kinds import KINDS, kind_of_head
from jaroberta.finetune.kinds.base import EncodeStats, Row, TaskKind, encode_texts
from jaroberta.finetune.kinds.classify import ClassifyKind
from jaroberta.finetune.run import FinetuneConfig, finetune, finetune_loop

MEDICAL = {14, 15, 16, 17}
COMPUTER = {10, 11, 12, 13, 22, 23}
PLACES = ["東京", "日本", "京都", "富士山", "公園", "図書館", "駅前", "病院"]


def topic(i: int) -> str:
    return "medical" if i in MEDICAL else "computer" if i in COMPUTER else "daily"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def ner_records() -> list[dict]:
    records = []
    for sentence in JA_SENTENCES:
        entities = []
        for word in PLACES:
            start = sentence.find(word)
            if start >= 0 and not any(start < e["end"] and start + len(word) > e["start"] for e in entities):
                entities.append({"start": start, "end": start + len(word), "label": "LOC"})
        records.append({"text": sentence, "entities": entities})
    return records


# -- readers ---------------------------------------------------------------------------------
def test_readers_accept_jglue_csv_and_conll(tmp_path):
    marc = write_jsonl(tmp_path / "marc.jsonl", [{"review_id": "x", "sentence": "良い商品", "label": "positive"}])
    assert [(e.text, e.label) for e in read_classification(marc)] == [("良い商品", "positive")]
    csv = tmp_path / "cls.csv"
    csv.write_text("text,label\n今日は晴れ,1\n\"雨, 雪\",0\n", encoding="utf-8")
    assert [(e.text, e.label, e.where.line) for e in read_classification(csv)] == [("今日は晴れ", "1", 2), ("雨, 雪", "0", 3)]
    jnli = write_jsonl(tmp_path / "jnli.jsonl", [{"sentence_pair_id": "0", "yjcaptions_id": "1", "sentence1": "犬が走る",
                                                   "sentence2": "動物が走る", "label": "entailment"}])
    assert [(e.first, e.second, e.label) for e in read_pairs(jnli)] == [("犬が走る", "動物が走る", "entailment")]
    jsts = write_jsonl(tmp_path / "jsts.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 3.8}])
    assert read_pairs(jsts)[0].label == 3.8
    conll = tmp_path / "ner.conll"
    conll.write_text("-DOCSTART-\n\n東京\t名詞\tB-LOC\n都\t名詞\tI-LOC\nに\t助詞\tO\n\nNew\tB-ORG\nYork\tI-ORG\n", encoding="utf-8")
    (first, second), stats = read_ner(conll)
    assert (first.text, first.entities, first.where.line) == ("東京都に", [Span(0, 3, "LOC")], 3)
    assert (second.text, second.entities) == ("NewYork", [Span(0, 7, "ORG")])
    (_, spaced), _ = read_ner(conll, join=" ")
    assert (spaced.text, spaced.entities) == ("New York", [Span(0, 8, "ORG")])
    assert stats.examples == 2


def test_edge_whitespace_of_a_tagged_span_is_trimmed_and_counted(tmp_path):
    conll = tmp_path / "ner.txt"
    conll.write_text("渾身\tB-ART\n　\tI-ART\n映画\tO\n", encoding="utf-8")
    (example,), stats = read_ner(conll)
    assert example.entities == [Span(0, 2, "ART")] and stats.trimmed_spans == 1


BAD_INPUT = [
    # (file name, content, reader, message pattern: file and line named)
    ("a.jsonl", '{"text": "良い", "label": "p"}\n{"text": "  ", "label": "n"}\n', read_classification, r"a\.jsonl:2: empty text"),
    ("a.jsonl", '{"text": "良い", "label": ""}\n', read_classification, r"a\.jsonl:1: empty label"),
    ("a.jsonl", '{"text": "良い"\n', read_classification, r"a\.jsonl:1: not valid JSON"),
    ("a.csv", "text,category\n良い,p\n", read_classification, r"a\.csv:2: no label field"),
    ("a.txt", "良い\tp\n", read_classification, r"unknown format '\.txt'"),
    ("p.jsonl", '{"sentence1": "犬", "sentence2": "", "label": "x"}\n', read_pairs, r"p\.jsonl:1: empty sentence2"),
    ("n.jsonl", '{"text": "東京に", "entities": [[0, 5, "LOC"]]}\n', read_ner, r"n\.jsonl:1: .*outside the text"),
    # UTF-8 byte offsets of 東京 are [0, 6): the surface check catches them
    ("n.jsonl", '{"text": "東京に", "entities": [{"start": 0, "end": 6, "label": "LOC", "text": "東京"}]}\n', read_ner,
     r"n\.jsonl:1: .*outside"),
    ("n.jsonl", '{"text": "東京に行く", "entities": [{"start": 0, "end": 3, "label": "LOC", "text": "東京"}]}\n', read_ner,
     r"n\.jsonl:1: .*not '東京'; offsets must count characters"),
    # "é" as e + combining acute: offset 1 falls inside the character
    ("n.jsonl", '{"text": "cafe\\u0301 x", "entities": [[0, 4, "LOC"]]}\n', read_ner, r"n\.jsonl:1: .*inside the character"),
    ("n.jsonl", '{"text": "東京大阪", "entities": [[0, 3, "LOC"], [2, 4, "LOC"]]}\n', read_ner, r"n\.jsonl:1: .*overlap"),
    ("n.conll", "東京\tLOC\n", read_ner, r"n\.conll:1: token 1 .*IOB2 tags are"),
    ("n.conll", "東京 B-LOC\n都\n", read_ner, r"n\.conll:2: expected a token and its IOB2 tag"),
    ("n.conll", "　\tO\n \tO\n", read_ner, r"n\.conll:1: empty sentence"),
]


@pytest.mark.parametrize("name, content, reader, message", BAD_INPUT)
def test_bad_input_names_file_and_line(tmp_path, name, content, reader, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(JarobertaError, match=message):
        reader(path)


LABEL_MISMATCH = [
    # (train labels, dev labels, declared, message pattern)
    (["a", "b"], ["a", "c"], None, r"dev\.jsonl:2: label 'c' is not in the training data"),
    (["a", "b", "c"], ["a", "b"], None, r"dev\.jsonl: label\(s\) \['c'\] of the training data \(first at .*train\.jsonl:3\) never occur"),
    (["a", "b"], ["a", "x"], "a,b", r"dev\.jsonl:2: label 'x' is not in --labels a,b"),
]


@pytest.mark.parametrize("train_labels, dev_labels, declared, message", LABEL_MISMATCH)
def test_label_sets_must_agree(tmp_path, rinna_dir, train_labels, dev_labels, declared, message):
    train = write_jsonl(tmp_path / "train.jsonl", [{"text": JA_SENTENCES[i], "label": l} for i, l in enumerate(train_labels)])
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": JA_SENTENCES[i], "label": l} for i, l in enumerate(dev_labels)])
    labels = tuple(declared.split(",")) if declared else ()
    with pytest.raises(JarobertaError, match=message):
        finetune(FinetuneConfig(task="classify", model=rinna_dir, out=tmp_path / "run", train=train, dev=dev, labels=labels))


def test_mixed_scores_and_classes_are_an_error(tmp_path, rinna_dir):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 1.5},
                                                  {"sentence1": "c", "sentence2": "d", "label": "neutral"}])
    with pytest.raises(JarobertaError, match=r"pairs\.jsonl:1: label 1\.5 is a score while other labels are class names"):
        finetune(FinetuneConfig(task="pair", model=rinna_dir, out=tmp_path / "run", train=data, dev=data))


def test_text_without_pieces_is_an_error(tmp_path, rinna_dir):
    data = write_jsonl(tmp_path / "cls.jsonl", [{"text": "今日は晴れ", "label": "a"}, {"text": "\u200b", "label": "b"}])
    with pytest.raises(JarobertaError, match=r"cls\.jsonl:2: the text has no pieces"):
        finetune(FinetuneConfig(task="classify", model=rinna_dir, out=tmp_path / "run", train=data, dev=data))


# -- every task kind, both families ---------------------------------------------------------------
def task_data(tmp_path: Path, task: str) -> tuple[str, Path, dict]:
    """(task, data file, extra config) of a tiny learnable dataset."""
    n, pairs = len(JA_SENTENCES), JA_SENTENCES[:16]
    if task == "classify":
        return "classify", write_jsonl(tmp_path / "cls.jsonl", [{"text": s, "label": topic(i)} for i, s in enumerate(JA_SENTENCES)]), {}
    if task == "pair-classification":
        # The class is the second sentence's topic: what a 2-layer model can pick up in 8 steps.
        records = [{"sentence1": s, "sentence2": JA_SENTENCES[(i + k) % n], "label": topic((i + k) % n)}
                   for i, s in enumerate(pairs) for k in (0, 1, 5)]
        return "pair", write_jsonl(tmp_path / "jnli.jsonl", records), {}
    if task == "pair-regression":
        records = [{"sentence1": s, "sentence2": JA_SENTENCES[(i + k) % n], "label": [5.0, 2.5, 0.0][k]}
                   for i, s in enumerate(pairs) for k in (0, 1, 2)]
        return "pair", write_jsonl(tmp_path / "jsts.jsonl", records), {}
    return "ner", write_jsonl(tmp_path / "ner.jsonl", ner_records()), {}


@pytest.fixture(scope="module", params=["rinna", "jmed"])
def family(request, rinna_dir):
    if request.param == "rinna":
        return request.param, rinna_dir, ()
    return request.param, request.getfixturevalue("jmed_dir"), (request.getfixturevalue("manbyo_dic"),)


@pytest.fixture(scope="module", params=["classify", "pair-classification", "pair-regression", "ner"])
def trained(request, family, tmp_path_factory):
    """One short fine-tuning run per (family, task): train = dev, 8 steps of 16 in micro-batches of 8;
    the best model is the one of lowest dev loss."""
    name, model_dir, user_dicts = family
    root = tmp_path_factory.mktemp(f"{name}-{request.param}")
    kind, data, _ = task_data(root, request.param)
    config = FinetuneConfig(task=kind, model=model_dir, out=root / "run", train=data, dev=data,
                            user_dicts=user_dicts, steps=8, batch_size=16, micro_batch=8, warmup_ratio=0.0,
                            eval_every=4, patience=0, metric="loss", loop=finetune_loop(lr=2e-3, seed=1, progress=False))
    return name, request.param, kind, data, user_dicts, finetune(config)


def test_each_task_learns_and_writes_results(trained):
    name, task, kind, data, user_dicts, result = trained
    before, after = result.results["dev_before_training"]["dev_loss"], result.results["metrics"]["dev"]["loss"]
    assert after < before, f"{name} {task}: the dev loss did not fall ({before} -> {after})"
    written = json.loads((result.run_dir / "results.json").read_text(encoding="utf-8"))
    assert written["metrics"]["dev"] == pytest.approx(result.results["metrics"]["dev"], nan_ok=True)
    assert written["task"] == kind and written["run"]["steps"] == 8
    assert "| metric | dev |" in (result.run_dir / "results.md").read_text(encoding="utf-8")
    meta = json.loads((result.model_dir / "jaroberta_meta.json").read_text(encoding="utf-8"))
    assert meta["finetune"]["task"] == kind
    assert list(meta["finetune"]) == ["task", "objective", "labels", "auto_class"]  # what older folders hold too
    card = ModelCard.load(result.model_dir / "README.md")  # rewritten with the scored dev metrics
    scored = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert card.data.pipeline_tag in ("text-classification", "token-classification")
    assert scored["dev_loss"] == pytest.approx(meta["metrics"]["dev_loss"])


def test_predict_reproduces_the_scored_metrics(trained):
    name, task, kind, data, user_dicts, result = trained
    model = load_finetuned(result.model_dir, user_dicts=list(user_dicts) or None)
    scored = result.results["metrics"]["dev"]
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    if kind == "classify":
        predictions = predict(model, [r["text"] for r in records])
        gold, predicted = [r["label"] for r in records], [p["label"] for p in predictions]
        assert scored["accuracy"] == pytest.approx(metrics.accuracy(gold, predicted))
        assert scored["macro_f1"] == pytest.approx(metrics.macro_f1(gold, predicted, ["computer", "daily", "medical"]))
        assert all(math.isclose(sum(p["probabilities"].values()), 1.0, rel_tol=1e-5) for p in predictions)
    elif task == "pair-regression":
        predictions = predict(model, [(r["sentence1"], r["sentence2"]) for r in records])
        gold, predicted = [r["label"] for r in records], [p["score"] for p in predictions]
        assert scored["pearson"] == pytest.approx(metrics.pearson(gold, predicted), abs=1e-6)
        assert scored["spearman"] == pytest.approx(metrics.spearman(gold, predicted), abs=1e-6)
    elif kind == "pair":
        predictions = predict(model, [(r["sentence1"], r["sentence2"]) for r in records])
        assert scored["accuracy"] == pytest.approx(metrics.accuracy([r["label"] for r in records], [p["label"] for p in predictions]))
    else:
        predictions = predict(model, [r["text"] for r in records])
        gold = [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in records]
        predicted = [[(e["start"], e["end"], e["label"]) for e in p["entities"]] for p in predictions]
        assert scored["entity_f1"] == pytest.approx(metrics.entity_scores(gold, predicted)["f1"])
        assert scored["entities_gold"] == sum(map(len, gold))
        for record, prediction in zip(records, predictions):  # spans index the original text
            assert all(record["text"][e["start"] : e["end"]] == e["text"] for e in prediction["entities"])


# -- the saved folder loads in transformers with identical logits --------------------------------
def hand_inputs(model_dir: Path, texts, user_dicts=()) -> dict:
    """Framed by hand from the saved conventions: no jaroberta batching code involved."""
    from jaroberta.model.conventions import InputConventions
    from jaroberta.text import load_tokenizer

    conventions = InputConventions.load(model_dir)
    tokenizer = load_tokenizer(model_dir, user_dicts=list(user_dicts) or None)
    ids = tokenizer.token_to_id
    rows = []
    for text in texts:
        pieces = tokenizer.encode(text).ids if isinstance(text, str) else (
            tokenizer.encode(text[0]).ids + [ids(t) for t in conventions.pair_separator] + tokenizer.encode(text[1]).ids)
        rows.append([ids(t) for t in conventions.prefix] + pieces + [ids(t) for t in conventions.suffix])
    width = max(map(len, rows))
    pad = ids(conventions.pad_token)
    inputs = {"input_ids": torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
              "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}
    if conventions.explicit_position_ids:  # rinna: positions from 0
        inputs["position_ids"] = torch.arange(width).expand(len(rows), width)
    return inputs


def test_saved_model_loads_in_transformers_with_identical_logits(trained):
    import transformers

    import jaroberta
    from jaroberta.finetune.kinds.base import forward_rows

    name, task, kind, data, user_dicts, result = trained
    auto = transformers.AutoModelForTokenClassification if kind == "ner" else transformers.AutoModelForSequenceClassification
    plain = auto.from_pretrained(result.model_dir).eval()
    texts = [JA_SENTENCES[0], JA_SENTENCES[4]] if kind != "pair" else [(JA_SENTENCES[0], JA_SENTENCES[1]), (JA_SENTENCES[2], JA_SENTENCES[2])]
    inputs = hand_inputs(result.model_dir, texts, user_dicts)
    model = load_finetuned(result.model_dir, user_dicts=list(user_dicts) or None)
    rows, _ = model.kind.encode(model.lm, [model.kind.example_from_input(t, "test") for t in texts], None, 10_000)
    assert [r.ids for r in rows] == [ids[: int(m.sum())].tolist() for ids, m in zip(inputs["input_ids"], inputs["attention_mask"])]
    with torch.no_grad():
        expected = plain(**inputs).logits
        ours = forward_rows(model.kind, model.lm.model, model.lm, rows, batch_size=1).outputs
    for row, (got, mask) in enumerate(zip(ours, inputs["attention_mask"])):
        want = expected[row] if kind != "ner" else expected[row, : int(mask.sum())]
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # The folder also loads in jaroberta: encoder, tokenizer and the conventions of its family.
    reloaded = jaroberta.load(result.model_dir, user_dict=list(user_dicts), head="base")
    assert reloaded.conventions == model.lm.conventions
    assert reloaded.conventions.explicit_position_ids is (name == "rinna")


# -- the TaskKind protocol and its registry -------------------------------------------------------
SRC = Path(__file__).resolve().parents[1] / "src" / "jaroberta"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_registered_kind_implements_the_protocol(name):
    kind = KINDS[name].for_training("auto", [])
    assert isinstance(kind, TaskKind) and kind.name == name
    assert kind_of_head(kind.head(["a", "b"])).objective == kind.objective
    assert kind.main_metric in kind.metric_names


def test_no_behaviour_switches_on_a_kind_name():
    """Outside finetune/kinds/, no comparison with a kind's name: what differs is a method of the kind."""
    import ast

    found = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "kinds":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in (node.left, *node.comparators) if isinstance(n, ast.Constant)]
                if any(c in KINDS for c in constants if isinstance(c, str)):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not found, f"comparisons with a kind's name: {found}"


def test_the_verbs_stay_callable_beside_their_packages():
    """`jaroberta.finetune` is a verb and a package: importing the package leaves the verb in place."""
    import jaroberta
    import jaroberta.finetune.run  # noqa: F401

    assert callable(jaroberta.finetune) and jaroberta.finetune.__module__ == "jaroberta.api"
    assert callable(jaroberta.finetune)  # still the verb once the api is imported


class HalvesKind(ClassifyKind):
    """A kind whose examples each become two rows, decoded together: how windowed extractive QA
    (several windows per example, spans chosen over all of them) fits the protocol."""

    name = "halves"

    def encode(self, lm, examples, labels, budget):
        rows = []
        for index, (example, encoding) in enumerate(zip(examples, encode_texts(lm, [e.text for e in examples], [e.where for e in examples]))):
            half = max(1, len(encoding.ids) // 2)
            target = self.target(example, labels) if labels is not None else None
            for part in (encoding.ids[:half], encoding.ids[half:] or encoding.ids[:half]):
                rows.append(Row(lm.frame(part[:budget]), target, len(part), example=index))
        return rows, EncodeStats(rows=len(examples))

    def decode(self, example, rows, outputs, names):
        assert len(rows) == 2 and {row.example for row in rows} == {rows[0].example}
        return super().decode(example, rows[:1], [torch.stack(outputs).mean(dim=0)], names)


def test_a_kind_may_turn_one_example_into_several_rows(tmp_path, rinna_dir, monkeypatch):
    monkeypatch.setitem(KINDS, HalvesKind.name, HalvesKind)
    records = [{"text": s, "label": topic(i)} for i, s in enumerate(JA_SENTENCES)]
    data = write_jsonl(tmp_path / "cls.jsonl", records)
    result = finetune(FinetuneConfig(task="halves", model=rinna_dir, out=tmp_path / "run", train=data, dev=data, steps=2,
                                     batch_size=8, loop=finetune_loop(progress=False)))
    model = load_finetuned(result.model_dir)
    assert isinstance(model.kind, HalvesKind)
    predictions = predict(model, [r["text"] for r in records])
    assert len(predictions) == len(records)  # one per example, not one per row
    assert result.results["metrics"]["dev"]["accuracy"] == pytest.approx(
        metrics.accuracy([r["label"] for r in records], [p["label"] for p in predictions]))


# -- the command line ------------------------------------------------------------------------------
def test_cli_finetune_then_predict(tmp_path, rinna_dir, capsys):
    data = write_jsonl(tmp_path / "ner.jsonl", ner_records())
    out = tmp_path / "run"
    assert main(["finetune", "ner", str(rinna_dir), str(out), "--train", str(data), "--dev", str(data), "--test", str(data),
                 "--steps", "2", "--batch-size", "8"]) == 0
    printed = capsys.readouterr().out
    assert "| metric | dev | test |" in printed and "| entity_f1 |" in printed and f"model: {out / 'best'}" in printed
    assert main(["finetune", "ner", str(rinna_dir), str(tmp_path / "run-json"), "--train", str(data), "--dev", str(data), "--steps", "1",
                 "--batch-size", "8", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == str(tmp_path / "run-json" / "best") and "entity_f1" in report["metrics"]["dev"]
    assert main(["predict", str(out / "best"), JA_SENTENCES[2], "--json"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    prediction = json.loads(line)
    assert prediction["text"] == JA_SENTENCES[2] and isinstance(prediction["entities"], list)
    # the options every model-loading command has: --convention, --int8, --device
    assert main(["predict", str(out / "best"), JA_SENTENCES[2], "--json", "--int8", "--convention", "max_length=64"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == JA_SENTENCES[2]
    assert main(["predict", str(out / "best"), JA_SENTENCES[2], "--convention", "max_length=4"]) == 2
    assert "--truncate" in capsys.readouterr().err
    # JSON lines in (labels ignored), one prediction per line out, in order
    assert main(["predict", str(out / "best"), "--input", str(data), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["text"] for line in lines] == JA_SENTENCES
    # a user's mistake is one line and exit status 2
    assert main(["predict", str(rinna_dir), "今日"]) == 2
    assert "is not a fine-tuned model" in capsys.readouterr().err
    assert main(["finetune", "ner", str(rinna_dir), str(out / "x"), "--dataset", "hironsan", "--labels", "X", "--steps", "1"]) == 2
    assert "hironsancorpus:train:1: label 'DAT' is not in --labels X" in capsys.readouterr().err
    # a metric the task does not have is refused before training
    assert main(["finetune", "ner", str(rinna_dir), str(out / "y"), "--train", str(data), "--dev", str(data), "--metric", "accuracy"]) == 2
    assert "metric 'accuracy' is not a dev metric of this task" in capsys.readouterr().err


# -- the built-in hironsan task, end to end --------------------------------------------------------------
def _hironsan_test_entities() -> int:
    """Entities of hironsancorpus's test split, counted straight from its file (B- tags)."""
    from hironsan.corpus import hiron2016

    return sum(row[-1].startswith("B-") for sentence in hiron2016.iob_sents("test") for row in sentence)


@pytest.fixture(scope="module")
def hironsan_model(tmp_path_factory) -> Path:
    """A tiny model of our own layout whose SentencePiece vocabulary was trained on hironsan's train text."""
    from jaroberta.api import train_tokenizer
    from jaroberta.model.families import family_of_tokenizer
    from jaroberta.model.presets import build_model, model_config
    from jaroberta.model.saving import save_model
    from jaroberta.finetune.datasets import hironsan
    from jaroberta.text import TokenizerTrainConfig

    root = tmp_path_factory.mktemp("hironsan")
    (root / "text.txt").write_text("\n".join(e.text for e in hironsan().train) + "\n", encoding="utf-8")
    tokenizer = train_tokenizer(TokenizerTrainConfig(tokenizer_kind="sentencepiece", inputs=(root / "text.txt",), vocab_size=1500))
    torch.manual_seed(0)
    model = build_model(model_config("tiny", tokenizer.vocab_size, tokenizer.special_ids, 128))
    return save_model(root / "tiny", model, tokenizer, family_of_tokenizer(tokenizer.tokenizer_kind).conventions_for(tokenizer.normalization, 128), {})


def test_hironsan_ner_end_to_end(tmp_path, hironsan_model, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "ner", str(hironsan_model), str(out), "--dataset", "hironsan", "--steps", "3",
                 "--batch-size", "16", "--lr", "1e-3"]) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["labels"] == ["ART", "DAT", "LOC", "MON", "ORG", "PER", "PSN", "TIM"]
    test = results["metrics"]["test"]
    assert test["entities_gold"] == _hironsan_test_entities()
    # Three steps from random weights: the head decodes spans (predictions exist) and the scores
    # are exactly what the counts of correct, predicted and gold entities make them.
    correct, predicted, gold = test["entities_correct"], test["entities_predicted"], test["entities_gold"]
    assert predicted > 0 and correct <= min(predicted, gold)
    assert test["entity_precision"] == pytest.approx(correct / predicted)
    assert test["entity_recall"] == pytest.approx(correct / gold)
    assert test["entity_f1"] == pytest.approx(2 * correct / (predicted + gold))
    assert 0.5 < results["encoding"]["train"]["entities"]["alignment_ceiling"] <= 1.0
    assert "hironsancorpus (train 405, dev 45, test 50 sentences)" == results["data"]
