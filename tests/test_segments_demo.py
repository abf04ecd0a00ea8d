"""The segments demo step on a small synthetic company: every example segment is saved and refreshed."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine

from cli.demo.context import DemoContext
from cli.demo.segments import EXAMPLES, run
from contacts.consent import Proof, set_consent
from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_scope
from core.models import Contact, Conversion
from core.settings import Settings


def _company(engine: Engine, size: int = 60) -> None:
    rng = random.Random(3)
    now = clock.now()
    with session_scope(engine) as session:
        for index in range(size):
            contact = Contact(
                email=f"p{index}@example.fr", phone=f"+336000000{index:02d}" if index % 3 == 0 else None,
                country=rng.choice(["FR", "FR", "BE"]), lifecycle_stage=rng.choice(["subscriber", "lead", "mql",
                                                                                    "customer"]),
                score=rng.randint(0, 100), address_line1="1 rue Haute", postcode="75001", city="Paris",
                birth_date=(now - timedelta(days=365 * 30 - 2)).date() if index % 10 == 0 else None,
            )
            session.add(contact)
            session.flush()
            if index % 4:
                set_consent(session, contact.id, "email", "granted", Proof(source="demo"))
            if index % 3 == 0:
                set_consent(session, contact.id, "sms", "granted", Proof(source="demo"))
            record_events(session, [
                NewEvent(rng.choice(["email.opened", "email.clicked"]), f"e{index}-{n}", contact.id,
                         now - timedelta(days=rng.uniform(0, 200))) for n in range(rng.randint(0, 4))
            ])
            for order in range(rng.randint(0, 3) if contact.lifecycle_stage == "customer" else 0):
                at, amount = now - timedelta(days=rng.uniform(0, 400)), Decimal(rng.randint(20, 400))
                session.add(Conversion(contact_id=contact.id, amount=amount, currency="EUR", occurred_at=at,
                                       external_ref=f"o{index}-{order}"))
                record_events(session, [NewEvent("conversion", f"c{index}-{order}", contact.id, at, value=amount)])


def test_demo_step_defines_refreshes_and_reports(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    _company(engine)
    output = io.StringIO()
    context = DemoContext(engine=engine, settings=settings, console=Console(file=output, width=160),
                          workdir=tmp_path)
    sizes = run(context)
    assert set(sizes) == {path.stem for path in EXAMPLES.glob("*.yaml")}
    assert list(sizes).index("engaged-french-leads") < list(sizes).index("hot-french-leads")
    for name in ("engaged-french-leads", "newsletter-email", "sms-reachable", "postal-only", "rfm-champions",
                 "dormant-customers"):
        assert sizes[name] > 0, name
    text = output.getvalue()
    assert "RFM" in text and "relance segment explain engaged-french-leads" in text and "KMeans" in text
    assert run(context) == sizes  # a second run replaces definitions and refreshes incrementally
