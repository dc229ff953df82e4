"""Refusing request bodies over the size limit while they arrive, not after."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = {
    "type": "/problems/upload-too-large",
    "title": "Upload too large",
    "status": 413,
}


class BodyLimit:
    """ASGI middleware: a body larger than `max_bytes` gets 413 and is not read any further.

    A declared Content-Length over the limit is refused before anything is read; a streamed body
    (chunked, no Content-Length) is counted as it arrives and cut off at the limit, and whatever
    the app makes of the cut-off body, the answer is the 413.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        started = False
        too_large = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                if too_large and not started:
                    # The app caught our exception and answers on its own (FastAPI turns any
                    # error while parsing a form into 400): that answer becomes the 413.
                    replaced = True
                    await self._refuse(scope, send)
                started = True
            if not replaced:
                await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                **PROBLEM,
                "detail": f"request body over {self.max_bytes:,} bytes",
                "instance": scope.get("path", ""),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
