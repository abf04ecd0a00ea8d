"""Demo step: two nurturing journeys on the demo company — leads from the demo-request form (welcome → wait two days
→ case study if they clicked, else an SMS nudge → goal: a purchase) and quotes left unanswered (email → reminder a
week later → letter) — published, then the demo clock moved through them tick by tick, each status table printed."""

from __future__ import annotations

import csv
import random
import secrets
import warnings
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cli.demo.context import EXAMPLES, DemoContext
from cli.journey_views import print_preview, print_status
from contacts.timeline import NewEvent, record_events
from core import clock
from core.db import session_scope
from core.links import link_token
from core.models import Campaign, Contact, Message
from core.settings import Settings
from feedback.apply import apply_all
from journeys.clocktime import next_local_time
from journeys.diagram import flow_dot
from journeys.language import read_document
from journeys.preview import preview
from journeys.service import enroll_now, get_journey, save_draft
from journeys.status import journey_status
from journeys.tick import TickReport, tick
from journeys.triggers import keys_source
from journeys.versions import publish

JOURNEYS = EXAMPLES / "journeys"
LEADS, QUOTES = "lead-nurturing", "quote-follow-up"
AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15"


@dataclass
class Visitor:
    """The web app in-process, with the demo's keys: forms, tracking links and the conversions API."""

    client: Any
    settings: Settings
    rng: random.Random

    def form(self, contact: dict[str, Any]) -> int:
        return int(self.client.post("/forms/demo-request", data={
            "email": contact["email"], "first_name": contact["first_name"] or "Alex",
            "last_name": contact["last_name"] or "Martin", "company": contact["company"] or "Demo SARL",
            "phone": contact["phone"] or "", "team_size": "11-50", "consent": "yes"},
            headers={"User-Agent": AGENT, "Referer": "https://www.example.fr/demo?utm_source=google"},
            follow_redirects=False).status_code)

    def click(self, message_id: str, url: str) -> None:
        token = link_token(self.settings, "click", {"m": message_id, "url": url})
        self.client.get(f"/t/c/{token}", headers={"User-Agent": AGENT}, follow_redirects=False)

    def buy(self, contact_id: int, reference: str, amount: str) -> None:
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        self.client.post("/api/conversions", json={"external_ref": reference, "amount": amount, "currency": "EUR",
                                                   "contact_id": contact_id}, headers={"X-API-Key": key})


