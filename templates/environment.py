"""The sandboxed Jinja environments: autoescaped HTML, plain text, and strict variants for checks."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


@lru_cache(maxsize=64)
def long_date(value: date, locale: str) -> str:
    """`12 mars 2026` / `March 12, 2026`."""
    language = locale.split("-")[0]
    month = MONTHS.get(language, MONTHS["en"])[value.month - 1]
    return f"{value.day} {month} {value.year}" if language == "fr" else f"{month} {value.day}, {value.year}"


def make_environment(*, html: bool, strict: bool = False, trim: bool | None = None) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment; None renders as empty; missing variables are errors only when strict.

    Plain-text environments trim block lines (SMS), except the email text alternative, whose layout
    comes from the HTML conversion.
    """
    trim = (not html) if trim is None else trim
    env = ImmutableSandboxedEnvironment(
        autoescape=html, undefined=StrictUndefined if strict else Undefined, finalize=_none_as_empty,
        trim_blocks=trim, lstrip_blocks=trim, cache_size=0,
    )
    env.filters["long_date"] = long_date
    return env


HTML_ENV = make_environment(html=True)
TEXT_ENV = make_environment(html=False)
EMAIL_TEXT_ENV = make_environment(html=False, trim=False)
STRICT_HTML_ENV = make_environment(html=True, strict=True)
STRICT_TEXT_ENV = make_environment(html=False, strict=True)
