"""Exchange rates into the report currency: the reference data reports read (the one table reports/ writes)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from core.models import ExchangeRate

CURRENCY = re.compile(r"^[A-Z]{3}$")


def set_rate(session: Session, currency: str, rate: str | Decimal, valid_from: datetime,
             *, report_currency: str) -> ExchangeRate:
    """Record that 1 `currency` is worth `rate` of the report currency from `valid_from` (replaces that day's)."""
    code = currency.strip().upper()
    if not CURRENCY.match(code):
        raise ValueError(f"currency must be a 3-letter ISO code, not {currency!r}")
    if code == report_currency.upper():
        raise ValueError(f"{code} is the report currency: its rate is always 1")
    try:
        value = Decimal(str(rate))
    except InvalidOperation as exc:
        raise ValueError(f"rate must be a number, not {rate!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"rate must be a positive number, not {rate!r}")
    start = clock.utc(valid_from)
    row = session.scalar(select(ExchangeRate).where(ExchangeRate.currency == code, ExchangeRate.valid_from == start))
    if row is None:
        row = ExchangeRate(currency=code, valid_from=start, rate=value)
        session.add(row)
    row.rate = value
    session.flush()
    return row


def list_rates(session: Session) -> list[dict[str, Any]]:
    """Every rate, by currency then date."""
    query = select(ExchangeRate.currency, ExchangeRate.rate, ExchangeRate.valid_from).order_by(
        ExchangeRate.currency, ExchangeRate.valid_from)
    return [{"currency": currency, "rate": rate, "valid_from": valid_from}
            for currency, rate, valid_from in session.execute(query)]
