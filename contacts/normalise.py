"""Normalising raw contact values: email, phone (E.164), country (ISO alpha-2), dates, yes/no, names."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from functools import lru_cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email


class InvalidValue(ValueError):
    """A value that cannot be normalised; the message says why, in words a marketer understands."""


# A conservative subset of what email-validator accepts: a dot-atom local part of ASCII characters and accented
# Latin letters (Latin-1 and Latin Extended-A letters: each is a precomposed letter, unchanged by the NFC
# normalisation email-validator applies, and of a category it accepts), LDH domain labels, an alphabetic TLD.
# Anything that does not match goes through email-validator itself, so the fast path never accepts an address
# the slow path would reject, nor writes it differently (test_the_fast_email_check_agrees_with_email_validator).
_LOCAL_CHARACTER = "a-z0-9!#$%&'*+/=?^_`{|}~\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017f-"
_SIMPLE_EMAIL = re.compile(
    rf"[{_LOCAL_CHARACTER}]+(?:\.[{_LOCAL_CHARACTER}]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def normalise_email(raw: str) -> str:
    """The address trimmed and lower-cased, syntax-checked (no DNS); raises InvalidValue.

    The local part is lower-cased too: every major mailbox provider treats it case-insensitively, and
    the address is the dedup key — `Jean@x.fr` and `jean@x.fr` must be one contact.
    """
    text = raw.strip().strip("<>").strip().lower()
    if not text:
        raise InvalidValue("empty email")
    local, _, domain = text.rpartition("@")
    if (
        _SIMPLE_EMAIL.fullmatch(text)
        and (len(text) <= 127 or len(text.encode()) <= 254)  # the limit is in UTF-8 bytes (2 per accented letter)
        and len(local) <= 64
        and domain.rsplit(".", 1)[-1] not in _SPECIAL_TLDS
        and ".." not in domain
    ):
        return text
    return _validated_email(text)


@lru_cache(maxsize=4096)
def _validated_email(text: str) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidValue(f"invalid email {text!r}: {exc}") from exc


_PHONE_SEPARATORS = re.compile(r"[\s.\-/()]")


def normalise_phone(raw: str, region: str = "FR") -> str:
    """The number in E.164 (`06 12 34 56 78` with region FR → `+33612345678`); raises InvalidValue."""
    text = raw.strip()
    if not text:
        raise InvalidValue("empty phone")
    compact = _PHONE_SEPARATORS.sub("", text)
    fast = _national_fast_path(compact, region.upper())
    if fast is not None:
        return fast
    return _parsed_phone(compact, region.upper())


def _national_fast_path(compact: str, region: str) -> str | None:
    """National-format digits (`0612345678`) validated by phonenumbers' metadata without a full parse."""
    prefix, code = _region_prefix(region)
    if not (prefix and compact.isdigit() and compact.startswith(prefix)):
        return None
    national = compact[len(prefix):]
    if not national or national.startswith("0"):
        return None
    if _valid_national(national, region):
        return f"+{code}{national}"
    return None  # let the full parser decide (and explain)


# Every number type (any match makes a number valid), the common ones first.
_TYPE_DESCS = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
               "uan", "voicemail")
_Check = tuple[frozenset[int], re.Pattern[str]]


@lru_cache(maxsize=512)
def _region_checks(region: str) -> tuple[_Check | None, tuple[_Check, ...]]:
    """The region's general pattern and one per number type, compiled once (what phonenumbers looks up per call)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)

    def check(desc: object) -> _Check | None:
        pattern = getattr(desc, "national_number_pattern", None)
        if not pattern:
            return None
        return frozenset(getattr(desc, "possible_length", None) or ()), re.compile(pattern)

    general = check(metadata.general_desc) if metadata else None
    types = tuple(found for name in _TYPE_DESCS if (found := check(getattr(metadata, name, None))) is not None)
    return general, types


def _valid_national(national: str, region: str) -> bool:
    """phonenumbers.is_valid_number_for_region for a national significant number of `region`: it matches the
    general description and the description of some number type (lengths first, then the pattern)."""
    general, types = _region_checks(region)
    size = len(national)

    def matches(found: _Check) -> bool:
        lengths, pattern = found
        return (not lengths or size in lengths) and pattern.fullmatch(national) is not None

    return general is not None and matches(general) and any(matches(found) for found in types)


@lru_cache(maxsize=512)
def _region_prefix(region: str) -> tuple[str, int]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or not metadata.national_prefix:
        return "", 0
    # Regions whose national prefix parsing is more than the bare prefix (carrier codes...) keep the full parser.
    if metadata.national_prefix_for_parsing not in (None, metadata.national_prefix):
        return "", 0
    if metadata.national_prefix_transform_rule:
        return "", 0
    return metadata.national_prefix, int(metadata.country_code or 0)


@lru_cache(maxsize=65536)
def _parsed_phone(compact: str, region: str) -> str:
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    try:
        number = phonenumbers.parse(compact, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue(f"invalid phone {compact!r}: {exc._msg}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue(f"invalid phone {compact!r} (not a valid number for region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def fold(text: str) -> str:
    """Lower-case, accents removed, punctuation collapsed to single spaces (for matching names)."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


_COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "angleterre": "GB", "grande bretagne": "GB",
    "scotland": "GB", "ecosse": "GB", "wales": "GB", "usa": "US", "us": "US", "united states of america": "US",
    "etats unis d amerique": "US", "america": "US", "holland": "NL", "hollande": "NL", "suisse": "CH",
    "swiss": "CH", "fra": "FR", "bel": "BE", "che": "CH", "deu": "DE", "gbr": "GB", "esp": "ES", "ita": "IT",
    "lux": "LU", "nld": "NL", "prt": "PT", "can": "CA", "monaco": "MC", "la reunion": "RE", "reunion": "RE",
}


@lru_cache(maxsize=1)
def _locale_data() -> dict[str, dict[str, str]]:
    """Country names per language from phonenumbers' geodata (0.3 s to import: loaded on first use only)."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    return LOCALE_DATA


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for region, by_language in _locale_data().items():
        for language in ("aa", "fr", "de", "es", "it", "nl", "pt"):
            name = _resolve_locale_name(by_language, language)
            if name:
                names.setdefault(fold(name), region)
    names.update(_COUNTRY_ALIASES)
    return names


def _resolve_locale_name(by_language: dict[str, str], language: str) -> str | None:
    name = by_language.get(language)
    while name and name.startswith("*"):
        name = by_language.get(name[1:])
    return name


@lru_cache(maxsize=2048)
def normalise_country(raw: str) -> str:
    """ISO 3166-1 alpha-2 from a code or a name in English/French (and a few more); raises InvalidValue."""
    text = raw.strip()
    if len(text) == 2 and text.isalpha():
        code = text.upper()
        code = "GB" if code == "UK" else code
        if code in _locale_data():
            return code
    found = _country_names().get(fold(text))
    if found is None:
        raise InvalidValue(f"unknown country {raw!r}")
    return found


_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


@lru_cache(maxsize=8192)  # opt-in and signup dates repeat from row to row
def parse_datetime(raw: str) -> datetime:
    """An aware UTC datetime from ISO 8601 or dd/mm/yyyy [hh:mm[:ss]] (naive values are UTC)."""
    text = raw.strip()
    match = _DMY.fullmatch(text)
    try:
        if match:
            day, month, year, hour, minute, second = (int(part) if part else 0 for part in match.groups())
            value = datetime(year, month, day, hour, minute, second)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidValue(f"invalid date {raw!r} (expected YYYY-MM-DD or DD/MM/YYYY)") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_date(raw: str) -> date:
    """A calendar date from ISO 8601 or dd/mm/yyyy; raises InvalidValue."""
    return parse_datetime(raw).date()


_TRUE = frozenset({"yes", "y", "oui", "o", "1", "true", "vrai", "x", "granted", "opt-in", "optin"})
_FALSE = frozenset({"no", "n", "non", "0", "false", "faux", "withdrawn", "opt-out", "optout"})


def parse_bool(raw: str) -> bool:
    """yes/no/oui/non/1/0/true/false (any case); raises InvalidValue."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"expected yes/no (oui/non, 1/0, true/false), got {raw!r}")


def clean_text(raw: str | None) -> str | None:
    """Whitespace trimmed and collapsed; empty becomes None."""
    if raw is None:
        return None
    text = " ".join(str(raw).split())
    return text or None


_LEGAL_FORMS = frozenset({
    "sas", "sa", "sarl", "eurl", "sasu", "sci", "snc", "ltd", "limited", "inc", "llc", "gmbh", "plc", "bv", "nv",
    "ag", "corp", "srl",
})


@lru_cache(maxsize=65536)
def account_key(name: str) -> str:
    """The dedup key of a company name: folded, legal forms dropped (`ACME S.A.S.` == `Acme`)."""
    words = fold(name.replace(".", "")).split()
    kept = [word for word in words if word not in _LEGAL_FORMS]
    return " ".join(kept or words)[:255]
