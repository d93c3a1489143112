"""Hostile clients against the service, through real HTTP: text no tokenizer can take,
bodies that are not UTF-8 JSON, absurd nesting and numbers, a foreign Host header, slow
senders, too many connections. Each is answered 4xx with a JSON message naming the
problem in the API's own terms, costs the good requests nothing (no extra forward pass),
and leaves /api/health at 200. Property-based tests (Hypothesis) throw arbitrary text and
JSON at a tiny real model.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket

import httpx
import pytest
from http_client import KeepAliveClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layouts import rinna_dir  # noqa: F401  (a module-scoped fixture)
from test_serve import MASK, FakeBackend, client, fake_server  # noqa: F401  (client: a fixture)

from jaroberta.errors import JarobertaError
from jaroberta.service.app import create_app
from jaroberta.service.backend import load_backend
from jaroberta.service.body import MAX_DEPTH, BodyError, decode_json_body
from jaroberta.service.config import ServeConfig
from jaroberta.service.hosts import host_name
from jaroberta.service.server import BackgroundServer

FLAG = re.compile(r"(^|[\s(])--[a-z]")
"""A command-line flag in an API message: API clients have none to pass."""
JSON = {"Content-Type": "application/json"}


def _clear_error(response: httpx.Response, status: int) -> dict:
    """The error of `response`: JSON of the app's shape, a message, no traceback, no CLI flags."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"], error
    assert "Traceback" not in response.text and not FLAG.search(error["message"]), error["message"]
    return error


@pytest.fixture(scope="module")
def server():
    with fake_server() as srv:
        yield srv


# -- bodies and texts ----------------------------------------------------------------------
HOSTILE = [
    # (path, raw body, status, error type, words the message must contain)
    ("/api/fill-mask", b'{"text": "\\ud800\\u6771[MASK]"}', 400, "invalid_text", "text: lone surrogate U+D800 at character 0"),
    ("/api/tokenize", b'{"text": "ab\\udc00"}', 400, "invalid_text", "text: lone surrogate U+DC00 at character 2"),
    ("/api/score", b'{"texts": ["ok", "a\\udfffb"]}', 400, "invalid_text", "texts.1: lone surrogate U+DFFF at character 1"),
    ("/api/embed", b'{"text": "x\\ud800\\ud800"}', 400, "invalid_text", "text: lone surrogate U+D800 at character 1"),
    ("/api/fill-mask", '{"text": "東京[MASK]"}'.encode("shift_jis"), 400, "bad_encoding", "not UTF-8 (byte 0x93 at byte 10)"),
    ("/api/fill-mask", '{"text": "東京[MASK]"}'.encode("euc_jp"), 400, "bad_encoding", "not UTF-8"),
    ("/api/fill-mask", '{"text": "東京[MASK]"}'.encode("utf-16"), 400, "bad_encoding", "not UTF-8"),
    ("/api/fill-mask", b"[" * 30000 + b"]" * 30000, 400, "nested_too_deep", f"nested more than {MAX_DEPTH} deep"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "x": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "nested_too_deep", "nested"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": ' + b"9" * 5000 + b"}", 400, "number_too_large", "a number of 5000 characters"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": 1e999}', 400, "number_too_large", "1e999 is out of range"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": NaN}', 400, "malformed_json", "NaN"),
    ("/api/fill-mask", b'{"text": "a[MASK]"', 400, "malformed_json", "line 1 column"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "top_k": 99999999999999999999}', 422, "invalid_request", "a number of 20 digits"),
    ("/api/fill-mask", b'{"text": "a[MASK]", "truncate": "yes"}', 422, "invalid_request", "truncate"),
    ("/api/score", b'{"text": "a[MASK]"}', 422, "invalid_request", "contains [MASK]"),
    ("/api/embed", b'"just a string"', 422, "invalid_request", "body: must be a JSON object"),
]


