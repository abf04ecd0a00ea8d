"""The template pipeline: library → immutable versions (MJML compiled once) → cached prepared templates."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Template, TemplateVersion
from core.settings import Settings
from templates.check import check_template
from templates.compile import build_email_body, compile_mjml
from templates.errors import TemplateError, TemplateNotFound
from templates.library import LIBRARY_DIR, LibraryTemplate, LocaleSource, load_library, load_template
from templates.render import PreparedEmail, PreparedLetter, PreparedSMS, PreparedTemplate, TemplateRef

CACHE_SIZE = 128
_cache: OrderedDict[tuple[Any, ...], PreparedTemplate] = OrderedDict()
_cache_lock = threading.Lock()


@dataclass
class SyncReport:
    """What sync_library did: new templates, new versions (name/locale → version), unchanged, refused."""

    created: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "versions": self.versions, "unchanged": self.unchanged,
                "errors": self.errors}


def _latest(session: Session, template_id: int, locale: str) -> TemplateVersion | None:
    return session.scalars(
        select(TemplateVersion).where(TemplateVersion.template_id == template_id, TemplateVersion.locale == locale)
        .order_by(TemplateVersion.version.desc()).limit(1)
    ).first()


def save_version(session: Session, template: Template, item: LocaleSource) -> tuple[TemplateVersion, bool]:
    """Store `item` as the next immutable version of `template` unless the latest one has the same content.

    The template is checked first (refused with line and name); MJML is compiled here, once.
    """
    latest = _latest(session, template.id, item.locale)
    if latest is not None and latest.checksum == item.checksum:
        return latest, False
    label = f"{template.name}/{item.locale}.{item.source_format}"
    check_template(item.source, channel=template.channel, name=label, locale=item.locale, subject=item.subject,
                   preheader=item.preheader)
    compiled = compile_mjml(item.source, template=label) if item.source_format == "mjml" else None
    version = TemplateVersion(
        template_id=template.id, version=(latest.version + 1) if latest else 1, locale=item.locale,
        source_format=item.source_format, subject=item.subject, preheader=item.preheader, source=item.source,
        compiled=compiled, checksum=item.checksum,
    )
    session.add(version)
    session.flush()
    return version, True


def _template_row(session: Session, loaded: LibraryTemplate, report: SyncReport) -> Template:
    template = session.scalars(select(Template).where(Template.name == loaded.name)).first()
    if template is None:
        template = Template(name=loaded.name, channel=loaded.channel, description=loaded.description)
        session.add(template)
        session.flush()
        report.created.append(loaded.name)
    elif template.channel != loaded.channel:
        raise TemplateError(f"channel changed from {template.channel} to {loaded.channel}; use a new name",
                            template=loaded.name)
    else:
        template.description = loaded.description
    return template


def sync_library(session: Session, directory: Path = LIBRARY_DIR) -> SyncReport:
    """Load the on-disk library into Template/TemplateVersion rows; refused templates are reported, not saved."""
    report = SyncReport()
    try:
        library = load_library(directory)
    except TemplateError as exc:
        report.errors.append(str(exc))
        return report
    for loaded in library:
        partial = SyncReport()
        try:
            with session.begin_nested():
                template = _template_row(session, loaded, partial)
                for locale, item in loaded.locales.items():
                    version, created = save_version(session, template, item)
                    key = f"{loaded.name}/{locale}"
                    if created:
                        partial.versions[key] = version.version
                    else:
                        partial.unchanged.append(key)
        except TemplateError as exc:
            report.errors.append(str(exc))
            continue
        report.created += partial.created
        report.versions.update(partial.versions)
        report.unchanged += partial.unchanged
    session.commit()
    return report


def normalise_locale(locale: str | None) -> str:
    """`fr-FR`, `fr_FR`, `FR` → `fr`."""
    return (locale or "").replace("_", "-").split("-")[0].lower()


def pick_locale(requested: str | None, available: list[str], default: str) -> str:
    """The best available locale: requested, the default language, English, then the first one."""
    for candidate in (normalise_locale(requested), normalise_locale(default), "en"):
        if candidate in available:
            return candidate
    if not available:
        raise TemplateNotFound("template has no version")
    return sorted(available)[0]


def available_locales(session: Session, template: Template) -> list[str]:
    """Locales that have at least one version."""
    return sorted(session.scalars(
        select(TemplateVersion.locale).where(TemplateVersion.template_id == template.id).distinct()
    ))


def _version(session: Session, template: Template, locale: str, version: int | None) -> TemplateVersion:
    query = select(TemplateVersion).where(TemplateVersion.template_id == template.id, TemplateVersion.locale == locale)
    if version is None:
        newest = select(func.max(TemplateVersion.version)).where(
            TemplateVersion.template_id == template.id, TemplateVersion.locale == locale).scalar_subquery()
        query = query.where(TemplateVersion.version == newest)
    else:
        query = query.where(TemplateVersion.version == version)
    row = session.scalars(query).first()
    if row is None:
        raise TemplateNotFound(f"template {template.name!r} has no version {version} in locale {locale!r}")
    return row


def stop_number(settings: Settings) -> str | None:
    """The short number SMS opt-outs go to (`"stop_number"` in the sms channel config or its options)."""
    config = settings.channel_config("sms")
    value = config.get("stop_number") or config["options"].get("stop_number")
    return str(value) if value else None


def _settings_key(settings: Settings) -> tuple[Any, ...]:
    secret = hashlib.sha256(settings.secret_key.get_secret_value().encode()).hexdigest()
    return (settings.public_url, secret, settings.from_email, settings.reply_to, settings.postal_address,
            stop_number(settings))


@dataclass(frozen=True)
class VersionSource:
    """What a prepared template is built from (a stored version, or a library file for previews)."""

    name: str
    channel: str
    locale: str
    version: int
    version_id: int
    source: str
    compiled: str | None
    subject: str | None
    preheader: str | None
    checksum: str


def _build(item: VersionSource, settings: Settings, *, variant: str | None, subject: str | None,
           preheader: str | None, brand: Mapping[str, Any] | None) -> PreparedTemplate:
    ref = TemplateRef(item.name, item.channel, item.locale, item.version, item.version_id, variant)
    if item.channel == "email":
        compiled = item.compiled or compile_mjml(item.source, template=item.name)
        return PreparedEmail(ref, settings, body=build_email_body(compiled, item.locale),
                             subject=subject or item.subject or "", preheader=preheader or item.preheader,
                             brand_overrides=brand)
    if item.channel == "sms":
        return PreparedSMS(ref, settings, source=item.source, stop_number=stop_number(settings),
                           brand_overrides=brand)
    return PreparedLetter(ref, settings, source=item.source, brand_overrides=brand)


def _cached(item: VersionSource, settings: Settings, *, variant: str | None, subject: str | None,
            preheader: str | None, brand: Mapping[str, Any] | None) -> PreparedTemplate:
    key = (item.name, item.version_id, item.checksum, item.locale, variant, subject, preheader,
           json.dumps(dict(brand or {}), sort_keys=True, default=str), _settings_key(settings))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    prepared = _build(item, settings, variant=variant, subject=subject, preheader=preheader, brand=brand)
    with _cache_lock:
        _cache[key] = prepared
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return prepared


def prepare(session: Session, name: str, *, locale: str | None, settings: Settings, variant: str | None = None,
            version: int | None = None, subject: str | None = None, preheader: str | None = None,
            brand: Mapping[str, Any] | None = None) -> PreparedTemplate:
    """The template `name` ready to render in `locale` (falls back to the default language, then English).

    Cached per version, locale, variant and overrides: MJML compilation and link rewriting happen once.
    `subject`/`preheader` override the version's (e.g. an A/B variant's subject line).
    """
    template = session.scalars(select(Template).where(Template.name == name)).first()
    if template is None:
        raise TemplateNotFound(f"no template named {name!r} (run `relance template sync`)")
    chosen = pick_locale(locale, available_locales(session, template), settings.default_language)
    row = _version(session, template, chosen, version)
    item = VersionSource(template.name, template.channel, row.locale, row.version, row.id, row.source, row.compiled,
                         row.subject, row.preheader, row.checksum)
    return _cached(item, settings, variant=variant, subject=subject, preheader=preheader, brand=brand)


def prepare_library(name: str, *, locale: str | None, settings: Settings, directory: Path = LIBRARY_DIR,
                    variant: str | None = None) -> PreparedTemplate:
    """A library template prepared straight from disk (previews, benchmarks; version 0, not stored)."""
    folder = directory / name
    if not folder.is_dir():
        raise TemplateNotFound(f"no template named {name!r} in {directory}")
    loaded = load_template(folder)
    chosen = pick_locale(locale, sorted(loaded.locales), settings.default_language)
    source = loaded.locales[chosen]
    item = VersionSource(name, loaded.channel, chosen, 0, 0, source.source, None, source.subject, source.preheader,
                         source.checksum)
    return _cached(item, settings, variant=variant, subject=None, preheader=None, brand=None)


def clear_cache() -> None:
    """Forget every prepared template (tests, or after editing templates in a long-running process)."""
    with _cache_lock:
        _cache.clear()
