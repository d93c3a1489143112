"""The service over tiny real checkpoints in the published layouts, through real HTTP:
framing and normalization are the model's (not re-decided by the server), and a bounded
load test (50 concurrent clients x 20 requests) loses nothing."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest
from http_client import KeepAliveClient
from layouts import jmed_dir, manbyo_dic, rinna_dir  # noqa: F401  (module-scoped fixtures)

from jaroberta.service.app import create_app
from jaroberta.service.backend import load_backend
from jaroberta.service.config import ServeConfig
from jaroberta.service.server import BackgroundServer

CARD_TEXT = "4年に1度[MASK]は開かれる。"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The server, its model thread and the load test's 50 clients share this process and
    the machine's cores: torch's OpenMP workers would spin against the event loop and slow
    a 2-layer model's forward pass tenfold. One intra-op thread suits a tiny model."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def rinna_server(rinna_dir):
    config = ServeConfig(max_wait_ms=5, queue_size=2048, timeout_s=60)
    with BackgroundServer(create_app(load_backend(rinna_dir), config)) as srv:
        yield srv


@pytest.fixture()
def client(rinna_server):
    with httpx.Client(base_url=rinna_server.url, timeout=30) as c:
        yield c


def test_tokenize_frames_like_rinna_and_puts_the_mask_after_tokenization(client):
    body = client.post("/api/tokenize", json={"text": CARD_TEXT}).json()
    tokens = body["tokens"]
    assert tokens[0] == {"token": "[CLS]", "id": 4, "offset": None, "special": True, "mask": False}
    assert tokens[-1]["token"] != "</s>" and not tokens[-1]["special"]  # rinna: no [SEP], no </s>
    [mask] = body["mask_indices"]
    assert tokens[mask]["id"] == 6 and tokens[mask]["token"] == "[MASK]"
    assert CARD_TEXT[slice(*tokens[mask]["offset"])] == "[MASK]"
    assert body["normalization"] == "lower-case"


@pytest.mark.parametrize("text, normalized", [
    ("ABCは[MASK]です。", "abcは[MASK]です。"),
    ("[MASK]とＰＣ", "[MASK]とｐｃ"),
])
def test_tokenize_shows_the_normalization_applied(client, text, normalized):
    assert client.post("/api/tokenize", json={"text": text}).json()["normalized"] == normalized


def test_fill_mask_gives_probabilities_for_every_mask(client):
    response = client.post("/api/fill-mask", json={"text": "今日は[MASK]が良いので[MASK]を散歩した。", "top_k": 4})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["tokens"][0] == "[CLS]" and len(result["masks"]) == 2
    for mask in result["masks"]:
        assert result["tokens"][mask["index"]] == "[MASK]"
        scores = [c["score"] for c in mask["candidates"]]
        assert len(scores) == 4 and scores == sorted(scores, reverse=True)
        assert all(0 < s < 1 for s in scores) and sum(scores) <= 1 + 1e-6
        assert not {"[CLS]", "[MASK]", "[PAD]", "<unk>"} & {c["token"] for c in mask["candidates"]}


def test_fill_mask_in_a_batch_equals_alone(client):
    alone = client.post("/api/fill-mask", json={"text": CARD_TEXT, "top_k": 3}).json()["results"][0]
    batched = client.post("/api/fill-mask", json={"texts": ["短い[MASK]。", CARD_TEXT], "top_k": 3}).json()["results"][1]
    assert [c["token_id"] for c in alone["masks"][0]["candidates"]] == [c["token_id"] for c in batched["masks"][0]["candidates"]]
    for a, b in zip(alone["masks"][0]["candidates"], batched["masks"][0]["candidates"]):
        assert math.isclose(a["score"], b["score"], rel_tol=1e-4)


def test_score_and_embed_over_http(client):
    scores = client.post("/api/score", json={"texts": ["今日は天気が良い。", "東京は日本の首都である。"]}).json()["results"]
    assert all(s["n_tokens"] > 0 and s["pll"] < 0 and s["pseudo_perplexity"] > 1 for s in scores)
    embedded = client.post("/api/embed", json={"texts": ["今日は天気が良い。", "猫"], "normalize": True}).json()
    assert embedded["dim"] == 32 and len(embedded["embeddings"]) == 2
    assert math.isclose(sum(v * v for v in embedded["embeddings"][0]), 1.0, rel_tol=1e-4)


def test_info_describes_the_model(client):
    info = client.get("/api/info").json()
    assert info["model"]["tokenizer_kind"] == "sentencepiece" and info["model"]["layers"] == 2
    assert info["conventions"]["name"] == "rinna" and info["conventions"]["suffix"] == []
    assert info["mask_token"] == "[MASK]"


def test_text_too_long_for_the_model_is_a_clear_422(rinna_dir):
    # 1000 characters pass the server's limit but not the model's 512 tokens.
    config = ServeConfig(max_chars=3000, max_wait_ms=1)
    with BackgroundServer(create_app(load_backend(rinna_dir), config)) as srv:
        response = httpx.post(srv.url + "/api/fill-mask", json={"text": "[MASK]" + "今日は天気が良い。" * 300}, timeout=30)
    assert response.status_code == 422, response.text
    assert "at most" in response.json()["error"]["message"]


def test_jmed_layout_serves_full_width_normalization(jmed_dir, manbyo_dic):
    backend = load_backend(jmed_dir, user_dicts=[manbyo_dic])
    with BackgroundServer(create_app(backend, ServeConfig(max_wait_ms=1))) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        body = c.post("/api/tokenize", json={"text": "この患者は[MASK]と診断された。ALS"}).json()
        assert body["normalization"] == "full-width"
        assert body["normalized"] == "この患者は[MASK]と診断された。ＡＬＳ"
        assert [t["token"] for t in body["tokens"]][:2] == ["[CLS]", "この"] and body["tokens"][-1]["token"] == "[SEP]"
        filled = c.post("/api/fill-mask", json={"text": "統合失調症の患者は[MASK]と診断された。", "top_k": 2})
        assert filled.status_code == 200, filled.text
        assert filled.json()["results"][0]["tokens"][1] == "統合失調症"  # the user dictionary is attached


async def _load(port: int, clients: int, per_client: int) -> list[int]:
    """Statuses of `clients` concurrent clients, each sending `per_client` fill-mask requests
    one after the other on its own keep-alive connection."""

    async def one_client(n: int) -> list[int]:
        statuses = []
        async with KeepAliveClient("127.0.0.1", port) as client:
            for i in range(per_client):
                body = {"text": f"今日は[MASK]が良いので{n}番目の公園を{i}回散歩した。", "top_k": 1 + (n + i) % 5}
                status, answer = await client.post_json("/api/fill-mask", body)
                if status == 200:
                    assert len(answer["results"][0]["masks"][0]["candidates"]) == body["top_k"]
                    assert answer["results"][0]["text"] == body["text"]  # each client gets its own answer
                statuses.append(status)
        return statuses

    per_client_statuses = await asyncio.wait_for(asyncio.gather(*(one_client(n) for n in range(clients))), 180)
    return [s for statuses in per_client_statuses for s in statuses]


def test_fifty_clients_twenty_requests_each_are_all_answered(rinna_server):
    before = httpx.get(rinna_server.url + "/api/health").json()
    statuses = asyncio.run(_load(rinna_server.port, clients=50, per_client=20))
    assert len(statuses) == 1000
    assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
    after = httpx.get(rinna_server.url + "/api/health").json()
    assert after["requests"] - before["requests"] == 1000
    assert after["batches"] - before["batches"] < 1000 and after["largest_batch"] > 1  # requests shared forward passes
    assert after["rejected"] == before["rejected"] and after["timeouts"] == before["timeouts"]


def test_cli_serves_until_interrupted(rinna_dir):
    import re
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "jaroberta", "serve", str(rinna_dir), "--port", "0", "--max-top-k", "7",
               "--convention", "max_length=64"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline, log = time.monotonic() + 180, ""  # start-up imports torch: generous on a loaded machine
        while not (found := re.search(r"running on http://127\.0\.0\.1:(\d+)", log)):
            assert process.poll() is None and time.monotonic() < deadline, log
            log += process.stderr.readline()
        url = f"http://127.0.0.1:{found.group(1)}"
        info = httpx.get(url + "/api/info", timeout=30).json()
        assert info["limits"]["max_top_k"] == 7
        assert info["conventions"]["name"] == "rinna" and info["conventions"]["max_length"] == 64
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_non_loopback_host_warns(rinna_dir, monkeypatch, caplog):
    import uvicorn

    from jaroberta.service.server import serve

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    with caplog.at_level("WARNING"):
        serve(rinna_dir, ServeConfig(host="0.0.0.0"))
    assert calls and calls[0]["host"] == "0.0.0.0"
    assert "reachable from other machines" in caplog.text
