"""Reading request bodies with a size limit, before anything is parsed or stored."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body; 413 when the declared or actual size exceeds `limit` (nothing is kept)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise HTTPException(413, f"body larger than {limit} bytes")
        except ValueError as exc:
            raise HTTPException(400, "bad Content-Length") from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # later request.form()/json() read this instead of the consumed stream
    return body


def client_ip(request: Request) -> str:
    """The client's address as the ASGI server saw it (uvicorn --proxy-headers handles trusted proxies)."""
    return request.client.host if request.client else "unknown"
