"""Hard-wrapped text (manuals, man pages, PDF extracts, e-texts): lines joined before sentence splitting."""

from __future__ import annotations

import pytest

from jaroberta.cli import main
from jaroberta.corpus import iter_documents
from jaroberta.corpus.clean import _ENDS_SENTENCE_RE, Cleaner, CleanConfig
from jaroberta.corpus.wrapping import display_width, join_wrapped_lines
from jaroberta.errors import JarobertaError

MAN_PAGE = ["このオプションを指定すると、設定ファイルの内容を標準", "入力から読み込んで入力します。"]
PDF = [
    "日本語の文章は単語の区切りに空白を使わないため、形態素",
    "解析によって単語に分割する必要がある。この処理は多くの",
    "場合、辞書を用いて行われると解釈されます。",
]


# (document lines, --join-lines, sentences kept, lines joined)
@pytest.mark.parametrize("lines, mode, kept, joined", [
    # a man page paragraph: the head used to be dropped, the tail kept as a "sentence"
    (MAN_PAGE, "auto", ["このオプションを指定すると、設定ファイルの内容を標準入力から読み込んで入力します。"], 1),
    (MAN_PAGE, "never", ["入力から読み込んで入力します。"], 0),
    # a sentence across lines, another one starting mid-line
    (PDF, "auto", ["日本語の文章は単語の区切りに空白を使わないため、形態素解析によって単語に分割する必要がある。",
                   "この処理は多くの場合、辞書を用いて行われると解釈されます。"], 2),
    # a heading is short: not a wrapped line
    (["はじめに", "本書ではソフトウェアの使い方と設定の方法を順に説明します。"], "auto",
     ["本書ではソフトウェアの使い方と設定の方法を順に説明します。"], 0),
    (["はじめに", "本書ではソフトウェアの使い方と設定の方法を順に説明します。"], "always",
     ["はじめに本書ではソフトウェアの使い方と設定の方法を順に説明します。"], 1),
    # one paragraph per line (CC-100): nothing to join
    (["今日は天気が良いので公園を散歩した。", "明日の会議は午前十時から始まる予定です。"], "auto",
     ["今日は天気が良いので公園を散歩した。", "明日の会議は午前十時から始まる予定です。"], 0),
    # a list item starts a unit of its own, even under a full line
    (["インストールの手順は次のとおりです。詳しい説明はマニュアルを参照", "1. パッケージをダウンロードします。"], "auto",
     ["インストールの手順は次のとおりです。", "1. パッケージをダウンロードします。"], 0),
    # a line ending with a colon introduces what follows
    (["設定ファイルには次の項目を必ず書いておく必要があります：", "サーバーの名前とポートの番号を書きます。"], "auto",
     ["サーバーの名前とポートの番号を書きます。"], 0),
    # an indented line starts a new paragraph (Aozora Bunko, Japanese typesetting)
    (["吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ", "\u3000何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"],
     "auto", ["吾輩は猫である。", "名前はまだ無い。", "何でも薄暗いじめじめした所で泣いていた事だけは記憶している。"], 0),
    # wrapped lines indented alike (a man page body) are one paragraph
    (["       このオプションを指定すると、設定ファイルの内容を標準", "       入力から読み込んで入力します。"], "auto",
     ["このオプションを指定すると、設定ファイルの内容を標準入力から読み込んで入力します。"], 1),
])
def test_wrapped_lines_are_joined_before_splitting(lines, mode, kept, joined):
    result = Cleaner(CleanConfig(join_lines=mode)).clean([lines])
    assert [s for doc in result.documents for s in doc] == kept
    assert result.counts["join_lines:joined_lines"] == joined


NARROW = ["日本語の文章は単語の区切りに空白を", "使わないため、形態素解析によって", "単語に分割する必要がある。この処", "理は辞書を用いて行われます。"]
ENGLISH_THEN_JAPANESE = ["The cursor keys move the insertion point in Direct Cursor Mode.",
                         "文書ドキュメント上のカーソルの位置を矢印キーで移動します。"]
MENU_PATHS = ["設定を変えるには、ツール → オプションを選択", "メニュー表示 → ツールバーを選ぶと一覧が出ます。"]


