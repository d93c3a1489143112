"""Decoding JSON request bodies, with an error that says what is wrong.

FastAPI parses a body with `json.loads(bytes)`, which guesses UTF-16/32 from the first
bytes, and turns every failure other than a syntax error (bytes that are not UTF-8, a
RecursionError from deep nesting, an integer too long for Python to convert) into a bare
"There was an error parsing the body". The API routes use `JsonRoute`, whose request
decodes the body here instead: UTF-8 only, a bounded nesting depth, bounded numbers,
and a 400 that names the problem and where it is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

MAX_DEPTH = 16
"""Deepest nesting of arrays and objects accepted; the API's bodies nest two levels."""
MAX_NUMBER_CHARS = 32
"""Longest number accepted, in characters; every number the API takes is small."""


class BodyError(HTTPException):
    """A body that is not JSON the API can read: answered `status` with `kind` and the message."""

    def __init__(self, message: str, kind: str = "malformed_json", status: int = 400) -> None:
        super().__init__(status, "request body is not valid JSON: " + message)
        self.kind = kind


def _number(text: str, convert) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise BodyError(
            f"a number of {len(text)} characters ({text[:12]}...); numbers in this API have at most "
            f"{MAX_NUMBER_CHARS} characters", "number_too_large",
        )
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise BodyError(f"the number {text} is out of range", "number_too_large")
    return value


def _constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def _check_depth(value: Any) -> None:
    """Refuse values nested deeper than MAX_DEPTH (iteratively: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    raise BodyError(f"arrays and objects nested more than {MAX_DEPTH} deep", "nested_too_deep")
                stack.append((child, depth + 1))


def decode_json_body(body: bytes) -> Any:
    """The JSON value of `body`, or a `BodyError` naming what is wrong and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            f"it is not UTF-8 (byte 0x{body[exc.start]:02x} at byte {exc.start}); send JSON encoded as UTF-8, "
            f"not Shift-JIS, EUC-JP or UTF-16", "bad_encoding",
        ) from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows tools write one) is no content
    try:
        value = json.loads(
            text,
            parse_int=lambda s: _number(s, int),
            parse_float=lambda s: _number(s, float),
            parse_constant=_constant,
        )
    except RecursionError:
        raise BodyError(f"arrays and objects nested more than {MAX_DEPTH} deep", "nested_too_deep") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"{exc.msg} at line {exc.lineno} column {exc.colno} (character {exc.pos})") from None
    _check_depth(value)
    return value


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json_body(await self.body())
        return self._json


def _check_media_type(request: Request) -> None:
    """A body must be declared JSON: FastAPI would otherwise validate the raw bytes and answer
    an obscure 'Input should be a valid dictionary'."""
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = f"Content-Type {declared[:60]!r}" if declared else "no Content-Type"
        raise BodyError(f"it came with {shown}; send JSON with Content-Type: application/json", "unsupported_media_type", 415)


class JsonRoute(APIRoute):
    """An API route whose JSON body is decoded by `decode_json_body`."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def route(request: Request):
            if takes_body:
                _check_media_type(request)
            return await handler(_JsonRequest(request.scope, request.receive))

        return route
