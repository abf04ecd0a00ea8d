"""Normalisation of raw contact values (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from contacts.imports.mapping import MappingError, detect_field, load_mapping
from contacts.normalise import (
    InvalidValue,
    account_key,
    normalise_country,
    normalise_email,
    normalise_phone,
    parse_bool,
    parse_date,
    parse_datetime,
)


@pytest.mark.parametrize(("raw", "expected"), [
    (" Jean.Dupont@Example.FR ", "jean.dupont@example.fr"),
    ("<marie@exemple.fr>", "marie@exemple.fr"),
    ("léa.martin@exemple.fr", "léa.martin@exemple.fr"),
    ("o'brien+news@mail.co.uk", "o'brien+news@mail.co.uk"),
])
def test_emails_are_trimmed_lowercased_and_kept(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["jean@", "jean", "a b@x.fr", "jean@example.test", "jean@@x.fr", "jean@x..fr", ""])
def test_bad_emails_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidValue, match="email"):
        normalise_email(raw)


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("06.12.34.56.78", "FR", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
    ("0033 6 12 34 56 78", "FR", "+33612345678"),
    ("02 555 12 12", "BE", "+3225551212"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("+1 212 555 0123", "FR", "+12125550123"),
])
def test_phones_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["06 12", "12345678901234567", "not a phone", "00 00 00 00 00"])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue, match="phone"):
        normalise_phone(raw, "FR")


@pytest.mark.parametrize(("raw", "expected"), [
    ("France", "FR"), ("fr", "FR"), ("Allemagne", "DE"), ("Germany", "DE"), ("Royaume-Uni", "GB"), ("UK", "GB"),
    ("Belgique", "BE"), ("Suisse", "CH"), ("États-Unis", "US"), ("USA", "US"), ("Espagne", "ES"),
])
def test_countries_in_english_and_french_become_iso_codes(raw: str, expected: str) -> None:
    assert normalise_country(raw) == expected


def test_unknown_country_is_refused() -> None:
    with pytest.raises(InvalidValue, match="country"):
        normalise_country("Atlantis")


def test_dates_in_iso_and_french_formats() -> None:
    assert parse_date("31/12/2023") == date(2023, 12, 31)
    assert parse_date("2023-12-31") == date(2023, 12, 31)
    assert parse_datetime("05/03/2024 14:30") == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert parse_datetime("2024-03-05T14:30:00+01:00") == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    for bad in ("31/02/2024", "2024-13-01", "hier"):
        with pytest.raises(InvalidValue, match="date"):
            parse_date(bad)


def test_yes_no_in_both_languages() -> None:
    assert [parse_bool(value) for value in ("oui", "Yes", "1", "true", "non", "NO", "0", "false")] == \
        [True] * 4 + [False] * 4
    with pytest.raises(InvalidValue):
        parse_bool("peut-être")


def test_company_names_share_a_key_across_legal_forms_and_accents() -> None:
    assert account_key("ACME S.A.S.") == account_key("Acme") == "acme"
    assert account_key("Société Générale") == "societe generale"


@pytest.mark.parametrize(("header", "field"), [
    ("Courriel", "email"), ("E-mail", "email"), ("Prénom", "first_name"), ("Nom", "last_name"),
    ("Téléphone", "phone"), ("Mobile", "phone"), ("Société", "company"), ("Code postal", "postcode"),
    ("Ville", "city"), ("Pays", "country"), ("Langue", "language"), ("utm_campaign", "utm_campaign"),
    ("Email opt-in", "email_opt_in"), ("sms_opt_in_date", "sms_opt_in_date"), ("ID client", "external_id"),
    ("Adresse", "address_line1"), ("Complément d'adresse", "address_line2"), ("Secteur", None),
])
def test_headers_are_recognised_in_english_and_french(header: str, field: str | None) -> None:
    assert detect_field(header) == field


def test_mapping_file_rejects_unknown_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  Mail perso: emial\n", encoding="utf-8")
    with pytest.raises(MappingError, match="emial"):
        load_mapping(path)


@pytest.mark.parametrize("region", ["FR", "BE", "CH", "GB", "DE", "ES", "IT", "US", "NL", "LU", "RE", "CA"])
def test_the_fast_phone_check_agrees_with_phonenumbers(region: str) -> None:
    import random

    import phonenumbers

    from contacts.normalise import _valid_national

    code = phonenumbers.country_code_for_region(region)
    examples = [phonenumbers.example_number_for_type(region, kind) for kind in phonenumbers.PhoneNumberType.values()]
    seeds = [str(number.national_number) for number in examples if number is not None]
    rng = random.Random(region)
    candidates = []
    for seed in seeds:  # valid examples, and neighbours: digits changed, added or dropped
        candidates += [seed, seed[:-1], seed + "7"]
        candidates += [seed[:index] + str(rng.randrange(10)) + seed[index + 1:] for index in range(len(seed))]
    candidates += [str(rng.randrange(10 ** 5, 10 ** 11)) for _ in range(500)]
    candidates = [nsn for nsn in candidates if nsn and not nsn.startswith("0")]  # what the fast path is given
    agreed = {nsn: phonenumbers.is_valid_number_for_region(
        phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn)), region) for nsn in candidates}
    assert {nsn: _valid_national(nsn, region) for nsn in candidates} == agreed
    assert any(agreed.values()) and not all(agreed.values())


def test_the_fast_email_check_agrees_with_email_validator() -> None:
    import random

    from email_validator import EmailNotValidError, validate_email

    from contacts.normalise import _SIMPLE_EMAIL, normalise_email

    accented = [chr(code) for code in range(0xC0, 0x180) if code not in (0xD7, 0xF7)]
    rng = random.Random(7)
    candidates = [f"{letter}x.y{letter}@exemple.fr" for letter in accented]
    candidates += ["".join(rng.choice(accented + list("abz09._-+")) for _ in range(rng.randrange(1, 20))) + "@ex.com"
                   for _ in range(2000)]
    candidates += ["é" * 64 + "@" + "a" * 60 + "." + "b" * 60 + ".fr",  # 254 bytes: the limit
                   "é" * 64 + "@" + "a" * 61 + "." + "b" * 60 + ".fr", "é" * 65 + "@ex.fr", "chloé..x@ex.fr"]
    fast = [address for address in candidates if _SIMPLE_EMAIL.fullmatch(address)]
    assert len(fast) > 1500  # the fast path is taken
    for address in candidates:
        try:
            expected: str | None = validate_email(address, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            expected = None
        try:
            found: str | None = normalise_email(address)
        except ValueError:
            found = None
        assert found == expected, address
