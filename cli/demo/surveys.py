"""Demo step: the yearly NPS survey sent to the demo company's customers through a campaign, answered through the
real pages (one tap in the email, some people stopping midway and resuming later), the detractors' follow-up
audience, the reminder audience, and the results with NPS and its interval."""

from __future__ import annotations

import email
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.definition import load_campaign
from campaigns.dispatcher import Dispatcher
from campaigns.planner import plan_campaign
from campaigns.sending import start_campaign
from campaigns.service import CampaignStateError, create_campaign, get_campaign
from cli.demo.context import EXAMPLES, DemoContext
from cli.survey_results import print_results
from core import clock
from core.db import session_scope
from core.models import Consent, ContactTag, Invitation, Message, Tag
from segments import load_definition
from segments.refresh import refresh_segment
from segments.service import count, create_segment, get_segment
from surveys.definition import parse_survey
from surveys.results import SurveyResults, survey_results
from surveys.service import create_survey

PEOPLE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
SCORES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
WEIGHTS = (2, 1, 2, 3, 3, 5, 7, 12, 16, 22, 20)


@dataclass
class Tally:
    """What the simulated people did, and the HTTP answers they got."""

    tapped: int = 0
    completed: int = 0
    stopped: int = 0
    resumed: int = 0
    answers: Counter[str] = field(default_factory=Counter)


def _setup(context: DemoContext) -> int:
    """The survey (closing in 90 days), the customers segment and the campaign; returns the campaign id."""
    with session_scope(context.engine) as session:
        document = yaml.safe_load((EXAMPLES / "surveys" / "nps-2026.yaml").read_text(encoding="utf-8"))
        document["closes_at"] = (clock.now() + timedelta(days=90)).replace(microsecond=0)
        create_survey(session, parse_survey(document), actor="demo")
        for path in (EXAMPLES / "segments" / "customers-email.yaml", EXAMPLES / "segments" / "nps-detractors.yaml",
                     EXAMPLES / "surveys" / "segments" / "nps-not-answered.yaml"):  # this one needs the survey
            segment = load_definition(path)
            name = str(segment.name)
            create_segment(session, name, segment, description=segment.description, replace=True)
        refresh_segment(session, "customers-email")
        definition = load_campaign(EXAMPLES / "campaigns" / "nps-survey.yaml")
        try:
            campaign = create_campaign(session, definition, replace=True, actor="demo")
        except CampaignStateError:
            campaign = get_campaign(session, definition.name)
        return campaign.id


def _send(context: DemoContext, campaign_id: int) -> tuple[int, int]:
    with session_scope(context.engine) as session:
        report = start_campaign(session, context.settings, get_campaign(session, campaign_id), actor="demo")
    dispatcher = Dispatcher(context.engine, context.settings)
    try:
        dispatcher.run(campaign_id)
    finally:
        dispatcher.close()
    return report.to_send, report.invited


def _links(path: Path) -> dict[str, str]:
    """The survey links of a sent invitation email, read back from the outbox: the button and the 11 scores."""
    if not path.is_file():
        return {}
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(("html",))
    html = body.get_content() if body is not None else ""
    found = {match.rsplit("/", 1)[1]: match for match in re.findall(r'href="(https?://[^"]+/s/[^"]+/a/nps/\d+)"', html)}
    button = re.search(r'href="(https?://[^"]+/s/[^"/]+)"', html)
    if button:
        found["survey"] = button.group(1)
    return found


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _answer_rest(client: Any, survey_path: str, rng: random.Random, score: int, tally: Tally) -> None:
    """Pages 2 and 3 as a person fills them (page 3 only for those who do not stop)."""
    page_two = {"page": "2", "q.support": str(rng.choice((2, 3, 4, 4, 5, 5))),
                "q.usage": rng.choice(("daily", "weekly", "weekly", "monthly"))}
    if score <= 6:
        page_two["q.reason"] = rng.choice(("Les délais de livraison", "Le prix a augmenté", "Support difficile à "
                                           "joindre", "Trop d'e-mails"))
    elif score >= 9:
        page_two["q.liked"] = rng.choice(("La réactivité", "Les rapports", "La simplicité"))
    answer = client.post(survey_path, data=page_two, follow_redirects=False)
    tally.answers[f"POST page 2 → {answer.status_code}"] += 1


def _finish(client: Any, survey_path: str, rng: random.Random, tally: Tally) -> None:
    page_three = {"page": "3", "q.newsletter": rng.choice(("yes", "no")), "q.features": rng.sample(
        ["reports", "campaigns", "surveys", "scoring"], 2), "q.aspects.price": str(rng.randint(2, 5)),
        "q.aspects.quality": str(rng.randint(3, 5)), "q.ease": str(rng.randint(4, 7))}
    answer = client.post(survey_path, data=page_three, follow_redirects=False)
    tally.answers[f"POST page 3 → {answer.status_code}"] += 1
    tally.completed += 1


