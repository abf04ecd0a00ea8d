"""The Twilio backend driving the official SDK against a loopback fake Messaging API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.base import ConfigurationError, Outcome, OutgoingMessage
from connectors.registry import get_backend
from connectors.twilio import TwilioBackend
from core.settings import Settings

SID = "AC" + "0" * 32


class Fake:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.url = ""


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state.requests.append({"path": self.path, "form": parse_qs(body), "auth": self.headers["Authorization"]})
            status, payload = state.script.pop(0) if state.script else (
                201, {"sid": f"SM{len(state.requests):032d}", "status": "queued", "num_segments": "2"})
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def _sms(index: int) -> OutgoingMessage:
    return OutgoingMessage(message_id=f"s-{index}", channel="sms", to=f"+3361234567{index}",
                           text="Bonjour\nSTOP au 36180", metadata={"segments": 1})


def _settings(fake: Fake, tmp_path: Path, **options: Any) -> Settings:
    channel = {"backend": "twilio", "options": {"account_sid": SID, "auth_token": "tok", "api_base_url": fake.url,
                                                "messaging_service_sid": "MG123", "backoff": 0.01, **options}}
    return Settings(_env_file=None, outbox_dir=tmp_path, public_url="https://relance.example",  # type: ignore[call-arg]
                    channels={"sms": channel})


def test_sends_through_messaging_service_with_status_callback(fake: Fake, tmp_path: Path) -> None:
    backend = get_backend("sms", _settings(fake, tmp_path))
    results = backend.send([_sms(1), _sms(2)])
    assert [(r.outcome, r.provider_message_id, r.parts) for r in results] == [
        (Outcome.ACCEPTED, f"SM{1:032d}", 2), (Outcome.ACCEPTED, f"SM{2:032d}", 2)]
    request = fake.requests[0]
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["form"] == {"To": ["+33612345671"], "Body": ["Bonjour\nSTOP au 36180"],
                               "MessagingServiceSid": ["MG123"],
                               # our ledger id rides in the callback URL: even a send whose answer was lost
                               # is matched by the callbacks that follow
                               "StatusCallback": ["https://relance.example/webhooks/twilio/status?m=s-1"]}
    assert request["auth"].startswith("Basic ")


def test_from_number_is_used_without_messaging_service(fake: Fake, tmp_path: Path) -> None:
    backend = TwilioBackend("sms", account_sid=SID, auth_token="t", from_number="+15005550006", api_base_url=fake.url)
    backend.send([_sms(1)])
    assert fake.requests[0]["form"]["From"] == ["+15005550006"] and "StatusCallback" not in fake.requests[0]["form"]


def test_21610_is_reported_as_opted_out(fake: Fake, tmp_path: Path) -> None:
    fake.script = [(400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})]
    [result] = get_backend("sms", _settings(fake, tmp_path)).send([_sms(1)])
    assert result.outcome is Outcome.REJECTED and result.reason == "recipient opted out"


def test_429_and_5xx_retry_then_report_retry(fake: Fake, tmp_path: Path) -> None:
    fake.script = [(429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
                   (503, {"code": 20500, "message": "down", "status": 503}),
                   (503, {"code": 20500, "message": "down", "status": 503})]
    backend = get_backend("sms", _settings(fake, tmp_path, max_retries=2))
    [result] = backend.send([_sms(1)])
    assert result.outcome is Outcome.RETRY and len(fake.requests) == 3 and result.retry_after


def test_missing_sender_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="messaging_service_sid"):
        TwilioBackend("sms", account_sid=SID, auth_token="t")


def test_rate_limit_counts_segments(fake: Fake, tmp_path: Path) -> None:
    backend = get_backend("sms", _settings(fake, tmp_path, rate_limit=20))
    long_messages = [OutgoingMessage(message_id=f"l-{index}", channel="sms", to=f"+3361234567{index}", text="x",
                                     metadata={"segments": 10}) for index in range(4)]
    started = time.monotonic()
    results = backend.send(long_messages)
    assert all(result.outcome is Outcome.ACCEPTED for result in results)
    assert time.monotonic() - started >= (40 - 20) / 20 * 0.9  # 40 segments, a burst of 20, 20 segments/s


def test_unknown_option_is_refused_naming_the_channel(fake: Fake, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"channel 'sms'.*no option 'from_nubmer'"):
        get_backend("sms", _settings(fake, tmp_path, from_nubmer="+33600000000"))
