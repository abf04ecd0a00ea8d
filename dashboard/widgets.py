"""What every page shares: number formats, tables with a CSV download, the period and model pickers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from core import clock
from reports.attribution import MODELS
from reports.formatting import money, number, percent  # noqa: F401 - the pages format through widgets


def frame(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A DataFrame of plain rows; Decimals become floats (display only — figures come from reports/)."""
    data = pd.DataFrame(list(rows), columns=list(columns) if columns else None)
    for name in data.columns:
        if data[name].map(lambda value: isinstance(value, Decimal)).any():
            data[name] = data[name].map(lambda value: float(value) if isinstance(value, Decimal) else value)
    return data


def table(data: pd.DataFrame, name: str, *, key: str | None = None, **options: Any) -> None:
    """A table and the button that downloads exactly it as CSV."""
    st.dataframe(data, width="stretch", hide_index=True, **options)
    st.download_button(f"Download {name} (CSV)", data.to_csv(index=False).encode("utf-8"),
                       file_name=f"{name.replace(' ', '-')}.csv", mime="text/csv", key=key or f"csv-{name}")


def period_picker(key: str, default_days: int = 30) -> tuple[date, date]:
    """A date range (both days included), the last `default_days` days by default."""
    today = clock.now().date()
    chosen = st.date_input("Period", value=(today - timedelta(days=default_days - 1), today), key=key,
                           max_value=today + timedelta(days=1), format="YYYY-MM-DD")
    if isinstance(chosen, tuple | list) and len(chosen) == 2:
        return chosen[0], chosen[1]
    single = chosen[0] if isinstance(chosen, tuple | list) and chosen else chosen
    return (single, single) if isinstance(single, date) else (today - timedelta(days=default_days - 1), today)


def model_picker(key: str, default: str) -> str:
    """The attribution model (defaults to the configured one)."""
    return str(st.selectbox("Attribution model", MODELS, index=MODELS.index(default) if default in MODELS else 0,
                            key=key, help="How revenue is credited to the messages a buyer received before buying."))


def report_error(error: Exception) -> None:
    """A clear message for errors a user can fix (a missing exchange rate, an unknown name)."""
    st.error(str(error))
