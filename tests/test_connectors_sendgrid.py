"""The SendGrid backend driving the official SDK against a loopback fake Mail Send API."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConfigurationError, Outcome, OutgoingMessage
from connectors.registry import check_channels, get_backend
from connectors.sendgrid import SendGridBackend
from core.settings import Settings
from templates.pipeline import prepare_library


@dataclass
class FakeSendGrid:
    """Records every request; answers from `script` (status, headers, body) then 202."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    connections: set[int] = field(default_factory=set)
    url: str = ""


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    state = FakeSendGrid()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.connections.add(id(self.connection))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            if state.delay:
                time.sleep(state.delay)
            status, headers, payload = state.script.pop(0) if state.script else (202, {}, {})
            data = json.dumps(payload).encode() if payload else b""
            self.send_response(status)
            headers = {"X-Message-Id": f"sg-{len(state.requests)}", **headers} if status == 202 else headers
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, secret_key="sg-secret", public_url="https://go.example.net",  # type: ignore[call-arg, arg-type]
                    from_email="Atelier <news@atelier.example>", outbox_dir=tmp_path)


def _backend(fake: FakeSendGrid, **options: Any) -> SendGridBackend:
    defaults: dict[str, Any] = {"api_key": "SG.test", "host": fake.url, "timeout": 2, "backoff": 0.01,
                                "from_email": "Atelier <news@atelier.example>"}
    return SendGridBackend("email", **{**defaults, **options})


def _rendered(settings: Settings, count: int, name: str = "newsletter") -> list[OutgoingMessage]:
    prepared = prepare_library(name, locale="fr", settings=settings)
    return [prepared.render({"id": i, "email": f"user{i}@example.org", "first_name": f"Nom{i}"},
                            message_id=f"msg-{i}", campaign="news-march") for i in range(count)]


