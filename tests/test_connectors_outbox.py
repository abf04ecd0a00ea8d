"""Outbox (files per channel), letters batches (merged PDF + manifest) and the token bucket."""

from __future__ import annotations

import csv
import email
import hashlib
import json
import threading
import time
from email import policy
from pathlib import Path

import pytest

from connectors.base import ConfigurationError, Outcome
from connectors.letters import LettersBackend
from connectors.ratelimit import TokenBucket
from connectors.registry import check_channels, get_backend
from core.settings import Settings
from templates.pipeline import prepare_library

CONTACTS = [
    {"id": 1, "email": "zoe@example.org", "phone": "+33612345678", "first_name": "Zoé", "last_name": "Dupré",
     "address_line1": "12 rue des Lilas", "postcode": "69003", "city": "Lyon", "country": "FR"},
    {"id": 2, "email": "ollie@example.co.uk", "phone": "+447700900123", "first_name": "Oliver", "last_name": "Smith",
     "address_line1": "221B Baker Street", "postcode": "NW1 6XE", "city": "London", "country": "GB"},
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, outbox_dir=tmp_path / "outbox", public_url="https://go.example.net")  # type: ignore[call-arg]


def _render(settings: Settings, name: str) -> list:  # type: ignore[type-arg]
    prepared = prepare_library(name, locale="fr", settings=settings)
    return [prepared.render(contact, message_id=f"{name}-{contact['id']}", campaign="c") for contact in CONTACTS]


def test_outbox_is_the_default_for_every_channel(settings: Settings, tmp_path: Path) -> None:
    check_channels(settings)
    email_results = get_backend("email", settings).send(_render(settings, "welcome"))
    sms_results = get_backend("sms", settings).send(_render(settings, "sms-offer"))
    mail_results = get_backend("mail", settings).send(_render(settings, "letter-offer"))
    assert all(r.outcome is Outcome.ACCEPTED for r in email_results + sms_results + mail_results)
    eml = tmp_path / "outbox" / "email" / "welcome-1.eml"
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["To"] == "zoe@example.org" and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    lines = (tmp_path / "outbox" / "sms" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["to"] for line in lines] == ["+33612345678", "+447700900123"]
    assert (tmp_path / "outbox" / "mail" / "letter-offer-2.pdf").read_bytes().startswith(b"%PDF")
    assert sms_results[0].parts == 1 and mail_results[0].parts == 1


def test_letters_batch_is_one_merged_pdf_with_a_manifest(settings: Settings, tmp_path: Path) -> None:
    messages = _render(settings, "letter-offer")
    backend = LettersBackend("mail", directory=tmp_path / "batches", postage_class="lettre-prioritaire")
    results = backend.send(messages)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    [pdf_path] = list((tmp_path / "batches").glob("*.pdf"))
    [csv_path] = list((tmp_path / "batches").glob("*.csv"))
    pdf = pdf_path.read_bytes()
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [row["piece_id"] for row in rows] == ["letter-offer-1", "letter-offer-2"]
    assert [(row["first_page"], row["last_page"]) for row in rows] == [("1", "1"), ("2", "2")]
    assert rows[1]["address_lines"].endswith("ROYAUME UNI") and rows[1]["country"] == "GB"
    assert rows[0]["postage_class"] == "lettre-prioritaire"
    assert rows[0]["batch_sha256"] == hashlib.sha256(pdf).hexdigest()
    assert pdf.startswith(b"%PDF-") and len(pdf) > len(messages[0].attachments[0].content)
    assert [r.parts for r in results] == [1, 1] and results[0].provider_message_id.endswith("/letter-offer-1")


def test_a_letter_already_handed_over_is_never_put_in_another_batch(settings: Settings, tmp_path: Path) -> None:
    first, second = _render(settings, "letter-offer")
    LettersBackend("mail", directory=tmp_path / "batches").send([first])
    restarted = LettersBackend("mail", directory=tmp_path / "batches")  # after a crash: a fresh process
    results = restarted.send([first, second])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    manifests = sorted((tmp_path / "batches").glob("batch-*.csv"))
    pieces = [row["piece_id"] for path in manifests for row in csv.DictReader(path.open(encoding="utf-8"))]
    assert sorted(pieces) == ["letter-offer-1", "letter-offer-2"]  # letter 1 printed once
    assert results[0].provider_message_id and results[0].provider_message_id.endswith("/letter-offer-1")
    assert not list((tmp_path / "batches").glob(".*.tmp"))


def test_misconfigured_outbox_names_the_channel(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, outbox_dir=tmp_path,  # type: ignore[call-arg]
                        channels={"mail": {"backend": "outbox", "options": {"directory": ""}}})
    with pytest.raises(ConfigurationError, match="channel 'mail'.*directory"):
        check_channels(settings)
    unknown = Settings(_env_file=None, outbox_dir=tmp_path, channels={"fax": {"backend": "outbox"}})  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="channel 'fax'"):
        check_channels(unknown)


def test_token_bucket_limits_rate_across_threads() -> None:
    bucket = TokenBucket(rate=200, capacity=10)
    start = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(25)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert elapsed >= (100 - 10) / 200 * 0.9  # 100 tokens, 10 of burst, 200/s
    assert bucket.try_acquire(10) > 0
    with pytest.raises(ValueError):
        bucket.try_acquire(11)
