"""The FastAPI application: JSON API under /api, the web page at /, docs at /docs.

Every answer that is not a success is JSON of one shape,
`{"error": {"status", "type", "message", "details"}}`, with a message a person can act
on, in the API's own terms (request fields, /api/info limits), never a command-line flag.
No input takes the server down: the Host header is checked first, bodies are capped
before parsing and decoded strictly (jaroberta.service.body), texts and limits are checked
before a request joins the batching queue, and model errors are isolated per request.

The API docs are served from local files: FastAPI's default /docs page loads
swagger-ui from a CDN, which breaks offline and leaks requests, so /docs is our own
small page that renders /openapi.json.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jaroberta import __version__
from jaroberta.errors import JarobertaError
from jaroberta.service import schemas
from jaroberta.service.backend import Backend
from jaroberta.service.batching import MicroBatcher, QueueFull, RequestTimeout, TextRejected
from jaroberta.service.body import BodyError, JsonRoute
from jaroberta.service.config import ServeConfig
from jaroberta.service.hosts import HostCheck

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

_ERRORS = {code: {"model": schemas.ErrorResponse} for code in (400, 408, 413, 415, 421, 422, 500, 503, 504)}


class ServeError(Exception):
    """A request the server answers with an error status and a clear message."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request", headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers


