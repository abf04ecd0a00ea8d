"""What a message costs: price rules by channel, provider, country and postage class, most specific first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from campaigns.definition import CampaignDefinition, PriceRule

CENT_PRECISION = Decimal("0.0001")


class PriceList:
    """Price rules: the campaign's own first, then the installation's (settings `unit_prices`).

    A message's price is the most specific matching rule (channel, provider, country, postage class);
    among equally specific rules the campaign's win.
    """

    def __init__(self, rules: Sequence[PriceRule]):
        self.rules = list(rules)
        self._cache: dict[tuple[str, str | None, str | None, str | None], PriceRule | None] = {}

    @classmethod
    def for_campaign(cls, definition: CampaignDefinition, installation: Iterable[dict[str, Any]]) -> PriceList:
        return cls([*definition.price_rules(), *(PriceRule.model_validate(rule) for rule in installation)])

    def rule(self, channel: str, *, provider: str | None = None, country: str | None = None,
             postage_class: str | None = None) -> PriceRule | None:
        key = (channel, provider, country, postage_class)
        if key not in self._cache:
            wanted = {"channel": channel, "provider": provider, "country": country, "postage_class": postage_class}
            matching = [rule for rule in self.rules
                        if all(getattr(rule, name) in (None, value) for name, value in wanted.items())]
            # max() keeps the first of equals: the campaign's rules come first.
            self._cache[key] = max(matching, key=lambda rule: rule.specificity, default=None)
        return self._cache[key]

    def price(self, channel: str, *, parts: int = 1, provider: str | None = None, country: str | None = None,
              postage_class: str | None = None) -> Decimal:
        """The cost of one message of `parts` SMS segments or letter pages (0 when no rule matches)."""
        rule = self.rule(channel, provider=provider, country=country, postage_class=postage_class)
        if rule is None:
            return Decimal(0)
        total = rule.per_message + rule.per_part * max(parts, 1)
        return total.quantize(CENT_PRECISION, rounding=ROUND_HALF_UP)
