"""Extractive QA data: reading SQuAD v1 JSON with answer checks, windows, placing answers, decoding spans.

A whitespace tokenizer (one piece per run of non-space characters) keeps every window and
every span computable by hand; the word-boundary option is tested on rinna's real tokenizer.
"""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from jaroberta.errors import JarobertaError
from jaroberta.finetune import squad
from jaroberta.model.families import JMEDROBERTA, RINNA
from jaroberta.text import load_tokenizer
from jaroberta.text.base import Encoding


class SpaceTokenizer:
    """Pieces are the runs of non-space characters; ids grow as pieces are seen."""

    family = "test"

    def __init__(self):
        self.vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2}

    def token_to_id(self, token):
        return self.vocab.setdefault(token, len(self.vocab))

    def encode(self, text):
        found = list(re.finditer(r"\S+", text))
        return Encoding([self.token_to_id(m.group()) for m in found], [m.group() for m in found], [m.span() for m in found])

    def encode_batch(self, texts, workers=1):
        return [self.encode(t) for t in texts]


def _squad_file(tmp_path, paragraphs, name="valid-v1.3.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _qa(qid, question, *answers):
    return {"id": qid, "question": question, "answers": [{"text": t, "answer_start": s} for t, s in answers], "is_impossible": False}


CONTEXT = "東京 [SEP] 東京駅は1914年に開業した。東京駅の駅舎は赤煉瓦で、東京駅は丸の内にある。"
FAR = "東京駅" + "。" * 60 + "東京駅は丸い。"


def test_answers_are_checked_against_the_context_and_corrected_only_when_unambiguous(tmp_path):
    at = CONTEXT.index
    path = _squad_file(tmp_path, [{"context": CONTEXT, "qas": [
        _qa("q0", "いつ開業したか。", ("1914年", at("1914年"))),            # right
        _qa("q1", "駅舎は何でできているか。", ("赤煉瓦", at("赤煉瓦") - 3)),  # off by 3, only occurrence: corrected
        _qa("q2", "どこにあるか。", ("丸の内", at("丸の内") + 60)),           # far off, but once in the context: corrected
        _qa("q3", "何駅か。", ("東京駅", 30)),                               # 3 occurrences, all within 50 of 30: ambiguous
        _qa("q4", "何か。", ("東京", 200), ("新宿", 3)),                     # 東京 4 times, none near 200; 新宿 absent
    ]}, {"context": FAR, "qas": [
        _qa("q5", "何駅か。", ("東京駅", 70)),                               # twice, only the one at 63 within 50: corrected
    ]}])
    examples, report = squad.read_squad(path)
    assert [e.id for e in examples] == ["q0", "q1", "q2", "q3", "q4", "q5"]
    assert (report.questions, report.answers, report.matched, report.corrected, report.unmatched, report.unanswerable) == (6, 7, 1, 3, 3, 2)
    assert examples[1].answers[0].start == at("赤煉瓦")
    assert examples[5].answers[0].start == 63
    assert examples[3].located == examples[4].located == ()
    assert [e.context[a.start:a.end] for e in examples for a in e.located] == ["1914年", "赤煉瓦", "丸の内", "東京駅"]
    assert "'新宿' is not at 3 nor found once nearby or in the context: not trained on" in " ".join(report.cases)


LOCATE = [
    # context, text, given start, expected
    ("abcabc", "abc", 3, 3),        # right already
    ("xxabcxx", "abc", 0, 2),       # once, nearby
    ("abc" + "-" * 100 + "abc", "abc", 90, 103),  # twice, only the second within 50
    ("abc" + "-" * 10 + "abc", "abc", 7, None),   # twice, both within 50: ambiguous
    ("abc", "xyz", 0, None),
    ("xyzabc", "abc", -3, 3),       # a negative start is never taken at face value (Python would count from the end)
]


@pytest.mark.parametrize("context, text, start, expected", LOCATE)
def test_locate(context, text, start, expected):
    assert squad.locate(context, text, start) == expected


def test_bad_squad_files_name_the_place(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [\n  {"title": "t",\n   "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(JarobertaError, match=rf"^{broken}:3: not valid JSON"):
        squad.read_squad(broken)
    path = _squad_file(tmp_path, [{"context": "abc", "qas": [_qa("q0", "?", ("a", 0)), {"id": "q1", "answers": []}]}])
    with pytest.raises(JarobertaError, match=r"data\[0\].paragraphs\[0\].qas\[1\]: 'question' is missing"):
        squad.read_squad(path)
    path = _squad_file(tmp_path, [{"context": "abc", "qas": [_qa("q0", "?", ("a", 0)), _qa("q0", "?", ("b", 1))]}])
    with pytest.raises(JarobertaError, match="question id 'q0' also at"):
        squad.read_squad(path)
    lines = tmp_path / "lines.json"
    lines.write_text('{"q_id": 1}\n', encoding="utf-8")
    with pytest.raises(JarobertaError, match="no 'data' list"):
        squad.read_squad(lines)


def _example(context, question="q ?", answer=None, qid="q0"):
    answers = () if answer is None else (squad.Answer(answer, context.index(answer)),)
    return squad.QAExample(qid, question, context, answers)


BOUNDARIES = [
    # context, answer, on piece boundaries?
    ("w0 w1 w2 w3", "w1 w2", True),
    ("w0 w1 w2 w3", "1 w2", False),   # starts inside w1
    ("w0 w1 w2 w3", "w1 w", False),   # ends inside w2
    ("w0 w1  w2 w3", "w1  w2", True),  # inner spaces belong to the answer
    ("w0 w1 w2 w3", " w1 ", True),     # edge spaces are ignored (no piece starts with one)
]


@pytest.mark.parametrize("context, answer, expected", BOUNDARIES)
def test_boundary_ceiling_counts_answers_on_piece_boundaries(context, answer, expected):
    ceiling = squad.boundary_ceiling([_example(context, answer=answer)], SpaceTokenizer())
    assert (ceiling.answers, ceiling.on_boundaries) == (1, int(expected))


def test_boundary_ceiling_share():
    examples = [_example("w0 w1 w2", answer=a, qid=str(i)) for i, a in enumerate(["w1", "w1 w2", "0 w", "w2"])]
    assert squad.boundary_ceiling(examples, SpaceTokenizer()).ceiling == 3 / 4


def test_long_contexts_become_strided_windows_with_the_answer_placed_where_it_is():
    context = " ".join(f"c{i}" for i in range(20))
    tokenizer = SpaceTokenizer()
    example = _example(context, question="q0 q1", answer="c9 c10")
    # rinna: [CLS] q0 q1 [SEP] + context, no closing [SEP]: 12 - 4 = 8 context pieces a window, a new one every 4
    windows, stats = squad.windows_for([example], tokenizer, RINNA, max_length=12, stride=4)
    assert (stats.windows, stats.answers_off_boundaries) == (4, 0)
    assert [context[w.spans[0][0]:w.spans[0][1]] for w in windows] == ["c0", "c4", "c8", "c12"]  # the last ends at c19
    assert all(len(w.input_ids) == 12 and w.context_first == 4 for w in windows)
    assert windows[0].input_ids[:4] == [1, tokenizer.vocab["q0"], tokenizer.vocab["q1"], 2]
    assert windows[0].position_ids == list(range(12))
    # c9 c10 are context pieces 9 and 10: outside window 0 (0-7), at 5-6 of window 1 (4-11) -> input 9-10
    assert [w.answer for w in windows] == [None, (9, 10), (5, 6), None]
    assert windows[1].piece_span(9, 10) == (context.index("c9"), context.index("c10") + 3)
    # max context: piece 9 sits in windows 1 (4-11: min(5, 2) = 2), 2 (8-15: min(1, 6) = 1) -> window 1
    assert windows[1].max_context[9 - 4] and not windows[2].max_context[9 - 8]
    # BERT framing closes with [SEP] and lets the model number positions
    windows, _ = squad.windows_for([example], tokenizer, JMEDROBERTA, max_length=12, stride=4)
    assert windows[0].input_ids[-1] == 2 and windows[0].position_ids is None and len(windows) == 5


def test_a_short_context_is_one_window_and_a_long_question_is_cut():
    windows, stats = squad.windows_for([_example("a b c", question=" ".join("q" * 70), answer="b")], SpaceTokenizer(), RINNA)
    assert (len(windows), stats.truncated_questions, len(windows[0].input_ids)) == (1, 1, 1 + 64 + 1 + 3)
    assert windows[0].answer == (67, 67)


BEST_SPANS = [
    # start logits, end logits, allowed, max length, expected (start, end) pairs best first
    # (1,2) 9, (1,3) 6.5, (2,2) 6, (1,1) 5, (0,2) 4, (2,3) 3.5
    ([0, 5, 2, 0], [0, 0, 4, 1.5], [True] * 4, 30, [(1, 2), (1, 3), (2, 2), (1, 1), (0, 2), (2, 3)]),
    # an end before its start never pairs: 3 is the best start, 1 the best end
    ([0, 1, 0, 5], [0, 5, 0, 1], [True] * 4, 30, [(3, 3), (1, 1), (0, 1), (1, 3)]),
    # at most 2 pieces long: (1, 3) would score 10 but is 3 long; (1,1) 7, (3,3) 6, (1,2) 5.5, (2,3) 5
    ([0, 5, 0, 1], [0, 2, 0.5, 5], [True] * 4, 2, [(1, 1), (3, 3), (1, 2), (2, 3)]),
    # position 0 ([CLS]) not allowed
    ([9, 1, 0], [9, 0, 1], [False, True, True], 30, [(1, 2), (1, 1), (2, 2)]),
]


@pytest.mark.parametrize("starts, ends, allowed, longest, expected", BEST_SPANS)
def test_best_spans(starts, ends, allowed, longest, expected):
    found = squad.best_spans(np.array(starts, float), np.array(ends, float), allowed, allowed, n_best=6, max_answer_length=longest)
    assert [(s, e) for s, e, _ in found][: len(expected)] == expected
    assert [score for *_, score in found] == sorted((score for *_, score in found), reverse=True)


def test_predictions_are_spans_of_the_original_context():
    context = "駅は  東京  駅 。"  # double spaces stay inside the answer: never pieces joined back
    example = _example(context, question="どこ")
    windows, _ = squad.windows_for([example], SpaceTokenizer(), RINNA)
    window = windows[0]
    starts, ends = np.zeros(len(window.input_ids)), np.zeros(len(window.input_ids))
    starts[window.context_first + 1] = 4.0   # 東京
    ends[window.context_first + 2] = 3.0     # 駅
    best = squad.predict_answers(context, windows, [starts], [ends], n_best=3)
    assert (best[0].text, best[0].start, best[0].end, best[0].score) == ("東京  駅", 4, 9, 7.0)
    assert all(p.text == context[p.start:p.end] for p in best)


# -- rinna's real tokenizer: the word-boundary option ---------------------------------------------
WORD_BOUNDARY_CASES = [
    # context, answer: off rinna's piece boundaries, on MeCab IPAdic's words
    ("4年に1度オリンピックは開かれる。", "4年"),                       # ▁4 | 年に
    ("1987年（昭和62年）4月1日の国鉄分割民営化により発足した。", "4月1日"),  # )4 ... 日の
    ("JR東海が運営を継承した。", "継承"),                               # を継承した
]


@pytest.fixture(scope="module")
def rinna(shared_dir):
    return load_tokenizer(shared_dir / "reference" / "rinna")


def test_word_boundaries_raise_rinnas_ceiling_on_hand_made_answers(rinna):
    examples = [_example(c, answer=a, qid=str(i)) for i, (c, a) in enumerate(WORD_BOUNDARY_CASES)]
    assert squad.boundary_ceiling(examples, rinna).on_boundaries == 0
    assert squad.boundary_ceiling(examples, rinna.with_word_boundaries("mecab")).on_boundaries == 3


PIECES = [
    # text, rinna's pieces, with word boundaries ("▁" only where SentencePiece puts one)
    ("4年に1度オリンピックは開かれる。", ["▁4", "年に", "1", "度", "オリンピック", "は", "開かれる", "。"],
     ["▁4", "年", "に", "1", "度", "オリンピック", "は", "開", "か", "れる", "。"]),
    ("最高速度285 km/hで運行", ["▁", "最高速度", "28", "5", "▁km", "/", "h", "で", "運行"],
     ["▁", "最高", "速度", "28", "5", "▁km", "/", "h", "で", "運行"]),
    ("4年に1度[MASK]は開かれる。", ["▁4", "年に", "1", "度", "[MASK]", "は", "開かれる", "。"],
     ["▁4", "年", "に", "1", "度", "[MASK]", "は", "開", "か", "れる", "。"]),
]


@pytest.mark.parametrize("text, plain, bounded", PIECES)
def test_word_boundaries_only_add_breaks(rinna, text, plain, bounded):
    option = rinna.with_word_boundaries("mecab")
    assert rinna.encode(text).tokens == plain
    encoding = option.encode(text)
    assert encoding.tokens == bounded
    assert option.encode_ids_batch([text]) == [encoding.ids]
    assert all(text[b:e].lower() == t.lstrip("▁") for t, (b, e) in zip(encoding.tokens, encoding.offsets) if t != "[MASK]")


def test_word_boundaries_are_kept_by_saving_and_pickling(rinna, tmp_path):
    option = rinna.with_word_boundaries("mecab")
    assert option.fingerprint != rinna.fingerprint
    option.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert (loaded.word_boundaries, loaded.fingerprint) == ("mecab", option.fingerprint)
    assert pickle.loads(pickle.dumps(option)).encode("東京駅に着いた。").tokens == option.encode("東京駅に着いた。").tokens
    rinna.save(tmp_path / "plain")
    assert "word_boundaries" not in (tmp_path / "plain" / "jaroberta_tokenizer.json").read_text(encoding="utf-8")
    with pytest.raises(JarobertaError, match="unknown word_boundaries 'juman'"):
        rinna.with_word_boundaries("juman")


def test_rinna_windows_place_the_answer_and_decode_it_back_exactly(rinna):
    context = "東海道新幹線 [SEP] 2020年（令和2年）3月現在、東京駅 - 新大阪駅間の最高速度285 km/hで運行されている。"
    example = squad.QAExample("a1p0q0", "最高速度はどのくらいか。", context, (squad.Answer("285 km/h", context.index("285")),))
    for tokenizer in (rinna, squad.qa_tokenizer(rinna, "mecab")):
        windows, stats = squad.windows_for([example], tokenizer, RINNA, max_length=384)
        (window,) = windows
        assert window.input_ids[0] == tokenizer.token_to_id("[CLS]") and window.position_ids[0] == 0
        assert stats.answers_off_boundaries == 0
        start, end = window.answer
        starts, ends = np.zeros(len(window.input_ids)), np.zeros(len(window.input_ids))
        starts[start], ends[end] = 5.0, 5.0
        best = squad.predict_answers(context, windows, [starts], [ends])[0]
        assert (best.text, best.start) == ("285 km/h", context.index("285"))


def test_qa_tokenizer_options(rinna):
    assert squad.qa_tokenizer(rinna, None) is rinna
    assert squad.qa_tokenizer(rinna, "mecab").word_boundaries == "mecab"
    with pytest.raises(JarobertaError, match="unknown word boundaries 'juman'"):
        squad.qa_tokenizer(rinna, "juman")
