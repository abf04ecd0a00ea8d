"""Money in the report currency: exchange-rate periods, and SQL sums converted exactly with Decimal.

Amounts are summed in SQL per currency and per exchange-rate period (the rate in force when the money was
spent or earned), then each sum is multiplied by its rate in Decimal: no float ever touches a cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Float, case, cast, func, literal, null, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from core import clock
from core.models import ExchangeRate
from reports.sql import exact_sum, to_decimal

CENT = Decimal("0.01")


def cents(amount: Decimal) -> Decimal:
    """An amount rounded to the cent (half up, as invoices do)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class MissingExchangeRate(LookupError):
    """Money in a currency with no exchange rate into the report currency at that date."""


@dataclass(frozen=True)
class Converter:
    """Rates into the report currency: currency -> [(valid_from, rate)], oldest first."""

    report_currency: str
    rates: dict[str, list[tuple[datetime, Decimal]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, report_currency: str) -> Converter:
        """Every stored rate (a small table)."""
        rates: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
        query = select(ExchangeRate.currency, ExchangeRate.valid_from, ExchangeRate.rate).order_by(
            ExchangeRate.currency, ExchangeRate.valid_from)
        for currency, valid_from, rate in session.execute(query):
            rates[currency.upper()].append((clock.utc(valid_from), Decimal(rate)))
        return cls(report_currency.upper(), dict(rates))

    def rate(self, currency: str, period_start: datetime | None, *, at: datetime | None = None) -> Decimal:
        """The rate of the period starting at `period_start` (None: before any rate, an error unless same currency)."""
        currency = currency.upper()
        if currency == self.report_currency:
            return Decimal(1)
        if period_start is not None:
            for valid_from, rate in self.rates.get(currency, []):
                if valid_from == clock.utc(period_start):
                    return rate
        when = f" on {at:%Y-%m-%d}" if at else ""
        raise MissingExchangeRate(
            f"no exchange rate {currency}→{self.report_currency}{when}: add one with "
            f"`relance report rate set {currency} RATE --from YYYY-MM-DD` (units of {self.report_currency} per "
            f"1 {currency})")

    def latest(self, currency: str, at: datetime | None = None) -> Decimal:
        """The rate in force at `at` (default now)."""
        at = clock.utc(at or clock.now())
        known = [period for period in self.rates.get(currency.upper(), []) if period[0] <= at]
        if currency.upper() == self.report_currency:
            return Decimal(1)
        if not known:
            return self.rate(currency, None, at=at)
        return known[-1][1]

    def convert(self, amount: Decimal, currency: str, at: datetime | None = None) -> Decimal:
        """One amount into the report currency at the rate in force at `at`."""
        return amount * self.latest(currency, at)


def period_start(converter: Converter, currency: Any, at: Any) -> Any:
    """SQL: when the rate in force at `at` started (NULL for the report currency, which needs none).

    A correlated lookup on the (currency, valid_from) unique index, evaluated only for foreign-currency rows: no
    join, so sums over millions of rows in the report currency stay one plain scan.
    """
    started = (select(func.max(ExchangeRate.valid_from)).where(ExchangeRate.currency == func.upper(currency),
                                                               ExchangeRate.valid_from <= at).scalar_subquery())
    return case((func.upper(currency) == converter.report_currency, null()), else_=started)


def rate_in_force(converter: Converter, currency: Any, at: Any) -> Any:
    """SQL: the rate in force at `at` as a float (1 for the report currency) — for variances, never for money."""
    rate = (select(cast(ExchangeRate.rate, Float)).where(ExchangeRate.currency == func.upper(currency),
                                                         ExchangeRate.valid_from <= at)
            .order_by(ExchangeRate.valid_from.desc()).limit(1).scalar_subquery())
    return case((func.upper(currency) == converter.report_currency, literal(1.0)), else_=rate)


def converted_sums(
    session: Session, converter: Converter, *, keys: Sequence[Any], amount: Any, currency: Any, at: Any,
    select_from: Any, where: Sequence[Any] = (), scale: int = 2, extra: Sequence[Any] = (),
) -> dict[tuple[Hashable, ...], Decimal]:
    """SUM(amount) per `keys`, converted to the report currency: one GROUP BY (keys, currency, rate period).

    `extra` are more grouped expressions whose values divide nothing but are returned as the last key items
    (e.g. the number of touches a linear model shares a conversion between).
    """
    started = period_start(converter, currency, at)
    query: Select[Any] = (
        select(*keys, *extra, func.upper(currency), started, func.min(at), exact_sum(session, amount, scale))
        .select_from(select_from).where(*where)
        .group_by(*keys, *extra, func.upper(currency), started)
    )
    totals: dict[tuple[Hashable, ...], Decimal] = defaultdict(Decimal)
    width = len(keys) + len(extra)
    for row in session.execute(query):
        key = tuple(row[:width])
        row_currency, period, first_at, total = row[width:]
        value = to_decimal(session, total, scale)
        if value:
            totals[key] += value * converter.rate(str(row_currency), aware(period), at=aware(first_at))
    return dict(totals)


def aware(value: Any) -> datetime | None:
    """A datetime from the database (naive UTC or ISO text on SQLite) as an aware UTC one."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return clock.utc(value)
