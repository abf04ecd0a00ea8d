"""Letters: address block to NF Z10-011 (window envelope) and HTML → print-ready PDF with WeasyPrint."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from templates.errors import RenderError

MAX_LINE = 38
ABBREVIATIONS = (  # AFNOR / La Poste abbreviations, applied only when a line is too long
    ("APPARTEMENT", "APT"), ("BATIMENT", "BAT"), ("RESIDENCE", "RES"), ("ESCALIER", "ESC"),
    ("BOULEVARD", "BD"), ("AVENUE", "AV"), ("FAUBOURG", "FG"), ("IMPASSE", "IMP"), ("CHEMIN", "CHE"),
    ("ALLEE", "ALL"), ("PLACE", "PL"), ("ROUTE", "RTE"), ("SQUARE", "SQ"), ("QUARTIER", "QUA"),
    ("SAINTE", "STE"), ("SAINT", "ST"), ("GENERAL", "GAL"), ("MARECHAL", "MAL"), ("PRESIDENT", "PDT"),
    ("DOCTEUR", "DR"), ("PROFESSEUR", "PR"),
)
AFTER_STREET = re.compile(r"^(BP|CS|TSA|CEDEX|LIEU[ -]?DIT|LD)\b", re.I)
COUNTRY_NAMES = {
    "BE": "BELGIQUE", "CH": "SUISSE", "DE": "ALLEMAGNE", "GB": "ROYAUME-UNI", "US": "ETATS-UNIS",
    "ES": "ESPAGNE", "IT": "ITALIE", "LU": "LUXEMBOURG", "MC": "MONACO", "NL": "PAYS-BAS", "PT": "PORTUGAL",
    "CA": "CANADA", "IE": "IRLANDE", "AT": "AUTRICHE", "SE": "SUEDE", "DK": "DANEMARK", "PL": "POLOGNE",
}
DOMESTIC = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})


class AddressError(RenderError):
    """A postal address that cannot be formatted to the norm (missing part or line too long)."""


def plain_upper(text: str) -> str:
    """Upper case, no accents, no punctuation (NF Z10-011 from the street line on)."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_text = ascii_text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    cleaned = re.sub(r"[^\w\s]|_", " ", ascii_text.upper())
    return " ".join(cleaned.split())


def _fit(line: str, label: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    shortened = line
    for word, short in ABBREVIATIONS:
        shortened = re.sub(rf"\b{word}\b", short, shortened)
        if len(shortened) <= MAX_LINE:
            return shortened
    raise AddressError(f"address {label} line is {len(line)} characters (max {MAX_LINE}): {line!r}")


def _recipient(values: Mapping[str, Any]) -> str:
    first = " ".join(str(values.get("first_name") or "").split())
    last = " ".join(str(values.get("last_name") or "").split())
    name = " ".join(part for part in (first, last.upper()) if part)
    if not name:
        company = " ".join(str(values.get("company") or "").split())
        name = company.upper()
    if not name:
        raise AddressError("address has no recipient name (first/last name or company)")
    if len(name) > MAX_LINE and first:
        name = f"{first[0]} {last.upper()}".strip()  # initial of the first name, as the norm allows
    return _fit(name, "recipient")


def _locality(values: Mapping[str, Any], country: str) -> str:
    postcode = plain_upper(str(values.get("postcode") or "")).replace(" ", "") if country in DOMESTIC else \
        plain_upper(str(values.get("postcode") or ""))
    city = plain_upper(str(values.get("city") or ""))
    if not city:
        raise AddressError("address has no city")
    if country in DOMESTIC and not re.fullmatch(r"\d{5}", postcode):
        raise AddressError(f"French postcode must be 5 digits, got {values.get('postcode')!r}")
    return _fit(f"{postcode} {city}".strip(), "postcode/city")


def format_address(values: Mapping[str, Any]) -> list[str]:
    """Address block lines for a contact mapping (first/last name, address_line1..3, postcode, city, country).

    address_line1 is the number and street; address_line2/3 are complements placed above the street
    (apartment, building) unless they are a BP / CS / lieu-dit, which go below it.
    """
    country = str(values.get("country") or "FR").upper()
    street = plain_upper(str(values.get("address_line1") or ""))
    if not street:
        raise AddressError("address has no street line (address_line1)")
    before: list[str] = []
    after: list[str] = []
    for key in ("address_line2", "address_line3"):
        complement = " ".join(str(values.get(key) or "").split())
        if complement:
            target = after if AFTER_STREET.match(plain_upper(complement)) else before
            target.append(_fit(plain_upper(complement), key))
    lines = [_recipient(values), *before, _fit(street, "street"), *after, _locality(values, country)]
    if country not in DOMESTIC:
        lines.append(_fit(plain_upper(COUNTRY_NAMES.get(country, country)), "country"))
    limit = 6 if country in DOMESTIC else 7
    if len(lines) > limit:
        raise AddressError(f"address has {len(lines)} lines (max {limit})")
    return lines


LAYOUT = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 0; }}
html, body {{ margin: 0; padding: 0; }}
body {{ font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; font-size: 10.5pt; color: #1f2937; }}
.sender {{ position: absolute; left: 20mm; top: 15mm; width: 80mm; font-size: 9pt; line-height: 1.35; }}
.sender strong {{ font-size: 12pt; color: #0f766e; }}
/* DL / C5 window envelope, window on the right (French norm): 100 x 45 mm, 110 mm from the left edge. */
.address {{ position: absolute; left: 112mm; top: 50mm; width: 90mm; height: 40mm; font-size: 10.5pt;
  line-height: 1.3; white-space: pre; overflow: hidden; }}
.date {{ position: absolute; left: 112mm; top: 95mm; font-size: 9.5pt; }}
.content {{ margin: 110mm 20mm 20mm 20mm; line-height: 1.5; }}
.content h1 {{ font-size: 14pt; color: #0f766e; margin: 0 0 6mm 0; }}
.footer {{ position: fixed; bottom: 8mm; left: 20mm; right: 20mm; font-size: 7.5pt; color: #6b7280;
  text-align: center; }}
</style></head><body>
<div class="sender"><strong>{brand}</strong><br>{sender}</div>
<div class="address">{address}</div>
<div class="date">{date}</div>
<div class="content">{body}</div>
<div class="footer">{sender_line}</div>
</body></html>"""


def letter_html(body: str, *, address_lines: Sequence[str], brand: str, postal_address: str, date: str,
                lang: str) -> str:
    """The full page: sender top left, address block in the window position, date, body, footer."""
    sender = "<br>".join(str(escape(part.strip())) for part in postal_address.split(",") if part.strip())
    return LAYOUT.format(
        lang=lang, brand=escape(brand), sender=sender, address=escape("\n".join(address_lines)),
        date=escape(date), body=body, sender_line=escape(postal_address),
    )


@dataclass(frozen=True)
class RenderedPDF:
    """A rendered letter: its bytes and page count."""

    content: bytes
    pages: int


def html_to_pdf(html: str) -> RenderedPDF:
    """Render an HTML letter to PDF (no network fetches: letters embed everything)."""
    from weasyprint import HTML  # imported lazily: WeasyPrint loads fonts and takes ~1 s to import

    document = HTML(string=html, url_fetcher=_no_fetch).render()
    return RenderedPDF(document.write_pdf(), len(document.pages))


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        result: dict[str, Any] = default_url_fetcher(url)
        return result
    raise ValueError(f"letters do not fetch external resources: {url}")