# wrong joins and narrow columns: (document lines, --join-lines, sentences kept, lines joined)
@pytest.mark.parametrize("lines, mode, kept, joined", [
    # an English sentence ending in "." is not glued to the Japanese one after it, in any mode
    (ENGLISH_THEN_JAPANESE, "auto", ["文書ドキュメント上のカーソルの位置を矢印キーで移動します。"], 0),
    (ENGLISH_THEN_JAPANESE, "always", ["文書ドキュメント上のカーソルの位置を矢印キーで移動します。"], 0),
    # an abbreviation-like "." before Latin text still continues (a wrapped English line)
    (["日本語の説明の中で使われる略語の例としては e.g.", "and so on があげられます。"], "always",
     ["日本語の説明の中で使われる略語の例としては e.g. and so on があげられます。"], 1),
    # a line ending a menu path, then a line starting another menu path: two units
    (MENU_PATHS, "auto", ["メニュー表示 → ツールバーを選ぶと一覧が出ます。"], 0),
    (MENU_PATHS, "always", ["メニュー表示 → ツールバーを選ぶと一覧が出ます。"], 0),
    # a menu path inside wrapped prose still joins when the next line does not start a path
    (["設定を変えるには、ツール → オプションを選択して表示される", "画面で項目を選び、最後に保存を押します。"], "auto",
     ["設定を変えるには、ツール → オプションを選択して表示される画面で項目を選び、最後に保存を押します。"], 1),
    # a narrow column (17 characters a line) is wrapped text too
    (NARROW, "auto", ["日本語の文章は単語の区切りに空白を使わないため、形態素解析によって単語に分割する必要がある。",
                      "この処理は辞書を用いて行われます。"], 3),
    # a short list of labels of like length is not (no sentence ends on its lines)
    (["ファイルを開く", "ファイルを保存", "印刷を設定する", "アプリを終了"], "auto", [], 0),
    # nor are two narrow lines (too few to tell)
    (["日本語の文章は単語の区切りに空白を", "使わないため。"], "auto", ["使わないため。"], 0),
])
def test_wrong_joins_and_narrow_columns(lines, mode, kept, joined):
    result = Cleaner(CleanConfig(join_lines=mode)).clean([lines])
    assert [s for doc in result.documents for s in doc] == kept
    assert result.counts["join_lines:joined_lines"] == joined


@pytest.mark.parametrize("text, expected", [
    ("日本語の文章は単語の区切りに空白を使わないため、形態素\n解析する。", "日本語の文章は単語の区切りに空白を使わないため、形態素解析する。"),
    ("This manual page describes the options of the program and\nhow to use them.", "This manual page describes the options of the program and how to use them."),
    ("日本語の文章は単語の区切りに空白を使わないため、Linux\nkernel の話をする。", "日本語の文章は単語の区切りに空白を使わないため、Linux kernel の話をする。"),
    ("日本語の文章は単語の区切りに空白を使わないため、英語の\nLinux kernel の話。", "日本語の文章は単語の区切りに空白を使わないため、英語のLinux kernel の話。"),
    ("a line that ends with a hyphenated word is joined as well-\nknown text.", "a line that ends with a hyphenated word is joined as well-known text."),
])
def test_no_space_between_japanese_one_between_latin_words(text, expected):
    assert join_wrapped_lines(text, "always", _ENDS_SENTENCE_RE) == (expected, 1)


@pytest.mark.parametrize("line, width", [("abc", 3), ("日本語", 6), ("日本 go", 7), ("", 0)])
def test_display_width(line, width):
    assert display_width(line) == width


def test_bad_mode_is_a_clear_error():
    with pytest.raises(JarobertaError, match="join_lines"):
        CleanConfig(join_lines="sometimes")


def test_corpus_build_reports_joined_lines(tmp_path, capsys):
    (tmp_path / "manual.txt").write_text("\n".join(PDF) + "\n\n" + "\n".join(MAN_PAGE) + "\n", encoding="utf-8")
    assert main(["corpus", "build", str(tmp_path / "manual.txt"), str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "join_lines" in out and "joined lines 3" in out
    sentences = [s for split in ("train", "dev") for doc in iter_documents(tmp_path / "out", split) for s in doc]
    assert "この処理は多くの場合、辞書を用いて行われると解釈されます。" in sentences
    assert "入力から読み込んで入力します。" not in sentences
