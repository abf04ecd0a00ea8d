"""sync_library / prepare / check_template against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Template, TemplateVersion
from core.settings import Settings
from templates.check import check_template
from templates.errors import TemplateError, TemplateNotFound
from templates.library import LIBRARY_DIR
from templates.pipeline import prepare, sync_library

MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ contact.first_name }}</mj-text>
        <mj-text>{{ contact.favourite_colour }}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


def _copy_library(tmp_path: Path, names: tuple[str, ...] = ("welcome", "sms-offer")) -> Path:
    directory = tmp_path / "library"
    for name in names:
        shutil.copytree(LIBRARY_DIR / name, directory / name)
    return directory


def test_sync_creates_versions_once_and_a_new_one_only_on_change(session: Session, tmp_path: Path) -> None:
    directory = _copy_library(tmp_path)
    first = sync_library(session, directory)
    assert first.errors == [] and sorted(first.created) == ["sms-offer", "welcome"]
    assert first.versions == {"sms-offer/en": 1, "sms-offer/fr": 1, "welcome/en": 1, "welcome/fr": 1}
    compiled = session.scalars(select(TemplateVersion.compiled).join(Template).where(Template.name == "welcome")).all()
    assert all(html and "<!doctype html>" in html.lower() for html in compiled)
    second = sync_library(session, directory)
    assert second.versions == {} and len(second.unchanged) == 4
    source = directory / "welcome" / "fr.mjml"
    source.write_text(source.read_text().replace("Commencer en 5 minutes", "Démarrer maintenant"))
    third = sync_library(session, directory)
    assert third.versions == {"welcome/fr": 2}
    assert session.scalar(select(func.count()).select_from(TemplateVersion)) == 5


def test_a_bad_template_is_refused_with_line_and_name_and_others_still_sync(session: Session, tmp_path: Path) -> None:
    directory = _copy_library(tmp_path, ("welcome",))
    bad = directory / "broken"
    bad.mkdir()
    (bad / "template.yaml").write_text("channel: email\nsubject: {fr: Hi}\n")
    (bad / "fr.mjml").write_text(MJML)
    report = sync_library(session, directory)
    assert report.created == ["welcome"]
    assert report.errors == ["broken/fr.mjml, line 6: unknown contact field contact.favourite_colour "
                             "(custom fields are contact.attributes.NAME)"]
    assert session.scalar(select(Template).where(Template.name == "broken")) is None


def test_prepare_is_cached_per_version_and_renders(session: Session, settings: Settings, tmp_path: Path) -> None:
    sync_library(session, _copy_library(tmp_path))
    prepared = prepare(session, "welcome", locale="en-GB", settings=settings)
    assert prepared.ref.locale == "en" and prepared.ref.version == 1
    assert prepare(session, "welcome", locale="en", settings=settings) is prepared
    variant = prepare(session, "welcome", locale="en", settings=settings, variant="b",
                      subject="Hey {{ contact.first_name }}")
    assert variant is not prepared
    message = variant.render({"id": 1, "email": "a@example.org", "first_name": "Ann"}, message_id="m-1")
    assert message.subject == "Hey Ann"
    with pytest.raises(TemplateNotFound):
        prepare(session, "nope", locale="fr", settings=settings)


@pytest.mark.parametrize(("source", "line", "name", "message"), [
    ("<mjml><mj-body>\n<mj-section><mj-column><mj-text>{{ contact.first_name }</mj-text>"
     "</mj-column></mj-section></mj-body></mjml>", 2, None, "Jinja syntax error"),
    ("<mjml><mj-body>\n\n<mj-sektion></mj-sektion></mj-body></mjml>", 3, "mj-sektion", "unknown MJML tag"),
    ("<mjml><mj-body>\n<mj-section><mj-column><mj-text>x</mj-column></mj-section></mj-body></mjml>", 2, "mj-column",
     "closes </mj-text>"),
    ("<mjml><mj-body><mj-section><mj-column>\n<mj-text>{{ coupon_code }}</mj-text>"
     "</mj-column></mj-section></mj-body></mjml>", 2, "coupon_code", "unknown variable"),
    (MJML, 6, "contact.favourite_colour", "unknown contact field"),
    ("<mjml><mj-body><mj-section><mj-column>\n<mj-text>{{ coupon_code }}</mj-text>\n<mj-text>{{ contact.colour }}"
     "</mj-text></mj-column></mj-section></mj-body></mjml>", 2, "coupon_code", "unknown variable"),  # first one first
])
def test_check_template_reports_line_and_name(source: str, line: int, name: str | None, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as info:
        check_template(source, channel="email", name="t.mjml", subject="Hi")
    assert info.value.line == line
    assert info.value.name == name


def test_check_template_accepts_custom_attributes_and_reports_sms_segments() -> None:
    report = check_template(MJML.replace("contact.favourite_colour", "contact.attributes.favourite_colour"),
                            subject="Hi {{ contact.first_name }}")
    assert "contact" in report.variables
    sms = check_template("Hello {{ contact.first_name }}, ça va ?", channel="sms", locale="en")
    assert sms.details["encoding"] == "UCS-2" and sms.details["segments"] == 1