def _plain(index: int, to: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(message_id=f"p-{index}", channel="email", to=to or f"p{index}@example.org",
                           subject="Hello", html="<p>Hi</p>", text="Hi", categories=("camp",),
                           custom_args={"message_id": f"p-{index}"}, headers={"List-Unsubscribe": "<https://u>"})


def test_single_message_payload_is_exact(fake: FakeSendGrid) -> None:
    backend = _backend(fake)
    [result] = backend.send([_plain(1)])
    assert result.outcome is Outcome.ACCEPTED and result.provider_message_id == "sg-1"
    request = fake.requests[0]
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == "Bearer SG.test"
    assert request["json"] == {
        "from": {"email": "news@atelier.example", "name": "Atelier"},
        "categories": ["camp"],
        "personalizations": [{"to": [{"email": "p1@example.org"}], "custom_args": {"message_id": "p-1"}}],
        "subject": "Hello",
        "content": [{"type": "text/plain", "value": "Hi"}, {"type": "text/html", "value": "<p>Hi</p>"}],
        "headers": {"List-Unsubscribe": "<https://u>"},
    }


def test_unbatched_messages_reuse_one_kept_alive_connection(fake: FakeSendGrid) -> None:
    backend = _backend(fake)
    results = backend.send([_plain(i) for i in range(5)])
    assert [result.outcome for result in results] == [Outcome.ACCEPTED] * 5
    assert len(fake.requests) == 5 and len(fake.connections) == 1


def test_substitution_templates_batch_up_to_1000_personalizations(fake: FakeSendGrid, settings: Settings) -> None:
    messages = _rendered(settings, 1005)
    results = _backend(fake).send(messages)
    assert [len(request["json"]["personalizations"]) for request in fake.requests] == [1000, 5]
    assert all(result.outcome is Outcome.ACCEPTED for result in results)
    assert [result.provider_message_id for result in results] == ["sg-1"] * 1000 + ["sg-2"] * 5
    first = fake.requests[0]["json"]
    assert first["categories"] == ["news-march"]
    personalization = first["personalizations"][7]
    assert personalization["to"] == [{"email": "user7@example.org"}]
    assert personalization["custom_args"] == {"message_id": "msg-7"}
    assert personalization["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert personalization["subject"] == messages[7].subject
    html = first["content"][1]["value"]
    for tag, value in personalization["substitutions"].items():
        html = html.replace(tag, value)
    assert html == messages[7].html


def test_duplicate_address_starts_a_new_request(fake: FakeSendGrid, settings: Settings) -> None:
    messages = _rendered(settings, 3)
    duplicate = _rendered(settings, 1)[0]
    _backend(fake).send([*messages, duplicate])
    assert [len(request["json"]["personalizations"]) for request in fake.requests] == [3, 1]


def test_429_waits_for_the_reset_then_succeeds(fake: FakeSendGrid) -> None:
    waits: list[float] = []
    fake.script = [(429, {"X-RateLimit-Reset": str(int(time.time()) + 2)}, {"errors": [{"message": "too many"}]})]
    [result] = _backend(fake, sleep=waits.append).send([_plain(1)])
    assert result.outcome is Outcome.ACCEPTED and len(fake.requests) == 2
    assert len(waits) == 1 and 0.5 < waits[0] <= 2


def test_429_beyond_max_wait_is_a_retry_with_retry_after(fake: FakeSendGrid) -> None:
    fake.script = [(429, {"X-RateLimit-Reset": str(int(time.time()) + 300)}, {})]
    [result] = _backend(fake, max_wait=5).send([_plain(1)])
    assert result.outcome is Outcome.RETRY and result.retry_after and result.retry_after > 200


def test_5xx_is_retried_with_backoff_then_reported_as_retry(fake: FakeSendGrid) -> None:
    fake.script = [(503, {}, {"errors": [{"message": "unavailable"}]})] * 3
    waits: list[float] = []
    [result] = _backend(fake, max_retries=2, sleep=waits.append).send([_plain(1)])
    assert result.outcome is Outcome.RETRY and "503" in (result.reason or "")
    assert len(fake.requests) == 3 and len(waits) == 2 and waits[1] > waits[0] * 0.3


def test_5xx_then_success(fake: FakeSendGrid) -> None:
    fake.script = [(500, {}, {})]
    [result] = _backend(fake, sleep=lambda _: None).send([_plain(1)])
    assert result.outcome is Outcome.ACCEPTED and len(fake.requests) == 2


def test_a_timeout_is_unknown_never_a_blind_retry(fake: FakeSendGrid) -> None:
    fake.delay = 0.6  # SendGrid got the request but answers too late: it may well send it
    [result] = _backend(fake, timeout=0.2, max_retries=3, sleep=lambda _: None).send([_plain(1)])
    assert result.outcome is Outcome.UNKNOWN and "network error" in (result.reason or "")
    assert len(fake.requests) == 1  # not posted again


def test_a_refused_connection_is_retried_then_reported_as_retry() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = SendGridBackend("email", api_key="SG.x", host=f"http://127.0.0.1:{port}", max_retries=2,
                              backoff=0.01, sleep=lambda _: None, from_email="a@example.org")
    [result] = backend.send([_plain(1)])
    assert result.outcome is Outcome.RETRY and "refused" in (result.reason or "").lower()


def test_4xx_is_final_per_message_with_the_error_text(fake: FakeSendGrid) -> None:
    fake.script = [(202, {}, {}), (400, {}, {"errors": [{"message": "Does not contain a valid address.",
                                                         "field": "personalizations.0.to"}]}), (202, {}, {})]
    results = _backend(fake).send([_plain(1), _plain(2, to="not-an-address"), _plain(3)])
    assert [result.outcome for result in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert results[1].reason == "HTTP 400: Does not contain a valid address. (personalizations.0.to)"
    assert len(fake.requests) == 3


def test_a_rejected_batch_is_resent_one_by_one_to_isolate_the_bad_message(fake: FakeSendGrid,
                                                                          settings: Settings) -> None:
    bad = (400, {}, {"errors": [{"message": "bad"}]})
    fake.script = [bad, (202, {}, {}), bad]
    results = _backend(fake).send(_rendered(settings, 2))
    assert [result.outcome for result in results] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert [len(request["json"]["personalizations"]) for request in fake.requests] == [2, 1, 1]


def test_registry_builds_sendgrid_from_settings_and_names_bad_channels(fake: FakeSendGrid, tmp_path: Path) -> None:
    good = Settings(_env_file=None, outbox_dir=tmp_path,  # type: ignore[call-arg]
                    channels={"email": {"backend": "sendgrid", "options": {"api_key": "k", "host": fake.url}}})
    backend = get_backend("email", good)
    assert isinstance(backend, SendGridBackend) and backend.client.client.timeout == 10.0
    check_channels(good)
    bad = Settings(_env_file=None, outbox_dir=tmp_path, channels={"email": {"backend": "sendgrid"}})  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="channel 'email'.*api_key"):
        check_channels(bad)
    wrong = Settings(_env_file=None, outbox_dir=tmp_path,  # type: ignore[call-arg]
                     channels={"sms": {"backend": "sendgrid", "options": {"api_key": "k"}}})
    with pytest.raises(ConfigurationError, match="channel 'sms'"):
        check_channels(wrong)
