"""The API's doors: a bearer token on every route when one is set, else loopback callers only."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The interactive docs and the schema hold no workspace data; the docs page fetches the schema
# without a token, so both stay readable (still behind the loopback check without a token).
OPEN_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# The name the main token's caller is recorded under (decisions, stops).
TOKEN_NAME = "api"
REVIEWER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def callers(token: str | None, reviewers: Mapping[str, str] | None = None) -> dict[bytes, str]:
    """Each accepted bearer token (as bytes) and the name its caller is recorded under.

    Raises ValueError for an empty token, a token given twice or a name a record cannot hold."""
    named = ([(TOKEN_NAME, token)] if token is not None else []) + list((reviewers or {}).items())
    found: dict[bytes, str] = {}
    for name, value in named:
        if not REVIEWER_NAME.match(name):
            raise ValueError(
                f"Reviewer name '{name}' must be 1-64 letters, digits, '_', '.', '@' or '-'."
            )
        key = value.encode()
        if not value.strip():
            raise ValueError(f"The token of '{name}' is empty; set a long random one.")
        if key in found:
            raise ValueError(f"'{found[key]}' and '{name}' have the same token; give each its own.")
        found[key] = name
    return found


def check_bind(host: str, tokens: Mapping[bytes, str] | str | None) -> None:
    """The service never listens beyond loopback without a token."""
    if host not in LOOPBACK and not tokens:
        raise ValueError(
            f"Refusing to listen on {host} without FAILFORGE_API_TOKEN; "
            f"set a token or use 127.0.0.1."
        )


def _split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """(name, port) of a Host header or an Origin's netloc; None when it cannot be one."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else "x")
    else:
        name, _, port_text = value.partition(":")
    if port_text == "":
        return name.lower(), default_port
    return (name.lower(), int(port_text)) if port_text.isdigit() else None


def _is_this_server(value: str, port: int, default_port: int = 80) -> bool:
    where = _split_host(value, default_port)
    return where is not None and where[0] in LOOPBACK and where[1] == port


class Doors:
    """ASGI middleware run before any route:

    - with tokens, every route but the docs needs `Authorization: Bearer <token>` (401 else,
      however malformed); the caller's name goes to `scope["state"]["caller"]`;
    - without one (loopback mode), a request whose Host is not this server's loopback address
      and port, or whose Origin names another site, is refused (403): a web page the user opens
      cannot reach the API, even through a DNS name rebound to 127.0.0.1;
    - every write must send `Content-Type: application/json` (415 else): a cross-site form or a
      simple `fetch` cannot, without a preflight this server never allows.
    """

    def __init__(self, app: Any, tokens: Mapping[bytes, str]) -> None:
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers") or []:
            headers.setdefault(key.lower(), value)  # the first of a repeated header counts
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        await self.app(scope, receive, send)

    def _refusal(
        self, scope: dict[str, Any], headers: dict[bytes, bytes]
    ) -> tuple[int, str, dict[str, str]] | None:
        path = scope.get("path", "")
        if not self.tokens:
            port = (scope.get("server") or ("", 0))[1]
            host = headers.get(b"host", b"").decode("latin-1")
            if not _is_this_server(host, port):
                return (
                    403,
                    f"Host '{host}' is not this server's loopback address (port {port}); "
                    "without FAILFORGE_API_TOKEN the API answers only http://127.0.0.1:"
                    f"{port} or http://localhost:{port}.",
                    {},
                )
            origin = headers.get(b"origin")
            if origin is not None and not self._same_origin(origin.decode("latin-1"), port):
                return (
                    403,
                    f"Requests from {origin.decode('latin-1')} are refused: without "
                    "FAILFORGE_API_TOKEN only pages of this server may call the API.",
                    {},
                )
        elif path not in OPEN_PATHS and self._caller(headers) is None:
            return (
                401,
                "Missing or wrong bearer token; send `Authorization: Bearer <token>`.",
                {"www-authenticate": "Bearer"},
            )
        else:
            scope.setdefault("state", {})["caller"] = self._caller(headers)
        if scope.get("method") in WRITE_METHODS:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                return (
                    415,
                    "Send a JSON body with `Content-Type: application/json` ({} when there is "
                    "nothing to say).",
                    {},
                )
        return None

    @staticmethod
    def _same_origin(origin: str, port: int) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.path or parts.query:
            return False
        return _is_this_server(parts.netloc, port, 443 if parts.scheme == "https" else 80)

    def _caller(self, headers: dict[bytes, bytes]) -> str | None:
        """The name of the caller's token; None for a missing, malformed or wrong one."""
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        return name_of(given.strip(), self.tokens)


def name_of(given: bytes, tokens: Mapping[bytes, str]) -> str | None:
    """Whose token `given` is; bytes, so a non-ASCII or otherwise odd token is just wrong."""
    name = None
    for token, who in tokens.items():  # each compared in full, in constant time: no early exit
        if given and secrets.compare_digest(given, token):
            name = who
    return name


async def _refuse(send: Any, code: int, sentence: str, extra: dict[str, str]) -> None:
    body = json.dumps({"detail": sentence}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.encode(), v.encode()) for k, v in extra.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