def run(context: DemoContext) -> dict[str, Any]:
    """Publish both journeys, move time through them, print their status tables; returns their statuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its test client's HTTP library
        from fastapi.testclient import TestClient

    from web.app import create_app

    console = context.console
    console.rule("[bold]Journeys: lead nurturing and multi-level quote follow-ups, exactly once")
    settings = Settings(**{**context.settings.model_dump(), "api_key": secrets.token_hex(16),
                           "forms_dir": EXAMPLES / "forms", "form_rate_limit": 1000}, _env_file=None)
    _publish(context)
    app = create_app(settings, engine=context.engine, background=False)
    with TestClient(app, base_url=settings.public_url) as client:
        visitor = Visitor(client, settings, random.Random(context.seed))
        _leads(context, settings, visitor)
        _quotes(context, settings, visitor)
    with session_scope(context.engine) as session:
        statuses = {name: journey_status(session, get_journey(session, name)).as_dict() for name in (LEADS, QUOTES)}
    console.print(f"The demo clock now reads {clock.now():%Y-%m-%d %H:%M} UTC. The same in the dashboard: page "
                  "Journeys (flow diagram with counts on each edge, pause / resume for marketers); "
                  "`relance journey status|preview NAME`, and `relance worker` runs the tick every minute.")
    return statuses


def _publish(context: DemoContext) -> None:
    with session_scope(context.engine) as session:
        for name in (LEADS, QUOTES):
            journey, _ = save_draft(session, read_document(JOURNEYS / f"{name}.yaml"), actor="demo")
            if journey.current_version is None:
                result = publish(session, context.settings, journey, actor="demo")
                context.console.print(f"Published [bold]{name}[/] v{result.version}: send steps backed by "
                                      f"{', '.join(result.campaigns.values())}.")


def _advance(context: DemoContext, label: str, *, by: timedelta | None = None) -> TickReport:
    """Move the demo clock, then one tick (enroll, wake, advance, dispatch), reported in one line."""
    if by is not None:
        clock.travel(by)
    report = tick(context.engine, context.settings)
    moved = ", ".join(f"{step} {count}" for item in report.journeys for step, count in item.acted.items() if count)
    enrolled = sum(item.enrolled for item in report.journeys)
    finished = ", ".join(f"{count} {kind}" for item in report.journeys for kind, count in item.finished.items())
    context.console.print(f"[dim]{clock.now():%a %d %b %H:%M}[/] {label}: {enrolled} enrolled; "
                          f"{moved or 'nothing due'}; {report.sent} sent" + (f"; {finished}" if finished else ""))
    return report


def _contacts(context: DemoContext, count: int, *, offset: int, mail: bool = False) -> list[dict[str, Any]]:
    columns = (Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.company, Contact.phone)
    query = select(*columns).where(Contact.email.is_not(None), Contact.erased_at.is_(None),
                                   Contact.email_status != "invalid")
    if mail:
        query = query.where(Contact.address_line1.is_not(None), Contact.postcode.is_not(None))
    with session_scope(context.engine) as session:
        rows = session.execute(query.order_by(Contact.id).offset(offset).limit(count)).all()
    return [dict(zip(("id", "email", "first_name", "last_name", "company", "phone"), row, strict=True))
            for row in rows]


def _sent(context: DemoContext, journey: str, step: str) -> list[tuple[str, int]]:
    """(message id, contact id) of the messages a journey step sent."""
    with session_scope(context.engine) as session:
        rows = session.execute(select(Message.id, Message.contact_id).join(Campaign, Campaign.id == Message.campaign_id)
                               .where(Campaign.name.like(f"{journey}.v%.{step}"), Message.status == "sent")
                               .order_by(Message.id))
        return [(str(message_id), int(contact_id)) for message_id, contact_id in rows]


def _leads(context: DemoContext, settings: Settings, visitor: Visitor) -> None:
    console = context.console
    console.print(f"[bold]{LEADS}[/]: 40 visitors ask for a demo through the form (POST /forms/demo-request)…")
    leads = _contacts(context, 40, offset=200)
    answers = [visitor.form(contact) for contact in leads]
    console.print(f"  forms answered {answers.count(303) + answers.count(200)}/{len(answers)}; "
                  "each is a `form.submitted` event the journey's trigger reads.")
    _advance(context, "first tick")
    welcomed = _sent(context, LEADS, "welcome")
    for message_id, _ in welcomed[::3]:  # a third click the welcome email's link
        visitor.click(message_id, "https://www.example.com/fr/getting-started?utm_source=relance")
    for index, (_, contact_id) in enumerate(welcomed[1:6:2]):  # three buy within the hour: the goal
        visitor.buy(contact_id, f"demo-journey-order-{contact_id}", f"{490 + 100 * index}.00")
    apply_all(context.engine, settings)
    _advance(context, "an hour later (clicks and purchases applied)", by=timedelta(hours=1))
    _advance(context, "two days later: the branch on the click", by=timedelta(days=2))
    _advance(context, "the next weekday morning, 09:30 local", by=_until_weekday_morning())
    _advance(context, "an hour later", by=timedelta(hours=1))
    with session_scope(context.engine) as session:
        status = journey_status(session, get_journey(session, LEADS))
        focus = session.get(Contact, leads[0]["id"])
        assert focus is not None
        path = preview(session, context.settings, get_journey(session, LEADS), focus)
    print_status(console, status, title=f"{LEADS}: status per step")
    print_preview(console, path)
    _diagram(context, status, LEADS)


def _until_weekday_morning() -> timedelta:
    """From now to the next weekday 09:31 in Paris (the journey waits until 09:30 local, Monday to Friday)."""
    moment = next_local_time(clock.now() + timedelta(minutes=1), time(9, 31), ("mon", "tue", "wed", "thu", "fri"),
                             ZoneInfo("Europe/Paris"))
    return moment - clock.now()


def _quotes(context: DemoContext, settings: Settings, visitor: Visitor) -> None:
    console = context.console
    quoted = _contacts(context, 30, offset=400, mail=True)
    csv_path = context.workdir / "open-quotes.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email"])
        writer.writerows([[contact["email"]] for contact in quoted])
    with session_scope(context.engine) as session:
        entered = enroll_now(session, context.settings, get_journey(session, QUOTES),
                             keys_source([contact["email"] for contact in quoted], f"manual:{clock.now()}"))
    console.print(f"[bold]{QUOTES}[/]: {entered} contacts with a quote left unanswered enrolled "
                  f"(`relance journey enroll {QUOTES} {csv_path.name}`).")
    _advance(context, "first tick: level 1, the email")
    emailed = _sent(context, QUOTES, "quote-email")
    for message_id, _ in emailed[:6]:  # six open the quote from the email: the wait ends early
        visitor.click(message_id, "https://www.example.com/fr/devis?utm_source=relance")
    if len(emailed) > 7:  # one accepts the quote: the goal
        visitor.buy(emailed[7][1], f"demo-quote-{emailed[7][1]}", "2400.00")
    with session_scope(context.engine) as session:  # the CRM says two declined (an event of its own)
        record_events(session, [NewEvent("quote.declined", f"demo-quote-declined:{contact_id}", contact_id,
                                         clock.now(), properties={"reason": "too expensive"})
                                for _, contact_id in emailed[9:11]])
    apply_all(context.engine, settings)
    _advance(context, "clicks, an accepted quote and two refusals applied", by=timedelta(minutes=30))
    _advance(context, "a week later: level 2, the reminder", by=timedelta(days=7))
    _advance(context, "another week: level 3, the letter", by=timedelta(days=7))
    with session_scope(context.engine) as session:
        status = journey_status(session, get_journey(session, QUOTES))
    print_status(console, status, title=f"{QUOTES}: status per step")
    console.print(f"Letters (levels 2 and 3) are print-ready files for the mailing house in "
                  f"{context.settings.outbox_dir / 'mail'}.")
    _diagram(context, status, QUOTES)


def _diagram(context: DemoContext, status: Any, name: str) -> None:
    path: Path = context.workdir / f"journey-{name}.dot"
    path.write_text(flow_dot(status), encoding="utf-8")
    context.console.print(f"Flow diagram with counts on each edge: {path.name} (`dot -Tsvg {path.name}`; the "
                          "dashboard draws it).")
