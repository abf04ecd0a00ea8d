"""The SMTP backend against aiosmtpd: reuse, reconnection, STARTTLS/SSL + AUTH, per-recipient refusals, DKIM."""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connectors.base import ConfigurationError, Outcome, OutgoingMessage
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


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (PEM cert, PEM key): the relay's, and the CA to trust."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth: Any) -> AuthResult:
    return AuthResult(success=auth.login == b"relance" and auth.password == b"s3cret", handled=False)


@pytest.fixture
def tls_relay(tmp_path: Path) -> Iterator[tuple[int, int, Path, Recorder]]:
    """One relay requiring STARTTLS then AUTH (port 1), one speaking TLS from the start (port 2)."""
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = Recorder()
    starttls = Controller(recorder, hostname="127.0.0.1", port=_free_port(), tls_context=context,
                          require_starttls=True, auth_required=True, authenticator=_login)
    implicit = Controller(recorder, hostname="127.0.0.1", port=_free_port(), ssl_context=context,
                          server_hostname="127.0.0.1", authenticator=_login, auth_require_tls=False)
    starttls.start()
    implicit.start()
    yield starttls.port, implicit.port, cert, recorder
    starttls.stop()
    implicit.stop()


def test_starttls_and_ssl_with_auth(tls_relay: tuple[int, int, Path, Recorder]) -> None:
    starttls_port, ssl_port, ca_file, recorder = tls_relay
    credentials = {"username": "relance", "password": "s3cret", "ca_file": str(ca_file)}
    for port, security in ((starttls_port, "starttls"), (ssl_port, "ssl")):
        backend = SMTPBackend("email", host="127.0.0.1", port=port, security=security, **credentials)
        results = backend.send([_message(1), _message(2)])
        backend.close()
        assert [result.outcome for result in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED], results
    assert len(recorder.messages) == 4


def test_untrusted_certificate_and_wrong_password_keep_the_messages_for_a_retry(
        tls_relay: tuple[int, int, Path, Recorder]) -> None:
    starttls_port, _, ca_file, recorder = tls_relay
    untrusted = SMTPBackend("email", host="127.0.0.1", port=starttls_port, username="relance", password="s3cret")
    [result] = untrusted.send([_message(1)])
    assert result.outcome is Outcome.RETRY and "CERTIFICATE_VERIFY_FAILED" in (result.reason or "")
    wrong = SMTPBackend("email", host="127.0.0.1", port=starttls_port, username="relance", password="nope",
                        ca_file=str(ca_file))
    [result] = wrong.send([_message(1)])
    assert result.outcome is Outcome.RETRY and "authentication failed" in (result.reason or "")
    assert recorder.messages == []


def test_a_connection_dropped_while_idle_is_reopened(smtpd: tuple[Controller, Recorder]) -> None:
    controller, recorder = smtpd
    backend = _backend(controller)
    assert backend.send([_message(1)])[0].outcome is Outcome.ACCEPTED
    assert backend.connection is not None and backend.connection.sock is not None
    backend.connection.sock.shutdown(socket.SHUT_RDWR)  # as a relay closing an idle session would
    [result] = backend.send([_message(2)])
    backend.close()
    assert result.outcome is Outcome.ACCEPTED
    assert [envelope.rcpt_tos for envelope in recorder.messages] == [["user1@example.org"], ["user2@example.org"]]
    assert len(recorder.sessions) == 2


def test_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="ca_file"):
        SMTPBackend("email", ca_file=str(tmp_path / "missing.pem"))
