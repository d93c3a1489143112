"""HTTP fill-mask service: throughput and p50/p99 latency at 1, 8 and 32 concurrent clients,
jaroberta's micro-batching server vs a naive FastAPI endpoint over transformers.pipeline.

One run, same model, same requests, same HTTP client:
- the model: a small random RoBERTa (4 layers, hidden 256; --quick: 2 layers, hidden 128)
  in rinna/japanese-roberta-base's published layout, with the real rinna SentencePiece
  model (vocab 32000) when ../shared is beside the checkout, else a tiny one;
- ours: `jaroberta.service.create_app` (requests batched together, max_batch 32,
  max_wait_ms 5, one model thread);
- the baseline: the same route and JSON, a plain FastAPI `def` endpoint calling
  `pipeline("fill-mask")` once per request (FastAPI runs it in its thread pool; no
  batching). NOTE: the pipeline frames rinna's input wrongly (no [CLS], trailing </s>,
  positions from 4); it is timed, its answers are not compared.
- each server runs in its own process (so the load generator does not share its GIL);
  clients are asyncio + h11 keep-alive connections in this process, each sending its
  requests one after the other; every request is one sentence with one [MASK], top_k 5.

    .venv/bin/python bench/serve.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
REAL_SPIECE = REPO.parent / "shared" / "reference" / "rinna" / "google_sp.model"
CONCURRENCY = (1, 8, 32)

sys.path.insert(0, str(REPO / "tests"))  # the tests' tiny layouts and sentences
from conftest import JA_SENTENCES  # noqa: E402

SENTENCES = [JA_SENTENCES[i] for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 24)]
"""The sentences this bench has always used (a fixed workload, so its figures stay comparable)."""


def masked_texts(n: int) -> list[str]:
    """n texts: the sentences with a two-character window replaced by [MASK], varied."""
    out = []
    for i in range(n):
        sentence = SENTENCES[i % len(SENTENCES)]
        start = (3 * (i // len(SENTENCES))) % max(1, len(sentence) - 3)
        out.append(sentence[:start] + "[MASK]" + sentence[start + 2 :])
    return out


def build_model(folder: Path, quick: bool) -> str:
    from layouts import write_rinna_layout  # the exact published on-disk layout

    spiece = REAL_SPIECE if REAL_SPIECE.exists() else None
    hidden, layers = (128, 2) if quick else (256, 4)
    write_rinna_layout(folder, SENTENCES, spiece_model=spiece, hidden=hidden, layers=layers)
    vocab = "real rinna SentencePiece, vocab 32000" if spiece else "tiny SentencePiece (../shared absent)"
    return f"random RoBERTa, {layers} layers, hidden {hidden}, rinna layout, {vocab}"


# -- the two servers (each runs in a child process: `serve.py --child KIND MODEL PORTFILE`) --
def ours_app(model: str):
    from jaroberta.service import create_app
    from jaroberta.service.backend import load_backend
    from jaroberta.service.config import ServeConfig

    return create_app(load_backend(model), ServeConfig(max_batch=32, max_wait_ms=5, queue_size=4096, timeout_s=120))


def baseline_app(model: str):
    from fastapi import FastAPI
    from transformers import pipeline

    pipe = pipeline("fill-mask", model=model, device="cpu")
    app = FastAPI()

    @app.get("/api/health")
    def health():
        return {"status": "ok"}

    @app.post("/api/fill-mask")
    def fill_mask(request: dict):  # a plain `def`: FastAPI runs it in its thread pool
        predictions = pipe(request["text"], top_k=request.get("top_k", 5))
        return {"results": [{"masks": [{"candidates": [{"token": p["token_str"], "score": p["score"]} for p in predictions]}]}]}

    return app


def run_child(kind: str, model: str, port_file: str) -> None:
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    import torch

    from jaroberta.service.config import ServeConfig
    from jaroberta.service.server import BackgroundServer

    # Both servers get the thread count `jaroberta serve` sets (every core but one): the
    # comparison is then about batching, not about OpenMP threads fighting the event loop.
    torch.set_num_threads(ServeConfig().torch_threads())
    app = {"ours": ours_app, "baseline": baseline_app}[kind](model)
    with BackgroundServer(app) as server:
        Path(port_file).write_text(str(server.port))
        sys.stdin.read()  # serve until the parent closes our stdin


def start_server(kind: str, model: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = tmp / f"{kind}.port"
    process = subprocess.Popen([sys.executable, __file__, "--child", kind, str(model), str(port_file)], stdin=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not port_file.exists() or not port_file.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.1)
    return process, f"http://127.0.0.1:{port_file.read_text()}"


def stop_server(process: subprocess.Popen) -> None:
    process.stdin.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- the load ---------------------------------------------------------------------------
async def load(url: str, texts: list[str], clients: int) -> tuple[float, list[float], int]:
    """(wall seconds, per-request latencies, failed requests) for `texts` over `clients`.

    Each client is one keep-alive connection spoken with h11 (tests/http_client.py):
    httpx's AsyncClient costs ~10 ms of CPU per request here, which on 2 cores would
    make the load generator, not the server, the thing measured.
    """
    from http_client import KeepAliveClient

    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures = warmed = 0

    async def one_client(share: list[str]) -> None:
        nonlocal failures, warmed
        async with KeepAliveClient(host, int(port)) as client:
            await client.post_json("/api/fill-mask", {"text": share[0], "top_k": 5})  # warm-up: connection, first pass
            warmed += 1
            await ready.wait()
            for text in share:
                start = time.perf_counter()
                status, _ = await client.post_json("/api/fill-mask", {"text": text, "top_k": 5})
                latencies.append(time.perf_counter() - start)
                failures += status != 200

    ready = asyncio.Event()
    tasks = [asyncio.create_task(one_client(texts[c::clients])) for c in range(clients)]
    while warmed < clients:  # the clock starts with every client connected and warmed up
        await asyncio.sleep(0.01)
    start = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - start, latencies, failures


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller model and 64 requests per level")
    parser.add_argument("--requests", type=int, help="requests per concurrency level (default: 384, quick: 64)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODEL", "PORTFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(*args.child)
    n = args.requests or (64 if args.quick else 384)
    texts = masked_texts(n)

    rows = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        what = build_model(tmp / "model", args.quick)
        for kind in ("baseline", "ours"):
            process, url = start_server(kind, tmp / "model", tmp)
            try:
                for clients in CONCURRENCY:
                    rows[kind, clients] = asyncio.run(load(url, texts, clients))
            finally:
                stop_server(process)

    print(f"model: {what}")
    from jaroberta.service.config import ServeConfig

    print(f"{n} requests per level, one sentence with one [MASK] each, top_k 5; cores: {os.cpu_count()}, "
          f"model threads per server: {ServeConfig().torch_threads()}")
    print(f"{'server':<34}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    names = {"baseline": "baseline: pipeline per request", "ours": "jaroberta serve (micro-batching)"}
    for kind in ("baseline", "ours"):
        for clients in CONCURRENCY:
            wall, latencies, failures = rows[kind, clients]
            print(f"{names[kind]:<34}{clients:>8}{n / wall:>10.1f}{percentile(latencies, 50) * 1000:>10.1f}"
                  f"{percentile(latencies, 99) * 1000:>10.1f}{failures:>8}")
    for clients in CONCURRENCY:
        ratio = rows["baseline", clients][0] / rows["ours", clients][0]
        print(f"throughput ratio ours / baseline at {clients:>2} clients: x{ratio:.2f}")


if __name__ == "__main__":
    main()