# Every message names the field the client sent: `text` for one text, `texts[i]` for a list.
FIELD_NAMES = [
    # (path, body, the message's start)
    ("/api/fill-mask", {"text": "   "}, "text is empty"),
    ("/api/fill-mask", {"texts": ["a[MASK]", " "]}, "texts[1] is empty"),
    ("/api/fill-mask", {"text": "no mask"}, "text has no [MASK]"),
    ("/api/fill-mask", {"texts": ["a[MASK]", "no mask"]}, "texts[1] has no [MASK]"),
    ("/api/fill-mask", {"text": "[MASK]" * 9}, "text has 9 masks"),
    ("/api/fill-mask", {"texts": ["[MASK]" * 9]}, "texts[0] has 9 masks"),
    ("/api/fill-mask", {"text": "あ" * 1001 + "[MASK]"}, "text has 1007 characters"),
    ("/api/score", {"text": "a[MASK]"}, "text contains [MASK]"),
    ("/api/score", {"texts": ["ok", "a[MASK]"]}, "texts[1] contains [MASK]"),
    ("/api/embed", {"text": ""}, "text is empty"),
    ("/api/embed", {"texts": ["a" * 1001]}, "texts[0] has 1001 characters"),
    ("/api/tokenize", {"text": " "}, "text is empty"),
]


@pytest.mark.parametrize("path, body, start", FIELD_NAMES)
def test_messages_name_the_field_the_client_sent(client, path, body, start):
    assert _clear_error(client.post(path, json=body), 422)["message"].startswith(start)


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}])
def test_a_body_not_declared_json_gets_415(client, headers):
    response = client.post("/api/fill-mask", content=b'{"text": "a[MASK]"}', headers=headers)
    assert "Content-Type: application/json" in _clear_error(response, 415)["message"]


@pytest.mark.parametrize("path, body, status, kind, words", HOSTILE)
def test_hostile_bodies_get_a_4xx_that_names_the_problem(client, path, body, status, kind, words):
    error = _clear_error(client.post(path, content=body, headers=JSON), status)
    assert error["type"] == kind and words in error["message"], error["message"]
    assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize("text", ["東\x00京[MASK]", "東\x01\x1f\x7f[MASK]", "\u0301\u0301[MASK]", "\ufeff\ufffe[MASK]", "\U0010ffff[MASK]"])
def test_control_characters_and_odd_code_points_are_text(client, text):
    """Both tokenizer families take these (only lone surrogates break them): no refusal."""
    assert client.post("/api/fill-mask", json={"text": text}).status_code == 200


def test_truncate_is_refused_where_the_backend_cannot_cut(client):
    error = _clear_error(client.post("/api/embed", json={"text": "abc", "truncate": True}), 422)
    assert error["message"].startswith("truncate: ")


def test_a_utf8_byte_order_mark_is_accepted(client):
    response = client.post("/api/fill-mask", content=b'\xef\xbb\xbf{"text": "a[MASK]"}', headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body, kind", [
    (b"[[[[]]]]", None), (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, None), (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested_too_deep"),
    (b'{"a": 1.5e10, "b": -3}', None), (b"1" * 40, "number_too_large"), (b"Infinity", "malformed_json"),
    (b"\x80", "bad_encoding"), ('"東京"'.encode(), None),
])
def test_decode_json_body(body, kind):
    if kind is None:
        assert decode_json_body(body) == json.loads(body)
    else:
        with pytest.raises(BodyError) as caught:
            decode_json_body(body)
        assert caught.value.kind == kind and caught.value.status_code == 400


# -- one bad request costs the others nothing ----------------------------------------------
async def _send_all(port: int, bodies: list[dict]) -> list[int]:
    async def one(body):
        async with KeepAliveClient("127.0.0.1", port) as c:
            return (await c.post_json("/api/fill-mask", body))[0]

    return await asyncio.gather(*(one(b) for b in bodies))


def test_bad_requests_never_reach_the_batches_of_good_ones():
    backend = FakeBackend()
    config = ServeConfig(max_wait_ms=50, adaptive_wait=False, max_batch=64, max_texts=4)
    good = [{"text": f"{i}{MASK}"} for i in range(30)]
    bad = [{"text": f"\ud800{i}{MASK}"} for i in range(5)] + [{"text": f"{i}{MASK}", "top_k": 10**30} for i in range(5)]
    mixed = [body for pair in zip(good, bad + [None] * 30) for body in pair if body is not None]
    with BackgroundServer(create_app(backend, config)) as srv:
        alone = asyncio.run(_send_all(srv.port, good))
        batches_alone = backend.batch_sizes[:]
        backend.batch_sizes.clear()
        together = asyncio.run(_send_all(srv.port, mixed))
        assert httpx.get(srv.url + "/api/health").status_code == 200
    assert alone == [200] * 30 and sorted(together) == [200] * 30 + [400] * 5 + [422] * 5
    # Every text the model saw is a good one, and batching is as good as without the bad ones.
    assert sum(backend.batch_sizes) == 30, backend.batch_sizes
    assert len(backend.batch_sizes) <= max(3, 2 * len(batches_alone)), (batches_alone, backend.batch_sizes)


