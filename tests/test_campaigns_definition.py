"""Campaign documents: defaults, shorthands, path-named errors; prices by specificity; send times per group."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from campaigns.definition import CampaignDefinitionError, load_campaign, parse_campaign
from campaigns.pricing import PriceList
from campaigns.timing import Group, send_time, zone
from core.settings import DEFAULT_UNIT_PRICES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "campaigns"


def test_the_minimal_document_gets_sensible_defaults() -> None:
    campaign = parse_campaign({"name": "spring", "segment": "leads", "channel": "email", "template": "welcome"})
    assert campaign.channels == ["email"] and [arm.name for arm in campaign.arms()] == ["A"]
    assert campaign.holdout == 0 and campaign.currency == "EUR" and campaign.policies.max_error_rate == 0.2
    assert campaign.utm_for("email") == {"utm_source": "relance", "utm_medium": "email", "utm_campaign": "spring"}
    assert campaign.quiet_hours_for("sms", "FR") is not None and campaign.quiet_hours_for("email", "FR") is None


def test_every_example_campaign_parses() -> None:
    names = [load_campaign(path).name for path in sorted(EXAMPLES.glob("*.yaml"))]
    assert names == ["demo-multichannel", "nps-survey-2026-reminder", "nps-survey-2026", "spring-offer",
                     "winter-multichannel"]
    winter = load_campaign(EXAMPLES / "winter-multichannel.yaml")
    assert winter.channels == ["email", "sms", "mail"] and winter.test is not None and winter.test.metric == "clicks"
    assert winter.utm["utm_campaign"] == "winter-2026"  # `campaign:` is read as utm_campaign


@pytest.mark.parametrize(("document", "expected"), [
    ({"channel": "email"}, "template: give a template (or variants)"),
    ({"channel": ["email", "email"], "template": "w"}, "channel: give one channel or a fallback list"),
    ({"channel": ["email", "sms"], "template": {"email": "w"}}, "template: no template for sms"),
    ({"channel": "email", "variants": [{"name": "A", "template": "w"}], "test": {"share": 0.2}},
     "test: a test phase needs at least two variants"),
    ({"channel": "email", "template": "w", "holdout": 1.5}, "holdout: Input should be less than 1 (got 1.5)"),
    ({"channel": "email", "template": "w", "quiet_hours": {"sms": {"FRANCE": "21:00-08:00"}}},
     "quiet hours are keyed by 'default' or an ISO country code"),
    ({"channel": "email", "template": "w", "costs": {"per_sms": 1}}, "costs.per_sms: use fixed, per_message"),
    ({"channel": "email", "template": "w", "schedule": "2026-12-01T09:00:00"}, "schedule.at: Value error, give a "
                                                                              "timezone offset"),
    ({"channel": "email", "template": "w", "colour": "red"}, "colour: Extra inputs are not permitted"),
])
def test_problems_are_named_by_their_path(document: dict[str, object], expected: str) -> None:
    with pytest.raises(CampaignDefinitionError) as raised:
        parse_campaign({"name": "x", "segment": "s", **document})
    assert expected in str(raised.value)


def test_the_most_specific_price_wins_and_the_campaigns_own_prices_come_first() -> None:
    campaign = parse_campaign({"name": "x", "segment": "s", "channel": ["email", "sms"],
                               "template": {"email": "w", "sms": "t"}, "costs": {"sms": {"per_part": "0.05"}}})
    prices = PriceList.for_campaign(campaign, DEFAULT_UNIT_PRICES)
    assert prices.price("email") == Decimal("0.0009")
    assert prices.price("sms", parts=3, country="FR") == Decimal("0.1500")  # the campaign's own SMS price
    assert prices.price("sms", parts=2, country="US") == Decimal("0.0158")  # a country rule is more specific
    assert prices.price("mail", parts=2, postage_class="lettre-prioritaire") == Decimal("2.3400")
    assert PriceList([]).price("mail") == Decimal(0)


def test_send_times_per_timezone_follow_daylight_saving() -> None:
    campaign = parse_campaign({"name": "x", "segment": "s", "channel": "email", "template": "w",
                               "schedule": {"local_time": "09:00"}})
    winter = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 10, 6, 0, tzinfo=UTC)
    paris = Group("email", "Europe/Paris", "FR")
    assert send_time(campaign, winter, paris, "UTC") == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert send_time(campaign, summer, paris, "UTC") == datetime(2026, 7, 10, 7, 0, tzinfo=UTC)
    unknown = Group("email", "Mars/Olympus", None)  # falls back to the installation's timezone
    assert send_time(campaign, winter, unknown, "Europe/Paris") == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert str(zone(None, "Nowhere/Else")) == "UTC"
