"""The journey language: good documents parse, bad ones are refused naming the path of every bad node, unknown
templates and segments are named, and `relance journey create` exits 2 with those paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from journeys.checks import check_document, check_references, load_journey
from journeys.clocktime import Duration
from journeys.language import JourneyDefinitionError
from templates.pipeline import sync_library
from tests.helpers import run_cli
from tests.journeys.support import document

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "journeys"


def problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(JourneyDefinitionError) as caught:
        check_document(doc)
    return dict(caught.value.problems)


def test_the_examples_are_valid_journeys() -> None:
    names = {load_journey(path).name for path in EXAMPLES.glob("*.yaml")}
    assert {"lead-nurturing", "quote-follow-up"} <= names


def test_durations_are_minutes_hours_days_and_weeks() -> None:
    assert Duration.parse("30m").elapsed.total_seconds() == 1800
    assert Duration.parse("2d").calendar and not Duration.parse("12h").calendar
    with pytest.raises(ValueError, match="30m, 12h, 2d or 1w"):
        Duration.parse("2 months")


@pytest.mark.parametrize(("change", "path", "why"), [
    ({"trigger": {"event": "form.submitted", "wher": {}}}, "trigger.wher", "unknown key"),
    ({"trigger": "sometimes"}, "trigger", "a trigger is `manual`"),
    ({"trigger": {"event": "Not An Event"}}, "trigger.event", "should look like email.clicked"),
    ({"trigger": {"date": "shoe_size"}}, "trigger.date", "unknown field"),
    ({"trigger": {"date": "country"}}, "trigger.date", "not a date field"),
    ({"re_entry": "twice"}, "re_entry", "never, always or {after: 90d}"),
    ({"holdout": 0.9}, "holdout", "less than or equal to 0.5"),
    ({"goal": {"score": {"over": 3}}}, "goal.score.over", "unknown key"),
    ({"exit_when": [{"reason": "gone", "if": {"field": "nope", "op": "eq", "value": 1}}]}, "exit_when[0].if.field",
     "unknown field"),
    ({"exit_when": [{"reason": "goal", "if": {"tag": "x"}}]}, "exit_when[0].reason", "name this reason otherwise"),
])
def test_top_level_mistakes_name_their_path(change: dict[str, Any], path: str, why: str) -> None:
    found = problems(document(**change))
    assert path in found, found
    assert why in found[path]


def _steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return document(steps=list(steps))


SEND = {"id": "hello", "send": {"channel": "email", "template": "welcome"}}


@pytest.mark.parametrize(("steps", "path", "why"), [
    ([{"id": "Bad Id", "wait": "1d"}], "steps[0].id", "lowercase"),
    ([{"id": "a", "wait": "1d", "send": {}}], "steps[0]", "exactly one of"),
    ([{"id": "a", "wait": "3 days"}], "steps[0].wait.for", "like 30m"),
    ([{"id": "a", "wait": {"for_event": "email.clicked"}}], "steps[0].wait.timeout", "needs a timeout"),
    ([{"id": "a", "wait": {"for": "1d", "until": "09:00"}}], "steps[0].wait", "give one of"),
    ([{"id": "a", "wait": {"until": "9h"}}], "steps[0].wait.until", "HH:MM"),
    ([SEND, {"id": "b", "wait": "1d", "goto": "nowhere"}], "steps[1].goto", "no step 'nowhere'"),
    ([SEND, {"id": "b", "wait": "1d", "goto": "hello"}], "steps[1].goto", "loop (hello → b → hello)"),
    ([SEND, {"id": "b", "exit": True}, {"id": "c", "wait": "1d"}], "steps[2]", "never reached"),
    ([SEND, {"id": "hello", "wait": "1d"}], "steps[1].id", "used twice"),
    ([{"id": "w", "wait": "1d"}, {"id": "b", "branch": [{"if": {"step": "w", "did": "clicked"}, "goto": "c"}]},
      {"id": "c", "exit": True}], "steps[1].branch[0].if.step", "not a send step"),
    ([{"id": "b", "branch": [{"if": {"step": "hello", "did": "clicked"}, "goto": "hello"}, {"else": "c"}]}, SEND,
      {"id": "c", "exit": True}], "steps[0].branch[0].if.step", "does not come before"),
    ([SEND, {"id": "b", "branch": [{"if": {"step": "hello", "did": "liked"}, "goto": "c"}]}, {"id": "c", "exit": True}],
     "steps[1].branch[0].if.did", "did is one of"),
    ([SEND, {"id": "b", "branch": [{"else": "c"}, {"if": {"score": {"gte": 1}}, "goto": "c"}]},
      {"id": "c", "exit": True}], "steps[1].branch[0]", "else comes last"),
    ([SEND, {"id": "b", "branch": [{"if": {"score": {"gte": "many"}}, "goto": "c"}]}, {"id": "c", "exit": True}],
     "steps[1].branch[0].if.score.gte", "valid number"),
    ([{"id": "a", "split": [{"weight": 1, "goto": "a"}]}], "steps[0].split", "at least 2"),
    ([{"id": "a", "update": {"set": {"email": "x@example.org"}}}], "steps[0].update.set", "cannot set 'email'"),
    ([{"id": "a", "send": {"channel": "fax", "template": "welcome"}}], "steps[0].send.channel", "'email'"),
    ([{"id": "a", "send": {"channel": ["email", "sms"], "template": {"email": "welcome"}}}], "steps[0].send.template",
     "no template for sms"),
    ([{"id": "a", "send": {"channel": "email", "template": "welcome", "holdout": 0.2}}], "steps[0].send.holdout",
     "unknown key"),
    ([{"id": "a", "send": {"channel": "email", "template": "welcome", "schedule": "2026-01-01T09:00:00+01:00"}}],
     "steps[0].send.schedule", "no fixed time"),
])
def test_bad_steps_are_refused_naming_the_bad_node(steps: list[dict[str, Any]], path: str, why: str) -> None:
    found = problems(_steps(*steps))
    assert path in found, found
    assert why in found[path], found[path]


def test_a_bad_shared_policy_is_named_at_the_top_not_in_each_step() -> None:
    found = problems(document(quiet_hours={"sms": {"default": "late"}}))
    assert list(found) == ["quiet_hours"], found


def test_an_unknown_template_or_segment_is_named(session: Session) -> None:
    sync_library(session)
    spec = check_document(document(
        trigger={"segment": "no-such-segment"},
        steps=[{"id": "a", "send": {"channel": "email", "template": "no-such-template"}},
               {"id": "b", "branch": [{"if": {"segment": "ghosts"}, "goto": "c"}]}, {"id": "c", "exit": True}]))
    with pytest.raises(JourneyDefinitionError) as caught:
        check_references(session, spec)
    found = dict(caught.value.problems)
    assert "no segment named 'no-such-segment'" in found["trigger.segment"]
    assert "no template named 'no-such-template'" in found["steps[0].send.template"]
    assert "no segment named 'ghosts'" in found["steps[1].branch[0].if.segment"]


def test_journey_create_refuses_a_bad_file_with_exit_code_2(cli_env: Path) -> None:
    bad = cli_env / "bad.yaml"
    bad.write_text(yaml.safe_dump(_steps(SEND, {"id": "later", "wait": "1d", "goto": "hello"})))
    result = run_cli("journey", "create", str(bad))
    assert result.exit_code == 2
    assert "steps[1].goto" in result.output and "loop" in result.output
    broken = cli_env / "broken.yaml"
    broken.write_text("name: x\nsteps: [unclosed\n")
    result = run_cli("journey", "create", str(broken))
    assert result.exit_code == 2 and "not valid YAML" in result.output
