"""Column mapping for imports: English/French header auto-detection and YAML mapping files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contacts.normalise import fold

# Contact columns an import may fill, in the order exports write them.
CONTACT_FIELDS = (
    "external_id", "email", "phone", "first_name", "last_name", "company", "job_title", "language", "country",
    "timezone", "birth_date", "address_line1", "address_line2", "address_line3", "postcode", "city",
    "lifecycle_stage", "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer",
)
CONSENT_CHANNELS = ("email", "sms", "mail")
CONSENT_PARTS = ("", "_date", "_source", "_ip")
CONSENT_FIELDS = tuple(f"{channel}_opt_in{part}" for channel in CONSENT_CHANNELS for part in CONSENT_PARTS)
SPECIAL_FIELDS = ("tags",)
KNOWN_FIELDS = frozenset(CONTACT_FIELDS + CONSENT_FIELDS + SPECIAL_FIELDS)
IGNORE = "ignore"

# Folded header (see `header_key`) → field. French and English spellings of what CRMs and Excel export.
_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e_mail", "mail", "adresse_mail", "mail_address", "email_address", "adresse_email",
              "adresse_e_mail", "courriel", "adresse_courriel", "mel", "e_mail_address"),
    "first_name": ("first_name", "firstname", "first", "given_name", "forename", "prenom"),
    "last_name": ("last_name", "lastname", "last", "surname", "family_name", "nom", "nom_de_famille"),
    "phone": ("phone", "phone_number", "telephone", "tel", "mobile", "mobile_phone", "cell", "cellphone",
              "portable", "telephone_mobile", "tel_mobile", "numero_de_telephone", "gsm"),
    "company": ("company", "company_name", "organisation", "organization", "account", "societe", "entreprise",
                "raison_sociale", "employer"),
    "job_title": ("job_title", "title", "position", "role", "fonction", "poste", "intitule_de_poste"),
    "address_line1": ("address", "address_line1", "address_line_1", "address1", "street", "street_address",
                      "adresse", "adresse_1", "adresse1", "adresse_ligne_1", "rue"),
    "address_line2": ("address_line2", "address_line_2", "address2", "adresse_2", "adresse2", "adresse_ligne_2",
                      "complement_d_adresse", "complement_adresse", "complement"),
    "address_line3": ("address_line3", "address_line_3", "address3", "adresse_3", "adresse3", "adresse_ligne_3",
                      "lieu_dit"),
    "postcode": ("postcode", "postal_code", "post_code", "zip", "zip_code", "zipcode", "code_postal", "cp"),
    "city": ("city", "town", "ville", "commune", "localite"),
    "country": ("country", "country_code", "pays", "code_pays"),
    "language": ("language", "lang", "locale", "langue"),
    "timezone": ("timezone", "time_zone", "tz", "fuseau_horaire", "fuseau"),
    "birth_date": ("birth_date", "birthdate", "date_of_birth", "dob", "birthday", "date_de_naissance"),
    "tags": ("tags", "tag", "labels", "etiquettes", "etiquette", "mots_cles"),
    "source": ("source", "lead_source", "origine", "provenance"),
    "external_id": ("external_id", "externalid", "id_externe", "crm_id", "customer_id", "client_id", "id_client",
                    "code_client", "numero_client", "reference_client"),
    "lifecycle_stage": ("lifecycle_stage", "stage", "lifecycle", "etape", "statut", "cycle_de_vie"),
    "referrer": ("referrer", "referer", "referent"),
}
_HEADER_TO_FIELD = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}
_CHANNEL_WORDS = {"email": "email", "e_mail": "email", "courriel": "email", "sms": "sms", "mail": "mail",
                  "courrier": "mail", "postal": "mail", "post": "mail"}
_CONSENT_HEADER = re.compile(
    r"(?:(?P<c1>email|e_mail|courriel|sms|mail|courrier|postal|post)_)?opt_?in(?:_(?P<c2>email|e_mail|courriel|sms"
    r"|mail|courrier|postal|post))?(?:_(?P<part>date|source|ip))?"
)


def header_key(header: str) -> str:
    """A header folded to snake case: `Code Postal` → `code_postal`, `E-mail` → `e_mail`."""
    return fold(header).replace(" ", "_")


def detect_field(header: str) -> str | None:
    """The field a header means, or None when unknown (it then goes to `attributes`)."""
    key = header_key(header)
    if key in _HEADER_TO_FIELD:
        return _HEADER_TO_FIELD[key]
    if re.fullmatch(r"utm_(source|medium|campaign|term|content)", key):
        return key
    match = _CONSENT_HEADER.fullmatch(key)
    if match and bool(match["c1"]) != bool(match["c2"]):
        channel = _CHANNEL_WORDS[match["c1"] or match["c2"]]
        return f"{channel}_opt_in" + (f"_{match['part']}" if match["part"] else "")
    return None


class MappingError(ValueError):
    """A mapping file that cannot be used, with the reason."""


@dataclass
class Mapping:
    """What each column of a file means, plus defaults applied to every row."""

    columns: dict[str, str] = field(default_factory=dict)  # header → field | attributes.<key> | ignore
    default_region: str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None

    def resolve(self, headers: list[str]) -> dict[int, str]:
        """Column index → target (`email`, `attributes.industry`, ...); ignored columns are left out."""
        overrides = {header_key(name): target for name, target in self.columns.items()}
        targets: dict[int, str] = {}
        for index, header in enumerate(headers):
            if not header or not header.strip():
                continue
            target = overrides.get(header_key(header)) or detect_field(header) or f"attributes.{header_key(header)}"
            if target != IGNORE:
                targets[index] = target
        return targets


def load_mapping(path: Path | None) -> Mapping:
    """Read a YAML mapping file (or the automatic mapping when `path` is None); raises MappingError."""
    if path is None:
        return Mapping()
    try:
        document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"cannot read mapping file {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise MappingError("the mapping file must be a YAML mapping with a `columns:` section")
    unknown_keys = set(document) - {"columns", "default_region", "tags", "source"}
    if unknown_keys:
        raise MappingError(f"unknown keys in mapping file: {', '.join(sorted(unknown_keys))}")
    columns = {str(name): str(target) for name, target in (document.get("columns") or {}).items()}
    for name, target in columns.items():
        if target not in KNOWN_FIELDS and target != IGNORE and not re.fullmatch(r"attributes\.\w+", target):
            raise MappingError(
                f"column {name!r} maps to unknown field {target!r} (use a contact field, attributes.<name> or ignore)"
            )
    tags = document.get("tags") or []
    return Mapping(
        columns=columns,
        default_region=document.get("default_region"),
        tags=[str(tag) for tag in (tags if isinstance(tags, list) else [tags])],
        source=document.get("source"),
    )
