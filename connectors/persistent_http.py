"""A kept-alive HTTP(S) connection per thread and host for urllib-based SDKs (SendGrid's python_http_client).

The SendGrid SDK opens a new urllib connection per request; `KeepAliveTransport.open` plugs into its
documented `_make_request(opener, request, timeout)` seam and reuses one connection instead, raising the
SDK's own exceptions for HTTP errors so callers see exactly what the SDK would raise.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from python_http_client.exceptions import handle_error


class KeepAliveTransport:
    """Sends urllib Requests over one persistent connection per (thread, scheme, host)."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str, timeout: float | None) -> http.client.HTTPConnection:
        connections: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        key = (scheme, netloc)
        connection = connections.get(key)
        if connection is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = cls(netloc, timeout=timeout)
            connections[key] = connection
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._local.__dict__.get("c", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def open(self, opener: Any, request: urllib.request.Request, timeout: float | None = None) -> Any:
        """Send `request`; 2xx/3xx returns the response, 4xx/5xx raise python_http_client errors."""
        parts = urlsplit(request.full_url)
        selector = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(request.header_items())
        for attempt in (1, 2):  # a kept-alive connection the server closed is retried once on a fresh one
            connection = self._connection(parts.scheme, parts.netloc, timeout or self.timeout)
            try:
                if connection.sock is None:
                    connection.connect()
                    sock: socket.socket = connection.sock  # type: ignore[assignment]
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.request(request.get_method(), selector, body=request.data, headers=headers)
                response = connection.getresponse()
                body = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(parts.scheme, parts.netloc)
                if attempt == 2:
                    raise
            except OSError:
                self._drop(parts.scheme, parts.netloc)
                raise
        if response.will_close:
            self._drop(parts.scheme, parts.netloc)
        if response.status >= 400:
            error = urllib.error.HTTPError(request.full_url, response.status, response.reason, response.msg,
                                           io.BytesIO(body))
            raise handle_error(error)
        return _Response(response.status, body, response.msg)

    def close(self) -> None:
        for connection in self._local.__dict__.get("c", {}).values():
            connection.close()
        self._local.__dict__["c"] = {}


class _Response:
    """What python_http_client.Response reads: getcode(), read(), info()."""

    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self._status, self._body, self._headers = status, body, headers

    def getcode(self) -> int:
        return self._status

    def read(self) -> bytes:
        return self._body

    def info(self) -> Any:
        return self._headers