def _simulate(context: DemoContext, campaign_id: int) -> Tally:
    """People tap a score in the email; most go on, some stop after page 2 and come back later with the link."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from web.app import create_app

    rng, tally = random.Random(context.seed), Tally()
    with session_scope(context.engine) as session:  # the outbox backend's provider id is the .eml file
        sent = [Path(location) for location in session.scalars(
            select(Message.provider_message_id).where(Message.campaign_id == campaign_id, Message.status == "sent")
            .order_by(Message.id)) if location]
    app = create_app(context.settings, engine=context.engine, background=False)
    stopped: list[str] = []
    with TestClient(app, base_url=context.settings.public_url, headers={"User-Agent": PEOPLE}) as client:
        for eml in sent[: int(len(sent) * 0.7)]:  # 70 % answer
            links = _links(eml)
            if "survey" not in links:
                continue
            score = rng.choices(SCORES, WEIGHTS)[0]
            tapped = client.get(_path(links[str(score)]), follow_redirects=False)
            tally.answers[f"GET one-tap score → {tapped.status_code}"] += 1
            tally.tapped += 1
            survey_path = _path(links["survey"])
            if rng.random() < 0.15:
                continue  # tapped a score only
            _answer_rest(client, survey_path, rng, score, tally)
            if rng.random() < 0.2:
                stopped.append(survey_path)  # closes the tab after page 2
                tally.stopped += 1
                continue
            _finish(client, survey_path, rng, tally)
        clock.travel(timedelta(days=2))  # two days later, the same links
        for survey_path in stopped[: max(1, len(stopped) * 2 // 3)]:
            page = client.get(survey_path)
            tally.answers[f"GET link again (resume) → {page.status_code}"] += 1
            if "Vous reprenez" in page.text or "You are picking up" in page.text:
                tally.resumed += 1
            _finish(client, survey_path, rng, tally)
        tampered = client.get(_path(_links(sent[0]).get("survey", "http://x/s/x"))[:-4] + "AAAA")
        tally.answers[f"GET tampered link → {tampered.status_code}"] += 1
    return tally


def _records(session: Session) -> dict[str, int]:
    """What the answers changed in contact records (write-back)."""
    tagged = dict(session.execute(select(Tag.name, func.count()).join(ContactTag).where(
        Tag.name.in_(("promoter", "detractor"))).group_by(Tag.name)).tuples().all())
    consents = dict(session.execute(select(Consent.status, func.count()).where(
        Consent.source == "survey:nps-2026").group_by(Consent.status)).tuples().all())
    return {"promoter tags": int(tagged.get("promoter", 0)), "detractor tags": int(tagged.get("detractor", 0)),
            "newsletter opt-ins": int(consents.get("granted", 0)),
            "newsletter opt-outs (survey as proof)": int(consents.get("withdrawn", 0))}


def run(context: DemoContext) -> SurveyResults:
    console = context.console
    console.rule("[bold]Surveys: NPS through a campaign, answered on the real pages, back into the records")
    started = time.perf_counter()
    campaign_id = _setup(context)
    to_send, invited = _send(context, campaign_id)
    console.print(f"Campaign nps-survey-2026: {to_send:,} customers invited to survey nps-2026 ({invited:,} "
                  "invitations tied to their ledger messages); the email carries the 0–10 scale as one-tap links.")
    tally = _simulate(context, campaign_id)
    console.print(f"Through the pages: {tally.tapped:,} tapped a score in the email, {tally.completed:,} completed, "
                  f"{tally.stopped:,} stopped after page 2 and {tally.resumed:,} of them resumed two days later "
                  "with the same link.")
    console.print("HTTP answers: " + ", ".join(f"{label}: {n:,}" for label, n in sorted(tally.answers.items())))
    with session_scope(context.engine) as session:
        console.print("Written back: " + ", ".join(f"{n:,} {what}" for what, n in _records(session).items()))
        detractors = count(session, get_segment(session, "nps-detractors"))
        reminder = count(session, get_segment(session, "nps-not-answered"))
        reminder_plan = _reminder_plan(context, session)
        results = survey_results(session, "nps-2026", language="fr")
        invitations = session.scalar(select(func.count()).select_from(Invitation)) or 0
    console.print(f"Segment nps-detractors ({{event: survey.answered, where: {{survey: nps-2026, nps: {{lte: 6}}}}}}): "
                  f"{detractors:,} customers — the detractor follow-up journey's audience (trigger: event "
                  "survey.answered with the same `where`) once journeys land.")
    console.print(f"Segment nps-not-answered ({{survey: nps-2026, status: \\[invited, started]}}): {reminder:,} — "
                  f"the reminder campaign would invite {reminder_plan:,} of them (dry run; a reminder resumes the "
                  "person's open response).")
    print_results(console, results)
    console.print(f"[dim]{invitations:,} invitations; step done in {time.perf_counter() - started:.1f} s. "
                  "`relance survey results nps-2026 --csv` exports every response; the dashboard's Surveys page "
                  "draws the same figures.[/]")
    return results


def _reminder_plan(context: DemoContext, session: Session) -> int:
    definition = load_campaign(EXAMPLES / "campaigns" / "nps-reminder.yaml")
    try:
        campaign = create_campaign(session, definition, replace=True, actor="demo")
    except CampaignStateError:
        campaign = get_campaign(session, definition.name)
    return plan_campaign(session, context.settings, campaign, dry_run=True).to_send
