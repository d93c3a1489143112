"""The HTTP service over a fake model, through real HTTP on localhost: routes, limits,
malformed input, batching, the queue, timeouts and per-request error isolation.

The fake backend is deterministic and instant (or slow / failing on purpose), so these
tests check the service's behaviour, not a model's. tests/test_serve_model.py runs the
same service over a tiny real checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time

import httpx
import pytest

from jaroberta.service.app import STATIC_DIR, create_app
from jaroberta.service.config import ServeConfig
from jaroberta.service.server import BackgroundServer

MASK = "[MASK]"
WORDS = ["東京", "大阪", "京都", "名古屋", "札幌", "福岡", "神戸", "横浜"]


class FakeBackend:
    """Characters as tokens; fixed candidates. 'POISON' in a text raises, 'SLOW' sleeps."""

    mask_token = MASK

    def __init__(self, slow_s: float = 0.5) -> None:
        self.slow_s = slow_s
        self.batch_sizes: list[int] = []
        self.started = threading.Event()  # set when a model call begins

    def info(self) -> dict:
        model = {"path": "fake", "tokenizer_kind": "fake", "architecture": "Fake", "layers": 0, "hidden_size": 4}
        return {"model": model, "conventions": {"name": "fake"}, "normalization": "none", "mask_token": MASK}

    def _pieces(self, text: str) -> list[str]:
        return re.findall(r"\[MASK\]|.", text)

    def tokenize(self, text: str) -> dict:
        tokens = [{"token": "[CLS]", "id": 1, "offset": None, "special": True, "mask": False}]
        start = 0
        for piece in self._pieces(text):
            tokens.append({"token": piece, "id": 10 + ord(piece[0]) % 100, "offset": (start, start + len(piece)),
                           "special": False, "mask": piece == MASK})
            start += len(piece)
        return {"text": text, "normalized": text, "normalization": "none", "tokens": tokens,
                "mask_indices": [i for i, t in enumerate(tokens) if t["mask"]], "unknown": 0}

    def _model_call(self, texts: list[str]) -> None:
        self.started.set()
        self.batch_sizes.append(len(texts))
        if any("SLOW" in t for t in texts):
            time.sleep(self.slow_s)
        if any("POISON" in t for t in texts):
            raise ValueError("poisoned input")

    def fill_mask(self, texts: list[str], top_k: int) -> list[dict]:
        self._model_call(texts)
        results = []
        for text in texts:
            pieces = ["[CLS]"] + self._pieces(text)
            masks = [
                {"index": i, "candidates": [{"token": w, "token_id": 100 + j, "score": 0.5 / (j + 1)} for j, w in enumerate(WORDS[:top_k])]}
                for i, p in enumerate(pieces) if p == MASK
            ]
            results.append({"text": text, "normalized": text, "tokens": pieces, "ids": list(range(len(pieces))), "masks": masks})
        return results

    def score(self, texts: list[str]) -> list[dict]:
        self._model_call(texts)
        return [{"text": t, "pll": -float(len(t)), "n_tokens": len(t), "pseudo_perplexity": 2.0} for t in texts]

    def count_pieces(self, texts: list[str]) -> int:
        return sum(len(self._pieces(t)) for t in texts)

    def embed(self, texts: list[str], pooling: str, normalize: bool) -> list[list[float]]:
        self._model_call(texts)
        return [[float(len(t)), 1.0 if pooling == "cls" else 0.0, 0.0, 1.0] for t in texts]


def _server(config: ServeConfig | None = None, backend: FakeBackend | None = None) -> BackgroundServer:
    return BackgroundServer(create_app(backend or FakeBackend(), config or ServeConfig(max_wait_ms=2)))


@contextlib.contextmanager
def fake_server(**config):
    """A served FakeBackend (reachable as `srv.backend`) with these ServeConfig settings."""
    backend = FakeBackend()
    with BackgroundServer(create_app(backend, ServeConfig(max_wait_ms=20, adaptive_wait=False, max_texts=4, **config))) as srv:
        srv.backend = backend
        yield srv


@pytest.fixture(scope="module")
def server():
    with fake_server(max_batch=32) as srv:
        yield srv


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["error"]


# -- the happy paths -------------------------------------------------------------------
def test_health_and_info(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["queue_size"] == 256
    info = client.get("/api/info").json()
    assert info["model"]["tokenizer_kind"] == "fake"
    assert info["limits"]["max_top_k"] == 50 and info["limits"]["max_body_bytes"] == 65536


def test_fill_mask_several_masks_and_top_k(client):
    response = client.post("/api/fill-mask", json={"text": f"{MASK}は{MASK}の隣", "top_k": 3})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert [m["index"] for m in result["masks"]] == [1, 3]
    assert [c["token"] for c in result["masks"][0]["candidates"]] == WORDS[:3]


def test_fill_mask_texts_keep_their_order(client):
    texts = [f"{i}{MASK}" for i in range(4)]
    results = client.post("/api/fill-mask", json={"texts": texts}).json()["results"]
    assert [r["text"] for r in results] == texts


def test_tokenize_reports_masks_offsets_and_normalization(client):
    body = client.post("/api/tokenize", json={"text": f"今日は{MASK}。"}).json()
    assert body["normalization"] == "none"
    assert body["mask_indices"] == [4]
    assert body["tokens"][4]["offset"] == [3, 9] and body["tokens"][0]["special"]


def test_score_and_embed(client):
    scores = client.post("/api/score", json={"texts": ["ab", "abc"]}).json()["results"]
    assert [s["n_tokens"] for s in scores] == [2, 3]
    embedded = client.post("/api/embed", json={"text": "abc", "pooling": "cls"}).json()
    assert embedded["dim"] == 4 and embedded["embeddings"] == [[3.0, 1.0, 0.0, 1.0]]


# -- the page and the docs are local --------------------------------------------------
def test_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert "/static/app.js" in page.text


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC_DIR.iterdir()))
def test_static_files_load_nothing_from_the_network(name):
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text), f"{name} links an external resource"
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", text)
    assert not re.search(r"fetch\(\s*[\"'`]https?:", text)


def test_docs_are_local_and_openapi_lists_the_endpoints(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text
    assert not re.search(r"(src|href)=\"(https?:)?//", docs.text), "the docs page must not load swagger-ui from a CDN"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/fill-mask", "/api/tokenize", "/api/score", "/api/embed", "/api/info", "/api/health"} <= set(paths)


# -- wrong input is a clear 4xx, never a crash ------------------------------------------
BAD_REQUESTS = [
    # (path, raw body, status, words the message must contain)
    ("/api/fill-mask", b'{"text": "a[MASK]", ', 400, "not valid JSON"),
    ("/api/fill-mask", b"\xff\xfe garbage", 400, "not valid JSON"),
    ("/api/fill-mask", b"", 422, "body"),
    ("/api/fill-mask", b"[1, 2]", 422, "body"),
    ("/api/fill-mask", b'{"text": 5}', 422, "text"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": "5"}', 422, "top_k"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": 2.5}', 422, "top_k"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": 0}', 422, "top_k must be between 1 and 50"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": 51}', 422, "top_k must be between 1 and 50"),
    ("/api/fill-mask", b'{"text": "no mask here"}', 422, "has no [MASK]"),
    ("/api/fill-mask", json.dumps({"text": "[MASK]" * 9}).encode(), 422, "9 masks; the limit is 8"),
    ("/api/fill-mask", json.dumps({"texts": ["[MASK]"] * 5}).encode(), 422, "5 texts in one request; the limit is 4"),
    ("/api/fill-mask", json.dumps({"texts": []}).encode(), 422, "empty"),
    ("/api/fill-mask", json.dumps({"text": "[MASK]" + "あ" * 1000}).encode(), 422, "1006 characters; the limit is 1000"),
    ("/api/fill-mask", b"{}", 422, "exactly one of 'text'"),
    ("/api/fill-mask", b'{"text": "[MASK]", "texts": ["[MASK]"]}', 422, "exactly one of 'text'"),
    ("/api/fill-mask", b'{"text": "[MASK]", "topk": 3}', 422, "topk"),
    ("/api/fill-mask", b'{"texts": ["[MASK]", 3]}', 422, "texts.1"),
    ("/api/tokenize", b'{"text": "   "}', 422, "empty"),
    ("/api/tokenize", b'{"text": null}', 422, "text"),
    ("/api/embed", b'{"text": "a", "pooling": "max"}', 422, "pooling"),
    ("/api/embed", b'{"text": "a", "normalize": "yes"}', 422, "normalize"),
    ("/api/score", b'{"texts": "not a list"}', 422, "texts"),
    ("/api/score", json.dumps({"texts": ["あ" * 300, "い" * 213]}).encode(), 422, "513 pieces to score; the limit is 512"),
]


@pytest.mark.parametrize("path, body, status, words", BAD_REQUESTS)
def test_bad_requests_get_clear_json_errors(client, path, body, status, words):
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["status"] == status and words in error["message"], error["message"]


def test_unknown_route_and_wrong_method_are_json(client):
    assert _error(client.get("/api/nope"))["status"] == 404
    assert _error(client.get("/api/fill-mask"))["status"] == 405


def test_huge_body_is_refused_before_parsing():
    config = ServeConfig(max_body_bytes=2048, max_chars=1000, max_wait_ms=1)
    with _server(config) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        declared = c.post("/api/fill-mask", content=b"{" + b" " * 5000 + b"}", headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and "larger than 2048 bytes" in _error(declared)["message"]
        # Chunked: no Content-Length, the cap is counted as the body arrives.
        chunked = c.post("/api/fill-mask", content=iter([b'{"text": "', b"a" * 4096, b'[MASK]"}']),
                         headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413
        assert c.get("/api/health").status_code == 200


# -- batching, isolation, the queue, timeouts -------------------------------------------
async def _post_all(url: str, bodies: list[tuple[str, dict]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=20) as c:
        return await asyncio.gather(*(c.post(path, json=body) for path, body in bodies))


def test_concurrent_requests_share_forward_passes(server):
    before = server.backend.batch_sizes[:]
    bodies = [("/api/fill-mask", {"text": f"{i}{MASK}", "top_k": 1 + i % 5}) for i in range(24)]
    responses = asyncio.run(_post_all(server.url, bodies))
    assert all(r.status_code == 200 for r in responses)
    # Each request keeps its own top_k although requests with different top_k share a pass.
    for i, r in enumerate(responses):
        assert len(r.json()["results"][0]["masks"][0]["candidates"]) == 1 + i % 5
    new_batches = server.backend.batch_sizes[len(before):]
    assert sum(new_batches) == 24 and max(new_batches) > 1, new_batches


def test_one_bad_input_fails_alone(server):
    bodies = [("/api/fill-mask", {"text": f"{i}{MASK}"}) for i in range(6)]
    bodies.insert(3, ("/api/fill-mask", {"text": f"POISON{MASK}"}))
    responses = asyncio.run(_post_all(server.url, bodies))
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 500, 200, 200, 200], statuses
    error = _error(responses[3])
    assert error["type"] == "model_error" and "poisoned input" in error["message"]
    assert httpx.get(server.url + "/api/health").json()["failures"] >= 1


def test_full_queue_answers_503_with_retry_after():
    backend = FakeBackend(slow_s=1.0)
    config = ServeConfig(queue_size=1, max_batch=1, max_texts=1, max_wait_ms=0)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, timeout=20) as c:
            busy = asyncio.create_task(c.post("/api/fill-mask", json={"text": f"SLOW{MASK}"}))
            await asyncio.get_running_loop().run_in_executor(None, backend.started.wait, 10)
            waiting = asyncio.create_task(c.post("/api/fill-mask", json={"text": f"SLOW{MASK}"}))
            await asyncio.sleep(0.2)  # let the second request reach the (now full) queue
            refused = await c.post("/api/fill-mask", json={"text": f"{MASK}"})
            return refused, await busy, await waiting

    with _server(config, backend) as srv:
        refused, busy, waiting = asyncio.run(scenario(srv.url))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert _error(refused)["type"] == "overloaded"
        assert busy.status_code == 200 and waiting.status_code == 200
        assert httpx.get(srv.url + "/api/health").json()["rejected"] == 1


def test_slow_request_times_out_with_504_and_the_server_goes_on():
    backend = FakeBackend(slow_s=1.0)
    with _server(ServeConfig(timeout_s=0.2, max_wait_ms=0), backend) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        slow = c.post("/api/fill-mask", json={"text": f"SLOW{MASK}"})
        assert slow.status_code == 504 and "no answer within 0.2 s" in _error(slow)["message"]
        time.sleep(1.0)  # the model thread finishes the slow call
        assert c.post("/api/fill-mask", json={"text": f"{MASK}"}).status_code == 200


class MeteredBackend(FakeBackend):
    """A model whose passes take time as a real one's do (no gain from batching: the worst case
    for the admission's estimate): in proportion to the characters of each text, and for
    scoring, which runs one masked copy of a text per piece, to their square."""

    def __init__(self, seconds_per_char: float) -> None:
        super().__init__()
        self.seconds_per_char = seconds_per_char

    def _model_call(self, texts: list[str]) -> None:
        super()._model_call(texts)
        time.sleep(self.seconds_per_char * sum(len(t) for t in texts))

    def score(self, texts: list[str]) -> list[dict]:
        time.sleep(self.seconds_per_char * sum(len(t) ** 2 for t in texts) / 25)
        return super().score(texts)


def test_a_steady_overload_is_refused_503_at_once_and_every_admitted_request_is_answered():
    import random

    backend = MeteredBackend(seconds_per_char=0.002)  # a text of 50 characters: 0.1 s
    config = ServeConfig(timeout_s=6, max_batch=8, max_texts=4, max_wait_ms=5, queue_size=256)
    rng = random.Random(18)
    answers: list[tuple[str, int, dict, httpx.Response]] = []

    async def client(c: httpx.AsyncClient, until: float, route: str) -> None:
        while time.monotonic() < until:
            texts = [f"{rng.randrange(10**6)}" + "あ" * rng.randrange(5, 50) for _ in range(rng.randrange(1, 5))]
            if route == "/api/fill-mask":
                body = {"texts": [t + MASK for t in texts], "top_k": rng.randrange(1, 6)}
            else:
                body = {"texts": texts}
            started = time.monotonic()
            response = await c.post(route, json=body)
            answers.append((route, response.status_code, body, response))
            if response.status_code == 503:
                # Refused at once: not after the timeout, nor after the model thread counted its pieces.
                assert time.monotonic() - started < config.timeout_s / 2
                await asyncio.sleep(0.05)

    async def overload(url: str) -> None:
        limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
        async with httpx.AsyncClient(base_url=url, timeout=20, limits=limits) as c:
            until = time.monotonic() + 6
            routes = ["/api/score" if i % 4 == 0 else "/api/fill-mask" for i in range(30)]
            await asyncio.gather(*(client(c, until, route) for route in routes))  # far more than the model can do

    with _server(config, backend) as srv:
        asyncio.run(overload(srv.url))
        health = httpx.get(srv.url + "/api/health").json()
    statuses = [status for _, status, _, _ in answers]
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert set(counts) == {200, 503}, counts  # no 504: nothing admitted waited out the timeout
    assert counts[200] >= 5 and health["timeouts"] == 0, counts
    for route, status, body, response in answers:
        if status == 503:
            assert int(response.headers["retry-after"]) >= 1 and _error(response)["type"] == "overloaded"
        elif route == "/api/fill-mask":
            results = response.json()["results"]
            assert [r["text"] for r in results] == body["texts"]
            assert all(len(r["masks"][0]["candidates"]) == body["top_k"] for r in results)
        else:
            assert [r["text"] for r in response.json()["results"]] == body["texts"]


def test_admission_prices_work_by_what_batches_took():
    from jaroberta.service.batching import work_units

    assert work_units("fill_mask", ["あい[MASK]"]) == work_units("embed", ["あい[MASK]"]) == 10
    # Scoring: one masked copy per piece, so the work grows with the square of the length.
    assert work_units("score", ["x"], pieces=40) == 4 * work_units("score", ["x"], pieces=20) - 80
    assert work_units("score", ["a", "b"], pieces=40) < work_units("score", ["ab"], pieces=40)


# -- config and CLI -----------------------------------------------------------------------
@pytest.mark.parametrize("changes, words", [
    ({"max_texts": 64, "max_batch": 8}, "must not exceed max_batch"),
    ({"port": 70000}, "port"),
    ({"queue_size": 0}, "queue_size"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"admit_share": 0}, "admit_share"),
    ({"admit_share": 1.5}, "admit_share"),
    ({"workers": -1}, "workers"),
    ({"max_body_bytes": 100, "max_chars": 1000}, "max_body_bytes"),
])
def test_config_refuses_inconsistent_settings(changes, words):
    with pytest.raises(ValueError, match=words):
        ServeConfig(**changes)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("192.168.1.10", False), ("example.org", False),
])
def test_loopback_detection(host, loopback):
    assert ServeConfig(host=host).is_loopback is loopback


def test_cli_names_a_missing_model(tmp_path, capsys):
    from jaroberta.cli import main

    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_cli_refuses_bad_limits(tmp_path, capsys):
    from jaroberta.cli import main

    assert main(["serve", str(tmp_path), "--max-texts", "64", "--max-batch", "8"]) == 2
    assert "must not exceed max_batch" in capsys.readouterr().err
