"""The template library on disk: one folder per template (template.yaml + one source file per locale)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from templates.errors import TemplateError

LIBRARY_DIR = Path(__file__).parent / "library"
FORMATS = {"email": "mjml", "sms": "txt", "mail": "html"}


@dataclass(frozen=True)
class LocaleSource:
    """One locale of a template: its source text and its subject/preheader templates."""

    locale: str
    source_format: str
    source: str
    subject: str | None
    preheader: str | None

    @property
    def checksum(self) -> str:
        """Identity of this content: a new version is made only when it changes."""
        payload = json.dumps([self.source_format, self.source, self.subject, self.preheader])
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class LibraryTemplate:
    """A template read from disk."""

    name: str
    channel: str
    description: str | None
    locales: dict[str, LocaleSource]
    folder: Path


def _per_locale(meta: dict[str, Any], key: str, locale: str) -> str | None:
    value = meta.get(key)
    if isinstance(value, dict):
        return value.get(locale)
    return value if isinstance(value, str) else None


def load_template(folder: Path) -> LibraryTemplate:
    """Read one template folder; a missing or wrong template.yaml is a clear error."""
    meta_path = folder / "template.yaml"
    if not meta_path.exists():
        raise TemplateError("missing template.yaml", template=folder.name)
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"template.yaml is not valid YAML: {exc}", template=folder.name) from exc
    channel = meta.get("channel")
    if channel not in FORMATS:
        raise TemplateError(f"channel must be one of {sorted(FORMATS)}, got {channel!r}", template=folder.name)
    source_format = FORMATS[channel]
    locales = {}
    for path in sorted(folder.glob(f"*.{source_format}")):
        locale = path.stem
        locales[locale] = LocaleSource(
            locale=locale, source_format=source_format, source=path.read_text(encoding="utf-8"),
            subject=_per_locale(meta, "subject", locale), preheader=_per_locale(meta, "preheader", locale),
        )
    if not locales:
        raise TemplateError(f"no <locale>.{source_format} file", template=folder.name)
    if channel == "email" and any(not item.subject for item in locales.values()):
        raise TemplateError("every email locale needs a subject in template.yaml", template=folder.name)
    return LibraryTemplate(folder.name, channel, meta.get("description"), locales, folder)


def load_library(directory: Path = LIBRARY_DIR) -> list[LibraryTemplate]:
    """Every template folder of the library, by name."""
    return [load_template(folder) for folder in sorted(directory.iterdir())
            if folder.is_dir() and not folder.name.startswith(("_", "."))]