def error_response(status: int, kind: str, message: str, details: list | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"status": status, "type": kind, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


_CLOSE = {"Connection": "close"}


class _BodyTooLarge(StarletteHTTPException):
    """A body that grew past the cap while it arrived (chunked)."""

    kind = "body_too_large"


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_bytes` with 413 before anything parses them.

    A declared Content-Length is checked up front; a chunked body is counted as it
    arrives, so a client cannot stream past the cap either. The 413 closes the
    connection: the rest of the body is still on its way and is no next request (kept
    open, the connection would wait for it and end in an unsolicited 408).
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = error_response(413, "body_too_large", self._message(), headers=_CLOSE)
            return await response(scope, receive, send)
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read; FastAPI passes HTTPException through.
                    raise _BodyTooLarge(413, self._message(), headers=_CLOSE)
            return message

        return await self.app(scope, counted_receive, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (the server's max_body_bytes, see /api/info)"


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        if where == "body" and err.get("type") in ("model_attributes_type", "model_type", "dict_type"):
            # pydantic's words ('a valid dictionary or object to extract fields from') are its own.
            parts.append("body: must be a JSON object of the request's fields (see /docs)")
            continue
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError):
        return error_response(exc.status, exc.kind, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
        if any(err.get("type") == schemas.UNUSABLE_TEXT for err in errors):
            return error_response(400, "invalid_text", _validation_message(errors), errors)
        if any(err.get("type") == "json_invalid" for err in errors):
            return error_response(400, "malformed_json", "request body is not valid JSON: " + _validation_message(errors), errors)
        return error_response(422, "invalid_request", _validation_message(errors), errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if isinstance(exc, (BodyError, _BodyTooLarge)):
            return error_response(exc.status_code, exc.kind, exc.detail, headers=exc.headers)
        return error_response(exc.status_code, "http", str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal", f"internal error ({type(exc).__name__}); see the server log")


def _check_texts(texts: list[str], config: ServeConfig, single: bool) -> None:
    if not texts:
        raise ServeError(422, "'texts' is empty: give at least one text")
    if len(texts) > config.max_texts:
        raise ServeError(422, f"{len(texts)} texts in one request; the limit is {config.max_texts} (max_texts, see /api/info)")
    for i, text in enumerate(texts):
        name = schemas.field_name(i, single=single)
        if not text.strip():
            raise ServeError(422, f"{name} is empty")
        if len(text) > config.max_chars:
            raise ServeError(
                422, f"{name} has {len(text)} characters; the limit is {config.max_chars} (max_chars, see /api/info)"
            )


def _check_masks(texts: list[str], config: ServeConfig, mask_token: str, single: bool) -> None:
    for i, text in enumerate(texts):
        name = schemas.field_name(i, single=single)
        n_masks = text.count(mask_token)
        if n_masks == 0:
            raise ServeError(422, f"{name} has no {mask_token}: write {mask_token} where a word should be predicted")
        if n_masks > config.max_masks:
            raise ServeError(422, f"{name} has {n_masks} masks; the limit is {config.max_masks} (max_masks, see /api/info)")


def _check_top_k(top_k: int, config: ServeConfig) -> None:
    if not 1 <= top_k <= config.max_top_k:
        shown = str(top_k) if len(str(top_k)) <= 12 else f"a number of {len(str(top_k))} digits"
        raise ServeError(422, f"top_k must be between 1 and {config.max_top_k} (max_top_k, see /api/info), got {shown}")


def _check_no_masks(texts: list[str], mask_token: str, single: bool) -> None:
    for i, text in enumerate(texts):
        if mask_token in text:
            name = schemas.field_name(i, single=single)
            raise ServeError(422, f"{name} contains {mask_token}; scoring masks every piece itself: give plain text")


def _truncation(backend: Backend):
    """A check that refuses `"truncate": true` when the backend's methods cannot cut texts."""
    able = all("truncate" in inspect.signature(getattr(backend, name)).parameters for name in ("fill_mask", "score", "embed"))

    def check(truncate: bool) -> None:
        if truncate and not able:
            raise ServeError(422, 'truncate: this server\'s model backend cannot cut texts; send "truncate": false')

    return check


async def _async(check) -> None:
    """`check()` as an awaitable, so that `_answer` turns what it raises into HTTP errors."""
    check()


async def _answer(awaitable, single: bool = False):
    """Await a batcher call, turning its failures into clear HTTP errors (`single`: the
    request gave `text`, not `texts`, which names the field in a refused text's message)."""
    try:
        return await awaitable
    except TextRejected as exc:
        raise ServeError(422, f"{schemas.field_name(exc.index, single=single)}: {exc}") from None
    except QueueFull as exc:
        raise ServeError(
            503, f"{exc}; retry in {exc.retry_after_s} s", "overloaded", headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    except RequestTimeout as exc:
        raise ServeError(504, f"{exc} (timeout_s, see /api/info)", "timeout") from None
    except JarobertaError as exc:
        raise ServeError(422, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a model bug fails this request only
        log.exception("model error")
        raise ServeError(500, f"the model failed on this input ({type(exc).__name__}: {exc})", "model_error") from None


def create_app(backend: Backend, config: ServeConfig | None = None) -> FastAPI:
    """The service over `backend`, with `config`'s batching and limits."""
    config = config or ServeConfig()
    batcher = MicroBatcher(backend, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="jaroberta",
        version=__version__,
        description="Fill-mask, scoring, embeddings and tokenization with a Japanese RoBERTa-style model.",
        docs_url=None,  # swagger-ui comes from a CDN; /docs below is local
        redoc_url=None,
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.batcher = batcher
    app.state.config = config
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(HostCheck, allowed=config.host_names(), respond=error_response)  # added last: runs first
    app.router.route_class = JsonRoute
    _install_error_handlers(app)
    _add_pages(app)
    _add_api(app, backend, batcher, config)
    return app


def _add_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC_DIR / "docs.html")


def _add_api(app: FastAPI, backend: Backend, batcher: MicroBatcher, config: ServeConfig) -> None:
    check_truncate = _truncation(backend)

    @app.get("/api/health", response_model=schemas.HealthResponse, tags=["service"])
    async def health():
        """Liveness plus the batching counters."""
        stats = batcher.stats
        return {"status": "ok", "queue_depth": batcher.depth, "queue_size": config.queue_size, **vars(stats)}

    @app.get("/api/info", response_model=schemas.InfoResponse, tags=["service"])
    async def info():
        """The loaded model, its input conventions and the server's limits."""
        data = await _answer(batcher.call(backend.info))
        return {**data, "limits": config.limits()}

    @app.post("/api/tokenize", response_model=schemas.TokenizeResponse, tags=["model"])
    async def tokenize(request: schemas.TokenizeRequest):
        """Tokens, ids and offsets of the framed input, with the normalization applied.
        A literal [MASK] in the text is put in as the mask id after tokenization."""
        _check_texts([request.text], config, single=True)
        return await _answer(batcher.call(backend.tokenize, request.text))

    @app.post("/api/fill-mask", response_model=schemas.FillMaskResponse, tags=["model"])
    async def fill_mask(request: schemas.FillMaskRequest):
        """Top-k candidates for every [MASK] of every text (several masks per text allowed)."""
        texts, single = request.all_texts, request.text is not None
        _check_texts(texts, config, single)
        _check_masks(texts, config, backend.mask_token, single)
        _check_top_k(request.top_k, config)
        check_truncate(request.truncate)
        job = batcher.submit("fill_mask", texts, top_k=request.top_k, truncate=request.truncate)
        results = await _answer(job, single=single)
        return {"top_k": request.top_k, "results": results}

    @app.post("/api/score", response_model=schemas.ScoreResponse, tags=["model"])
    async def score(request: schemas.ScoreRequest):
        """Pseudo-log-likelihood and pseudo-perplexity of each text."""
        texts, single = request.all_texts, request.text is not None
        _check_texts(texts, config, single)
        _check_no_masks(texts, backend.mask_token, single)
        check_truncate(request.truncate)
        # Scoring costs one forward pass per piece: count them (in the model thread, where
        # the tokenizer lives) before the request may occupy the model; but first refuse at
        # once if the queued work leaves no room, rather than after waiting for that count.
        await _answer(_async(batcher.check_room))
        pieces = await _answer(batcher.call(backend.count_pieces, texts))
        if pieces > config.max_score_pieces:
            raise ServeError(
                422, f"the texts have {pieces} pieces to score; the limit is {config.max_score_pieces} per request "
                f"(max_score_pieces, see /api/info): send fewer or shorter texts"
            )
        return {"results": await _answer(batcher.submit("score", texts, pieces=pieces, truncate=request.truncate), single=single)}

    @app.post("/api/embed", response_model=schemas.EmbedResponse, tags=["model"])
    async def embed(request: schemas.EmbedRequest):
        """One vector per text."""
        texts, single = request.all_texts, request.text is not None
        _check_texts(texts, config, single)
        check_truncate(request.truncate)
        job = batcher.submit("embed", texts, pooling=request.pooling, normalize=request.normalize, truncate=request.truncate)
        vectors = await _answer(job, single=single)
        dim = len(vectors[0]) if vectors else 0
        return {"pooling": request.pooling, "normalized": request.normalize, "dim": dim, "embeddings": vectors}
