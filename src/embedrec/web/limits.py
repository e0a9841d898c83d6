"""Request limits of the web app: a cap on body size, and problem details that never echo the input.

A request body over the cap is refused with 413 before it is read, when its Content-Length says so, or as
soon as the bytes received pass the cap (chunked uploads), so a multi-megabyte POST costs the server
nothing and never reaches JSON parsing or validation, which run on the event loop. Error details are
one line and short: whatever a client sends, a 4xx answer stays under `MAX_DETAIL` characters.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 256 * 1024  # bytes; the largest valid request (1,000 ratings by 200-character title) is ~230 KB
MAX_DETAIL = 500  # characters of an error detail; the rest is cut with an ellipsis


def one_line(text: str, limit: int = MAX_DETAIL) -> str:
    """An error message as one line of at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BodyLimit:
    """ASGI middleware: 413 with a one-line JSON detail for request bodies over `max_bytes`.

    The body is read here (up to the cap) and handed on whole, so the app below never sees a partial
    or oversized one. A refused connection is closed rather than drained: the rest of the upload is
    never read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"{declared:,} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                chunks = []
                pending: list[Message] = [message]
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(send, f"more than {self.max_bytes:,} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: str) -> None:
        detail = f"request body too large: {size}, the limit is {self.max_bytes:,} bytes"
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