class RefusingBackend(FakeBackend):
    """Refuses texts with 'LONG' the way ModelBackend refuses texts too long for the model:
    an exception in the text's result slot, the rest of the batch answered."""

    def fill_mask(self, texts: list[str], top_k: int) -> list:
        results = super().fill_mask(texts, top_k)
        return [JarobertaError("600 pieces, but the model takes at most 510") if "LONG" in t else r for t, r in zip(texts, results)]


def test_a_text_the_model_refuses_fails_alone_without_rerunning_its_batch():
    backend = RefusingBackend()
    bodies = [{"text": f"{i}{MASK}"} for i in range(5)] + [{"texts": ["ok[MASK]", f"LONG{MASK}"]}]

    async def post_all(url):
        async with httpx.AsyncClient(base_url=url, timeout=20) as c:
            return await asyncio.gather(*(c.post("/api/fill-mask", json=b) for b in bodies))

    with BackgroundServer(create_app(backend, ServeConfig(max_wait_ms=50, adaptive_wait=False))) as srv:
        responses = asyncio.run(post_all(srv.url))
    assert [r.status_code for r in responses] == [200] * 5 + [422]
    assert _clear_error(responses[-1], 422)["message"] == "texts[1]: 600 pieces, but the model takes at most 510"
    assert sum(backend.batch_sizes) == 7, backend.batch_sizes  # each text ran once: no retry alone


# -- every route goes through the queue limit ----------------------------------------------
class SlowTokenizer(FakeBackend):
    def tokenize(self, text: str) -> dict:
        self._model_call([text])  # 'SLOW' sleeps, holding the model thread
        return super().tokenize(text)


def test_tokenize_is_refused_503_when_the_queue_is_full():
    backend = SlowTokenizer(slow_s=1.0)
    config = ServeConfig(queue_size=1, max_batch=1, max_texts=1, max_wait_ms=0)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, timeout=20) as c:
            busy = asyncio.create_task(c.post("/api/tokenize", json={"text": "SLOW"}))
            await asyncio.get_running_loop().run_in_executor(None, backend.started.wait, 10)
            refused = await asyncio.gather(*(c.post(path, json=body) for path, body in [
                ("/api/tokenize", {"text": "a"}), ("/api/fill-mask", {"text": MASK}), ("/api/score", {"text": "a"}),
            ]))
            return await busy, refused

    with BackgroundServer(create_app(backend, config)) as srv:
        busy, refused = asyncio.run(scenario(srv.url))
        assert busy.status_code == 200
        for response in refused:
            assert _clear_error(response, 503)["type"] == "overloaded" and response.headers["retry-after"] == "1"
        assert httpx.get(srv.url + "/api/health").json()["rejected"] == 3
        assert httpx.post(srv.url + "/api/tokenize", json={"text": "a"}).status_code == 200


# -- the Host header -------------------------------------------------------------------------
@pytest.mark.parametrize("header, status", [
    ("127.0.0.1", 200), ("127.0.0.1:8000", 200), ("localhost", 200), ("LOCALHOST:1", 200), ("[::1]:8000", 200),
    ("[::1]", 200), ("127.0.0.2:80", 200),
    ("attacker.example", 421), ("attacker.example:8000", 421), ("localhost.attacker.example", 421),
    ("127.0.0.1.nip.io", 421), ("0.0.0.0", 421), ("", 421),
])
def test_a_loopback_server_answers_only_loopback_host_names(client, header, status):
    response = client.get("/api/health", headers={"Host": header})
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert "allowed_hosts" in _clear_error(response, 421)["message"]


def test_page_and_docs_work_on_loopback_and_not_for_other_hosts(client):
    for path in ("/", "/docs", "/openapi.json", "/static/app.js"):
        assert client.get(path).status_code == 200, path
        assert client.get(path, headers={"Host": "attacker.example"}).status_code == 421, path


def test_allowed_hosts_replaces_the_loopback_names():
    config = ServeConfig(allowed_hosts=("model.internal",), max_wait_ms=1)
    with BackgroundServer(create_app(FakeBackend(), config)) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/api/health", headers={"Host": "model.internal:8000"}).status_code == 200
        assert c.get("/api/health").status_code == 421


