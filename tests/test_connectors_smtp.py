"""The SMTP backend against aiosmtpd: connection reuse, per-recipient refusals, DKIM signatures verified."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import Outcome, OutgoingMessage
from connectors.smtp import SMTPBackend


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.sessions: set[int] = set()

    async def handle_RCPT(self, server: SMTPServer, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:
        if address.startswith("full@"):
            return "452 4.2.2 Mailbox full"
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.sessions.add(id(session))
        self.messages.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtpd() -> Iterator[tuple[Controller, Recorder]]:
    recorder = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, recorder
    controller.stop()


def _message(index: int, to: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(message_id=f"e-{index}", channel="email", to=to or f"user{index}@example.org",
                           subject=f"Bonjour {index}", html="<p>Bonjour</p>", text="Bonjour",
                           from_address="Atelier <news@atelier.example>",
                           headers={"List-Unsubscribe": "<https://go.example/u/x>",
                                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def _backend(controller: Controller, **options: Any) -> SMTPBackend:
    return SMTPBackend("email", host="127.0.0.1", port=controller.port, security="none", **options)


def test_reuses_one_connection_and_reports_refusals_per_message(smtpd: tuple[Controller, Recorder]) -> None:
    controller, recorder = smtpd
    backend = _backend(controller)
    results = backend.send([_message(1), _message(2, "nobody@example.org"), _message(3, "full@example.org"),
                            _message(4)])
    backend.close()
    assert [result.outcome for result in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.RETRY,
                                                      Outcome.ACCEPTED]
    assert results[1].reason == "550 5.1.1 No such user" and results[2].reason == "452 4.2.2 Mailbox full"
    assert [envelope.rcpt_tos for envelope in recorder.messages] == [["user1@example.org"], ["user4@example.org"]]
    assert len(recorder.sessions) == 1
    parsed = message_from_bytes(recorder.messages[0].content, policy=policy.default)  # type: ignore[arg-type]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and parsed["X-Relance-Message-Id"] == "e-1"


def test_dkim_signature_verifies(smtpd: tuple[Controller, Recorder]) -> None:
    controller, recorder = smtpd
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    backend = _backend(controller, dkim_selector="s1", dkim_domain="atelier.example", dkim_private_key=pem)
    [result] = backend.send([_message(1)])
    backend.close()
    assert result.outcome is Outcome.ACCEPTED
    raw = recorder.messages[0].original_content
    assert raw is not None and raw.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.atelier.example."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"Bonjour 1", b"Bonjour 2"), dnsfunc=dns)


def test_unreachable_server_is_a_retry() -> None:
    backend = SMTPBackend("email", host="127.0.0.1", port=1, security="none", timeout=1)
    [result] = backend.send([_message(1)])
    assert result.outcome is Outcome.RETRY and "SMTP error" in (result.reason or "")
