"""Request-size limit for the API: a body over the limit is refused with 413 before it is read."""

from __future__ import annotations

import json
from typing import Any

# Every body the API accepts is a few hundred bytes (a reviewer's name, a rejection reason).
MAX_BODY_BYTES = 64 * 1024


class LimitBodySize:
    """ASGI middleware: 413 for a declared Content-Length over the limit, and for a chunked
    body that grows past it. The body is read here first (it is small or refused), so the
    route never sees half of one; later messages (a client's disconnect) pass straight on."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        buffered: list[dict[str, Any]] = []
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return buffered.pop(0) if buffered else dict(await receive())

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            {"detail": f"request body over {self.max_bytes} bytes; send a smaller one"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