@pytest.mark.parametrize("changes, names", [
    ({}, ("localhost", "127.0.0.1", "[::1]")),
    ({"host": "0.0.0.0"}, ("*",)),
    ({"host": "0.0.0.0", "allowed_hosts": ("a.example",)}, ("a.example",)),
])
def test_host_names_by_bind(changes, names):
    assert ServeConfig(**changes).host_names() == names


@pytest.mark.parametrize("header, name", [("localhost:8000", "localhost"), ("[::1]:80", "[::1]"), ("Example.ORG", "example.org")])
def test_host_name(header, name):
    assert host_name(header) == name


# -- slow senders and too many connections --------------------------------------------------
def _answer_to(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(10)  # far beyond the read deadline: a server that never answers fails here
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("sent", [
    b"",  # connected, says nothing
    b"POST /api/fill-mask HTTP/1.1\r\nHo",  # headers one byte at a time, stopped
    b"POST /api/fill-mask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"te",
])
def test_a_slow_sender_gets_408_and_is_disconnected(sent):
    with BackgroundServer(create_app(FakeBackend(), ServeConfig(read_timeout_s=0.3, max_wait_ms=1))) as srv:
        with socket.create_connection((srv.host, srv.port)) as sock:
            sock.sendall(sent)
            answer = _answer_to(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"request_timeout"' in answer and b"0.3 s" in answer
        assert httpx.get(srv.url + "/api/health").status_code == 200


def test_a_keep_alive_connection_is_bounded_while_reading_its_next_request():
    with BackgroundServer(create_app(FakeBackend(), ServeConfig(read_timeout_s=0.3, max_wait_ms=1))) as srv:
        with socket.create_connection((srv.host, srv.port)) as sock:
            # Pipelined: the next request arrives in part with the first.
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/health HTTP/1.1\r\nHo")
            answer = _answer_to(sock)
        assert answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in answer, answer
        with socket.create_connection((srv.host, srv.port)) as sock:
            # After the first answer: the next request starts, and stalls.
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while not first.endswith(b"}"):
                first += sock.recv(4096)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHo")
            assert _answer_to(sock).startswith(b"HTTP/1.1 408 ")


def test_a_chunked_body_over_the_cap_gets_413_and_the_connection_closes():
    config = ServeConfig(max_body_bytes=2048, max_chars=1000, read_timeout_s=0.3, max_wait_ms=1)
    body = b'{"text": "' + b"a" * 4096 + b'[MASK]"}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 500]), body[i : i + 500]) for i in range(0, len(body), 500))
    head = b"POST /api/fill-mask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    with BackgroundServer(create_app(FakeBackend(), config)) as srv:
        with socket.create_connection((srv.host, srv.port)) as sock:
            sock.sendall(head + chunked + b"0\r\n\r\n")
            answer = _answer_to(sock)
        # One answer, the 413, and the connection closed: no 408 for the rest of the body.
        assert answer.startswith(b"HTTP/1.1 413 ") and answer.count(b"HTTP/1.1 ") == 1, answer
        assert b"connection: close" in answer.lower() and b'"body_too_large"' in answer
        assert httpx.get(srv.url + "/api/health").status_code == 200


def test_connections_beyond_the_cap_get_503():
    with BackgroundServer(create_app(FakeBackend(), ServeConfig(max_connections=3, max_wait_ms=1))) as srv:
        idle = [socket.create_connection((srv.host, srv.port)) for _ in range(3)]
        try:
            with socket.create_connection((srv.host, srv.port)) as extra:
                extra.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = _answer_to(extra)
            assert answer.startswith(b"HTTP/1.1 503 ") and b"3 connections open" in answer, answer
        finally:
            for sock in idle:
                sock.close()
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            for _ in range(50):  # the server notices the closed sockets within a few loop turns
                if c.get("/api/health").status_code == 200:
                    break
            assert c.get("/api/health").status_code == 200


@pytest.mark.parametrize("changes, words", [
    ({"read_timeout_s": 0}, "read_timeout_s"),
    ({"max_connections": 0}, "max_connections"),
    ({"allowed_hosts": ["localhost"]}, "allowed_hosts"),
    ({"allowed_hosts": ("",)}, "allowed_hosts"),
])
def test_config_refuses_bad_connection_settings(changes, words):
    with pytest.raises(ValueError, match=words):
        ServeConfig(**changes)


# -- a real tiny model: refusals in API terms, and properties over arbitrary input -----------
@pytest.fixture(scope="module")
def model_server(rinna_dir):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model: OpenMP workers would only spin against the event loop
    config = ServeConfig(max_wait_ms=1, max_chars=3000, max_body_bytes=64 * 1024)
    with BackgroundServer(create_app(load_backend(rinna_dir), config)) as srv:
        yield srv
    torch.set_num_threads(before)


LONG = "今日は天気が良い。" * 300  # within max_chars, beyond the model's 512 tokens


def test_too_long_for_the_model_speaks_of_the_truncate_field(model_server):
    with httpx.Client(base_url=model_server.url, timeout=30) as c:
        refused = c.post("/api/fill-mask", json={"texts": ["今日は[MASK]。", "[MASK]" + LONG]})
        message = _clear_error(refused, 422)["message"]
        assert message.startswith("texts[1]: ") and '"truncate": true' in message
        beyond = c.post("/api/fill-mask", json={"text": LONG + "[MASK]", "truncate": True})
        assert "lies beyond" in _clear_error(beyond, 422)["message"]
        cut = c.post("/api/fill-mask", json={"text": "[MASK]" + LONG, "truncate": True})
        assert cut.status_code == 200, cut.text
        embedded = c.post("/api/embed", json={"texts": ["猫", LONG], "truncate": True})
        assert embedded.status_code == 200 and len(embedded.json()["embeddings"]) == 2
        assert "truncate" in _clear_error(c.post("/api/embed", json={"text": LONG}), 422)["message"]


# Text as hostile clients write it: any code point (lone surrogates included), combining
# marks, controls, long runs of one character, the mask in odd places.
ANY_CHAR = st.characters(exclude_categories=())
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.text(st.characters(categories=("Mn", "Me", "Cc", "Cf", "Zs", "Zl", "Zp", "Co")), max_size=30),
    st.builds(lambda c, n: c * n, ANY_CHAR, st.integers(1, 700)),
    st.builds(lambda a, b: f"{a}{MASK}{b}", st.text(ANY_CHAR, max_size=30), st.text(ANY_CHAR, max_size=30)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ROUTES = ("/api/fill-mask", "/api/tokenize", "/api/score", "/api/embed")
BODIES = st.one_of(
    st.fixed_dictionaries({"text": TEXTS}),
    st.fixed_dictionaries({"texts": st.lists(TEXTS, min_size=1, max_size=3)}),
    st.dictionaries(st.sampled_from(["text", "texts", "top_k", "pooling", "normalize", "truncate", "x"]), JSON_VALUES, max_size=3),
    JSON_VALUES,
)
PROPERTY = settings(  # a few dozen examples: seconds on the tiny model; no example database left behind
    max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _encoded(body, ascii_only: bool) -> bytes:
    # ensure_ascii escapes lone surrogates (valid JSON); raw they make invalid UTF-8.
    return json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@PROPERTY
@given(route=st.sampled_from(ROUTES), body=BODIES, ascii_only=st.booleans())
def test_any_body_is_answered_2xx_or_a_clear_4xx(model_server, route, body, ascii_only):
    response = httpx.post(model_server.url + route, content=_encoded(body, ascii_only), headers=JSON, timeout=30)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        _clear_error(response, response.status_code)


@PROPERTY
@given(text=TEXTS)
def test_tokenize_offsets_index_the_input_text(model_server, text):
    response = httpx.post(model_server.url + "/api/tokenize", json={"text": text}, timeout=30)
    if response.status_code != 200:
        assert _clear_error(response, response.status_code)["type"] in {"invalid_text", "invalid_request"}
        return
    body = response.json()
    assert body["text"] == text
    for token in body["tokens"]:
        if token["offset"] is not None:
            start, end = token["offset"]
            assert 0 <= start <= end <= len(text), (token, len(text))
        assert token["special"] == (token["offset"] is None)


def test_health_after_the_properties(model_server):
    health = httpx.get(model_server.url + "/api/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_cli_flags_reach_the_config():
    from dataclasses import fields

    from jaroberta.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "MODEL", "--allowed-hosts", "model.internal, localhost", "--read-timeout-s", "2.5", "--max-connections", "9"]
    )
    config = ServeConfig(**{f.name: getattr(args, f.name) for f in fields(ServeConfig)})
    assert config.allowed_hosts == ("model.internal", "localhost")
    assert (config.read_timeout_s, config.max_connections) == (2.5, 9)
    assert build_parser().parse_args(["serve", "MODEL"]).allowed_hosts == ()
