"""Shared test fixtures: hermetic, offline, tiny."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# A few dozen everyday Japanese sentences for throwaway tokenizers and models.
JA_SENTENCES = [
    "4年に1度オリンピックは開かれる。",
    "今日は天気が良いので公園を散歩した。",
    "東京は日本の首都であり、人口が最も多い都市である。",
    "彼は毎朝コーヒーを飲んでから仕事に出かける。",
    "この本はとても面白かったので友人にも薦めた。",
    "駅前の新しいレストランは昼時にいつも混んでいる。",
    "明日の会議は午前十時から始まる予定です。",
    "雨が降りそうなので傘を持って行きなさい。",
    "子供たちは夏休みに祖父母の家を訪ねた。",
    "この町には古い神社や寺がたくさんある。",
    "新しいソフトウェアをインストールするには管理者の権限が必要です。",
    "ファイルを保存するには「保存」ボタンをクリックしてください。",
    "表のセルを選択して、書式メニューから列の幅を変更します。",
    "文書を印刷する前に、ページのレイアウトを確認してください。",
    "患者は発熱と咳を訴えて病院を受診した。",
    "医師は血液検査の結果から糖尿病と診断した。",
    "高血圧の治療には生活習慣の改善が重要である。",
    "この薬は一日三回、食後に服用してください。",
    "猫が窓辺で気持ちよさそうに昼寝をしている。",
    "図書館で調べ物をしてから家に帰った。",
    "電車が遅れたので会社に遅刻してしまった。",
    "春になると桜の花が咲き、多くの人が花見を楽しむ。",
    "日本語の文章を単語に分割するには形態素解析を使う。",
    "機械学習のモデルは大量のデータから学習する。",
    "富士山は日本で最も高い山として知られている。",
    "京都には世界遺産に登録された寺院が数多くある。",
    "彼女はピアノを弾くのが得意で、毎日練習している。",
    "週末は家族と一緒に映画を見に行く予定だ。",
    "インターネットで最新のニュースを確認した。",
    "この問題を解決するためには新しい方法が必要だ。",
    "冬は空気が乾燥するので風邪をひきやすい。",
    "会議の資料は前日までにメールで送ってください。",
]


@pytest.fixture(scope="session")
def ja_sentences() -> list[str]:
    return list(JA_SENTENCES)


class Killed(Exception):
    """Stands for the process dying: nothing after it runs, nothing is saved."""


def kill_at_call(monkeypatch, owner, name: str, call: int):
    """Make method `name` of `owner` raise `Killed` on its `call`-th call (a run killed mid-way);
    returns the original method, to restore for the resumed run."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def dies(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, dies)
    return original


def kill_at_batch(monkeypatch, task_class, call: int):
    """Make `task_class.next_batch` raise `Killed` on its `call`-th call (a run killed mid-way,
    between checkpoints); returns the original method, to restore for the resumed run."""
    return kill_at_call(monkeypatch, task_class, "next_batch", call)


REQUIRE_SHARED = "JAROBERTA_REQUIRE_SHARED"
"""Set (CI sets it) to make a missing ../shared a failure: there the reference tests must run."""


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (reference files); skip with a reason where absent, fail
    instead where $JAROBERTA_REQUIRE_SHARED is set."""
    if not (SHARED / "reference" / "rinna" / "google_sp.model").exists():
        message = f"../shared/reference/rinna not found at {SHARED}: reference tests need the shared folder beside the checkout"
        if os.environ.get(REQUIRE_SHARED):
            pytest.fail(f"{message} (${REQUIRE_SHARED} is set, so this is a failure, not a skip)")
        pytest.skip(message)
    return SHARED
