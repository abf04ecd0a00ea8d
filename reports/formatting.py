"""Report figures as people read them — money to the cent, percentages, counts — for the CLI, the PDF and the
dashboard alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reports.money import cents

NONE = "—"


def money(value: Any, currency: str = "") -> str:
    """1234.5 → '1,234.50 EUR' (rounded half up to the cent, as invoices do; '—' for None)."""
    if value is None:
        return NONE
    return f"{cents(Decimal(value)):,.2f} {currency}".strip()


def percent(value: Any, digits: int = 1) -> str:
    """0.1234 → '12.3 %' ('—' for None)."""
    return NONE if value is None else f"{float(value) * 100:.{digits}f} %"


def number(value: Any) -> str:
    """1234 → '1,234'; fractional counts (shared attribution credit) keep two decimals; '—' for None."""
    if value is None:
        return NONE
    numeric = float(value)
    return f"{numeric:,.0f}" if numeric.is_integer() else f"{numeric:,.2f}"
