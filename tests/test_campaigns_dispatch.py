"""Dispatching on both databases: exactly-once sends, provider outcomes, retries, self-pausing on errors and budget,
pause/resume/cancel, crash recovery through the provider's own feedback, and the A/B winner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from campaigns.dispatcher import Dispatcher
from campaigns.planner import plan_campaign
from campaigns.service import cancel_campaign, pause_campaign, resume_campaign
from campaigns.winner import decide_winner
from connectors.base import Backend, Outcome, OutgoingMessage, Rejection, SendResult
from connectors.memory import MemoryBackend
from contacts.view import contact_view
from core import clock, ledger
from core.models import Campaign, Consent, Contact, Event, Message, Variant
from core.settings import Settings
from tests.campaign_support import make_audience, make_campaign, statuses
from tests.test_web_support import apply, make_client, sendgrid_post, web_settings


class ScriptedBackend(Backend):
    """Answers each message by address: `rejected`, `retry`, `opted_out`; accepts the rest."""

    name = "scripted"
    channels = frozenset({"email", "sms"})

    def __init__(self, channel: str, answers: dict[str, str] | None = None, batch_id: str | None = None,
                 **options: Any) -> None:
        super().__init__(channel, **options)
        self.answers = answers or {}
        self.batch_id = batch_id  # one provider id for the whole batch, as SendGrid's X-Message-Id
        self.sent: list[OutgoingMessage] = []

    def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in batch:
            answer = self.answers.get(message.to, "accept")
            if answer == "accept":
                self.sent.append(message)
                results.append(SendResult(message.message_id, Outcome.ACCEPTED, self.name,
                                          self.batch_id or f"p-{message.message_id}"))
            elif answer == "timeout":  # the provider may have it; its answer was lost
                self.sent.append(message)
                results.append(SendResult(message.message_id, Outcome.UNKNOWN, self.name, reason="read timed out"))
            elif answer == "retry":
                results.append(SendResult(message.message_id, Outcome.RETRY, self.name, reason="HTTP 503",
                                          retry_after=1))
            else:
                opted_out = answer == "opted_out"
                results.append(SendResult(message.message_id, Outcome.REJECTED, self.name,
                                          reason="recipient opted out" if opted_out else "HTTP 400: bad address",
                                          rejection=Rejection.OPTED_OUT if opted_out else None))
        return results


def _planned(session: Session, settings: Settings, **definition: Any) -> Campaign:
    campaign = make_campaign(session, **definition)
    plan_campaign(session, settings, campaign, dry_run=False)
    session.commit()
    return campaign


def _run(engine: Engine, settings: Settings, campaign: Campaign, backend: Backend, **kwargs: Any) -> str:
    dispatcher = Dispatcher(engine, settings, backends={backend.channel: backend}, batch_size=7)
    return dispatcher.run(campaign.id, **kwargs)


def test_every_queued_message_is_sent_once_with_cost_events_and_completion(engine: Engine, session: Session,
                                                                            settings: Settings) -> None:
    make_audience(session, 25)
    campaign = _planned(session, settings, holdout=0.2)
    backend = MemoryBackend("email")
    assert _run(engine, settings, campaign, backend) == "completed"
    counts = statuses(session, campaign)
    assert counts["sent"] == len(backend.sent) == 25 - counts["held_out"]
    assert len({message.message_id for message in backend.sent}) == len(backend.sent)
    session.expire_all()
    refreshed = session.get(Campaign, campaign.id)
    assert refreshed is not None and refreshed.status == "completed" and refreshed.completed_at is not None
    assert refreshed.spent == Decimal("0.0009") * len(backend.sent)
    someone = backend.sent[0]
    contact_id = session.scalar(select(Message.contact_id).where(Message.id == someone.message_id))
    [seen] = contact_view(session, session.get(Contact, contact_id))["messages"]  # type: ignore[arg-type]
    assert (seen["campaign"], seen["channel"], seen["status"], seen["variant"]) == ("spring", "email", "sent", "A")
    first = backend.sent[0]
    assert first.categories == ("spring",) and first.custom_args == {"message_id": first.message_id}
    assert "utm_campaign=spring" not in first.html  # links are signed click tokens, UTM rides inside them


def test_provider_refusals_fail_for_good_and_opted_out_sms_withdraws_consent(engine: Engine, session: Session,
                                                                             settings: Settings) -> None:
    people = make_audience(session, 4, channels=("sms",))
    campaign = _planned(session, settings, channel="sms", template="sms-offer", quiet_hours={"sms": None})
    backend = ScriptedBackend("sms", {people[0].phone or "": "rejected", people[1].phone or "": "opted_out"})
    _run(engine, settings, campaign, backend)
    rows = {row.contact_id: row for row in session.scalars(select(Message))}
    assert (rows[people[0].id].status, rows[people[0].id].reason) == ("failed", "rejected")
    assert "bad address" in (rows[people[0].id].error or "")
    assert (rows[people[1].id].status, rows[people[1].id].reason) == ("failed", "opted_out")
    consent = session.scalars(select(Consent).where(Consent.contact_id == people[1].id)).one()
    assert consent.status == "withdrawn" and "opted out" in (consent.source or "")
    assert statuses(session, campaign)["sent"] == 2


def test_transient_failures_retry_with_backoff_then_give_up(engine: Engine, session: Session,
                                                            settings: Settings) -> None:
    people = make_audience(session, 1)
    campaign = _planned(session, settings)
    backend = ScriptedBackend("email", {people[0].email or "": "retry"})
    config = Settings(**{**settings.model_dump(), "max_send_attempts": 2}, _env_file=None)
    assert _run(engine, config, campaign, backend) == "sending"
    row = session.scalars(select(Message)).one()
    assert (row.status, row.attempts, row.reason) == ("queued", 1, "retrying")
    assert clock.utc(row.next_attempt_at) > clock.now() + timedelta(seconds=20)  # backoff, not an immediate retry
    clock.travel(timedelta(hours=1))
    _run(engine, config, campaign, backend)
    session.expire_all()
    row = session.scalars(select(Message)).one()
    assert (row.status, row.reason, row.attempts) == ("failed", "retries_exhausted", 2)


def test_error_rate_beyond_policy_pauses_the_campaign_and_says_why(engine: Engine, session: Session,
                                                                   settings: Settings) -> None:
    people = make_audience(session, 12)
    campaign = _planned(session, settings, policies={"max_error_rate": 0.3, "min_sample": 5})
    backend = ScriptedBackend("email", {person.email or "": "rejected" for person in people[:10]})
    assert _run(engine, settings, campaign, backend) == "paused"
    session.expire_all()
    paused = session.get(Campaign, campaign.id)
    assert paused is not None and "error rate" in (paused.status_reason or "") and "rejected" in paused.status_reason
    assert statuses(session, campaign)["queued"] == 5  # the second batch (7 + 5) was never claimed


def test_budget_cap_stops_before_overspending(engine: Engine, session: Session, settings: Settings) -> None:
    make_audience(session, 30)
    campaign = _planned(session, settings, budget=110, costs={"fixed": 100, "per_message": 1})
    backend = MemoryBackend("email")
    assert _run(engine, settings, campaign, backend) == "paused"
    session.expire_all()
    stopped = session.get(Campaign, campaign.id)
    assert stopped is not None and "budget reached" in (stopped.status_reason or "")
    assert len(backend.sent) == 10 and stopped.spent == Decimal(10)
    assert statuses(session, campaign) == {"sent": 10, "queued": 20}


def test_pause_resume_and_cancel_are_respected_by_the_next_claim(engine: Engine, session: Session,
                                                                 settings: Settings) -> None:
    make_audience(session, 20)
    campaign = _planned(session, settings)
    pause_campaign(session, campaign)
    session.commit()
    backend = MemoryBackend("email")
    assert _run(engine, settings, campaign, backend) == "paused" and not backend.sent
    resume_campaign(session, campaign)
    session.commit()
    dispatcher = Dispatcher(engine, settings, backends={"email": backend}, batch_size=7)
    assert dispatcher.run_batch(campaign.id).claimed == 7
    cancel_campaign(session, session.get(Campaign, campaign.id))  # type: ignore[arg-type]
    session.commit()
    assert dispatcher.run_batch(campaign.id).stopped == "cancelled"
    assert statuses(session, campaign) == {"sent": 7, "cancelled": 13}


def _crash_mid_send(engine: Engine, settings: Settings, campaign: Campaign, backend: MemoryBackend) -> list[str]:
    """A dispatcher that claims a batch, hands it to the provider, and dies before recording anything."""
    with Session(engine) as session, session.begin():
        jobs = ledger.claim(session, campaign.id, owner="doomed", lease_seconds=60, limit=10)
    backend.send([OutgoingMessage(message_id=job.message_id, channel="email", to=f"{job.contact_id}@x.org")
                   for job in jobs[:6]])  # the provider accepted six before the crash
    return [job.message_id for job in jobs]


def test_crash_recovery_resends_only_what_the_provider_never_saw(engine: Engine, session: Session,
                                                                 settings: Settings) -> None:
    make_audience(session, 10)
    campaign = _planned(session, settings)
    provider = MemoryBackend("email")
    claimed = _crash_mid_send(engine, settings, campaign, provider)
    seen = {message.message_id for message in provider.sent}
    config = web_settings(settings, unknown_grace_seconds=600)
    with make_client(engine, config) as client:  # the provider's own word arrives: `processed` for what it took
        events = [{"email": "x@x.org", "event": "processed", "timestamp": int(clock.now().timestamp()),
                   "sg_event_id": f"p-{message_id}", "sg_message_id": f"sg.{message_id}", "message_id": message_id}
                  for message_id in sorted(seen)]
        assert sendgrid_post(client, events).status_code == 200
    apply(engine, config)
    clock.travel(timedelta(seconds=61))  # the doomed lease expires
    assert _run(engine, config, campaign, provider, until_done=False) == "sending"  # 4 unknown: within grace
    assert statuses(session, campaign) == {"sent": 6, "unknown": 4}
    clock.travel(timedelta(seconds=601))
    assert _run(engine, config, campaign, provider) == "completed"
    assert statuses(session, campaign) == {"sent": 10}
    counts: dict[str, int] = {}
    for message in provider.sent:
        counts[message.message_id] = counts.get(message.message_id, 0) + 1
    assert set(counts) == set(claimed) and set(counts.values()) == {1}


def test_idempotent_backends_are_resent_at_once_after_a_crash(engine: Engine, session: Session,
                                                              settings: Settings) -> None:
    make_audience(session, 3)
    campaign = _planned(session, settings)
    with Session(engine) as other, other.begin():
        ledger.claim(other, campaign.id, owner="doomed", lease_seconds=1, limit=10)
    clock.travel(timedelta(seconds=2))
    dispatcher = Dispatcher(engine, settings)  # the outbox backend: files named after the message id
    assert dispatcher.run(campaign.id) == "completed"
    assert len(list((settings.outbox_dir / "email").glob("*.eml"))) == 3


def test_ab_test_winner_gets_the_waiting_audience(engine: Engine, session: Session, settings: Settings) -> None:
    make_audience(session, 120)
    campaign = _planned(session, settings, variants=[{"name": "A", "template": "welcome"},
                                                     {"name": "B", "template": "newsletter"}],
                        test={"share": 0.3, "metric": "clicks", "wait": "2h"})
    backend = MemoryBackend("email")
    assert _run(engine, settings, campaign, backend) == "sending"
    waiting = statuses(session, campaign)["waiting"]
    variant_b = session.scalars(select(Variant).where(Variant.name == "B")).one()
    for row in session.scalars(select(Message).where(Message.variant_id == variant_b.id, Message.status == "sent")):
        session.add(Event(contact_id=row.contact_id, type="email.clicked", occurred_at=clock.now(),
                          campaign_id=campaign.id, message_id=row.id, dedupe_key=f"click-{row.id}"))
    session.commit()
    assert decide_winner(session, campaign, _definition(campaign)) is None  # not before the wait is over
    clock.travel(timedelta(hours=2, minutes=1))
    assert _run(engine, settings, campaign, backend) == "completed"
    session.expire_all()
    winner = session.scalars(select(Variant).where(Variant.is_winner)).one()
    assert winner.name == "B"
    assert session.scalar(select(Campaign.status_reason)).startswith("variant B won the test on clicks")
    after = [message for message in backend.sent[-waiting:]]
    assert {message.metadata["template"] for message in after} == {"newsletter"}


def test_a_test_phase_that_sent_nothing_still_ends_with_the_first_variant(engine: Engine, session: Session,
                                                                          settings: Settings) -> None:
    make_audience(session, 60)
    campaign = _planned(session, settings, variants=[{"name": "B", "template": "newsletter"},
                                                     {"name": "A", "template": "welcome"}],
                        test={"share": 0.3, "metric": "clicks", "wait": "1h"})
    session.execute(update(Message).where(Message.status == "queued").values(status="failed", reason="refused"))
    session.commit()  # every test-phase send failed: no arm has a single message sent
    clock.travel(timedelta(hours=1, minutes=1))
    assert _run(engine, settings, campaign, MemoryBackend("email")) == "completed"
    session.expire_all()
    assert session.scalars(select(Variant.name).where(Variant.is_winner)).one() == "A"
    assert statuses(session, campaign).get("waiting", 0) == 0


def _definition(campaign: Campaign) -> Any:
    from campaigns.service import definition_of

    return definition_of(campaign)


def test_messages_due_later_are_not_claimed_early(engine: Engine, session: Session, settings: Settings) -> None:
    make_audience(session, 3)
    campaign = _planned(session, settings)
    session.execute(update(Message).values(next_attempt_at=clock.now() + timedelta(hours=3)))
    session.commit()
    backend = MemoryBackend("email")
    assert _run(engine, settings, campaign, backend) == "sending" and not backend.sent
    clock.travel(timedelta(hours=3, seconds=1))
    assert _run(engine, settings, campaign, backend) == "completed" and len(backend.sent) == 3


def test_feedback_received_but_not_applied_is_applied_before_any_resend(engine: Engine, session: Session,
                                                                        settings: Settings) -> None:
    make_audience(session, 8)
    campaign = _planned(session, settings)
    provider = MemoryBackend("email")
    _crash_mid_send(engine, settings, campaign, provider)
    config = web_settings(settings, unknown_grace_seconds=60)
    with make_client(engine, config) as client:  # stored raw by the web app, not applied yet
        events = [{"email": "x@x.org", "event": "processed", "timestamp": int(clock.now().timestamp()),
                   "sg_event_id": f"p-{message.message_id}", "sg_message_id": "sg.x",
                   "message_id": message.message_id} for message in provider.sent]
        assert sendgrid_post(client, events).status_code == 200
    clock.travel(timedelta(seconds=61))  # lease over
    _run(engine, config, campaign, provider)
    clock.travel(timedelta(seconds=61))  # grace over
    assert _run(engine, config, campaign, provider) == "completed"
    assert len(provider.sent) == len({message.message_id for message in provider.sent}) == 8


def test_a_lost_answer_waits_for_the_provider_and_is_not_resent_when_it_confirms(engine: Engine, session: Session,
                                                                                  settings: Settings) -> None:
    people = make_audience(session, 2)
    campaign = _planned(session, settings)
    config = web_settings(settings, unknown_grace_seconds=300)
    backend = ScriptedBackend("email", {person.email or "": "timeout" for person in people})
    assert _run(engine, config, campaign, backend) == "sending"
    assert statuses(session, campaign) == {"unknown": 2}
    confirmed = session.scalars(select(Message).where(Message.contact_id == people[0].id)).one()
    with make_client(engine, config) as client:
        event = {"email": people[0].email, "event": "delivered", "timestamp": int(clock.now().timestamp()),
                 "sg_event_id": "d-1", "sg_message_id": "sg.1", "message_id": confirmed.id}
        assert sendgrid_post(client, [event]).status_code == 200
    backend.answers = {}
    clock.travel(timedelta(seconds=301))
    assert _run(engine, config, campaign, backend) == "completed"
    assert statuses(session, campaign) == {"delivered": 1, "sent": 1}
    assert [message.to for message in backend.sent].count(people[0].email) == 1  # confirmed: never resent
    assert [message.to for message in backend.sent].count(people[1].email) == 2  # never seen: resent once


def test_a_batched_request_is_recorded_in_one_statement_with_its_shared_provider_id(
        engine: Engine, session: Session, settings: Settings) -> None:
    make_audience(session, 45)
    campaign = _planned(session, settings)
    backend = ScriptedBackend("email", batch_id="sg-batch-1")
    dispatcher = Dispatcher(engine, settings, backends={"email": backend}, batch_size=40)
    assert dispatcher.run(campaign.id) == "completed"
    rows = session.scalars(select(Message)).all()
    assert {(row.status, row.provider, row.provider_message_id, row.cost) for row in rows} == {
        ("sent", "scripted", "sg-batch-1", Decimal("0.0009"))}
    assert all(row.sent_at is not None and row.lease_owner is None for row in rows)
