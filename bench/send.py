"""Messages per second through the SendGrid backend to a loopback fake, batched and unbatched,
against the floor: a bare POST loop of pre-built payloads on one kept-alive connection to the same fake
(which runs in its own process).

Usage: python -m bench.send [--count N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connectors.base import OutgoingMessage
from connectors.sendgrid import SendGridBackend
from core.settings import Settings
from templates.pipeline import prepare_library


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(202)
        self.send_header("X-Message-Id", "bench")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _messages(count: int) -> list[OutgoingMessage]:
    settings = Settings(_env_file=None, public_url="https://go.example.net")  # type: ignore[call-arg]
    prepared = prepare_library("newsletter", locale="fr", settings=settings)
    return [prepared.render({"id": i, "email": f"user{i}@example.org", "first_name": "Zoé"}, message_id=f"m-{i}",
                            campaign="bench") for i in range(count)]


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _serve(ports: Any) -> None:
    """The fake SendGrid, in its own process: a server sharing the bench's GIL would make every figure wait."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ports.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=30)
    host = f"http://127.0.0.1:{port}"
    messages = _messages(args.count)
    backend = SendGridBackend("email", api_key="SG.bench", host=host, from_email="Bench <b@example.org>")
    unbatched = [message.__class__(**{**message.__dict__, "metadata": {}}) for message in messages]
    payloads = [json.dumps(backend.single_payload(message)).encode() for message in unbatched]

    def bare() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the backend's connection
        for payload in payloads:
            connection.request("POST", "/v3/mail/send", body=payload, headers={"Content-Type": "application/json"})
            connection.getresponse().read()
        connection.close()

    floor = args.count / _timed(bare)
    single = args.count / _timed(lambda: backend.send(unbatched))
    batched = args.count / _timed(lambda: backend.send(messages))
    server.terminate()
    print(f"{args.count:,} rendered newsletter emails to a loopback fake SendGrid")
    print(f"floor — bare POST loop of pre-built payloads (kept-alive): {floor:,.0f} messages/s")
    print(f"sendgrid backend, one request per message:   {single:,.0f} messages/s  ({single / floor:.2f}x floor)")
    print(f"sendgrid backend, 1000 personalizations/req: {batched:,.0f} messages/s  ({batched / floor:.2f}x floor)")


if __name__ == "__main__":
    main()
