"""Checking a template when it is saved: it compiles, and every variable it uses exists for contacts."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SecurityError

from core.links import survey_context
from templates.compile import build_email_body, compile_mjml
from templates.context import CONTACT_FIELDS, DERIVED_CONTACT_FIELDS, GLOBAL_NAMES, SAMPLE_BRAND, SAMPLE_CONTACT
from templates.environment import STRICT_HTML_ENV, STRICT_TEXT_ENV
from templates.errors import RenderError, TemplateError

CHECK_TEMPLATE_NAME = "<template>"
SAMPLE_SURVEY = survey_context("https://relance.test/s/sample", {
    "name": "nps", "type": "nps", "text": {"fr": "Nous recommanderiez-vous ?"},
    "choices": [{"value": str(value), "label": {"fr": str(value)}} for value in range(11)],
    "ends": {"fr": ["Pas du tout probable", "Très probable"]}}, "fr")
SAMPLE_EXTRA = {"survey_url": "https://relance.test/s/sample", "survey": SAMPLE_SURVEY, "unsubscribe_url": "https://relance.test/u/sample",
                "preferences_url": "https://relance.test/u/sample", "message_id": "sample-message",
                "campaign": "sample-campaign", "subject": "Sample", "preheader": "Sample", "today": "1 mars 2026"}


@dataclass
class CheckReport:
    """What a successful check learnt (variables used; SMS encoding and segments for the sample)."""

    channel: str
    variables: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _contact_path_errors(ast: nodes.Template, name: str) -> list[TemplateError]:
    known = set(CONTACT_FIELDS) | set(DERIVED_CONTACT_FIELDS)
    errors = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "contact"):
            continue
        if isinstance(node, nodes.Getattr):
            attribute: Any = node.attr
        elif isinstance(node.arg, nodes.Const):
            attribute = node.arg.value
        else:
            continue
        if attribute not in known:
            errors.append(TemplateError(f"unknown contact field contact.{attribute} (custom fields are "
                                        f"contact.attributes.NAME)", template=name, line=node.lineno,
                                        name=f"contact.{attribute}"))
    return errors


def _unknown_names(ast: nodes.Template, name: str, allowed: set[str]) -> list[TemplateError]:
    undeclared = meta.find_undeclared_variables(ast) - allowed
    return [TemplateError(f"unknown variable {node.name!r}", template=name, line=node.lineno, name=node.name)
            for node in ast.find_all(nodes.Name) if node.ctx == "load" and node.name in undeclared]


def _first_static_error(ast: nodes.Template, name: str, allowed: set[str]) -> None:
    """Raise the unknown field or variable that comes first in the source (the one to fix first)."""
    errors = _contact_path_errors(ast, name) + _unknown_names(ast, name, allowed)
    if errors:
        raise min(errors, key=lambda error: error.line or 0)


def _line_of(exc: BaseException) -> int | None:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == CHECK_TEMPLATE_NAME]
    return frames[-1].lineno if frames else None


def check_jinja(source: str, *, html: bool, name: str, extra_names: set[str] | None = None,
                extra_context: dict[str, Any] | None = None) -> list[str]:
    """Parse, check names statically, then render against the sample contact with StrictUndefined."""
    env = STRICT_HTML_ENV if html else STRICT_TEXT_ENV
    try:
        ast = env.parse(source, name=CHECK_TEMPLATE_NAME)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"Jinja syntax error: {exc.message}", template=name, line=exc.lineno) from exc
    allowed = set(GLOBAL_NAMES) | set(extra_names or ()) | set(extra_context or ())
    _first_static_error(ast, name, allowed)
    context = {"contact": SAMPLE_CONTACT, "brand": SAMPLE_BRAND,
               "postal_address": "Relance SAS, 10 rue de la Paix, 75002 Paris", "locale": "fr", "variant": None,
               **SAMPLE_EXTRA, **{extra: f"<{extra}>" for extra in extra_names or ()}, **(extra_context or {})}
    code = env.compile(ast, name=CHECK_TEMPLATE_NAME, filename=CHECK_TEMPLATE_NAME)
    try:
        env.template_class.from_code(env, code, env.make_globals(None)).render(context)
    except UndefinedError as exc:
        raise TemplateError(f"undefined variable: {exc.message}", template=name, line=_line_of(exc)) from exc
    except SecurityError as exc:
        raise TemplateError(f"not allowed in the sandbox: {exc}", template=name, line=_line_of(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"fails to render: {exc}", template=name, line=_line_of(exc)) from exc
    return sorted(meta.find_undeclared_variables(ast))


def check_template(source: str, *, channel: str = "email", name: str = "template", locale: str = "fr",
                   subject: str | None = None, preheader: str | None = None,
                   extra_names: set[str] | None = None) -> CheckReport:
    """Refuse a template that fails to compile or uses a variable contacts do not have (line + name)."""
    report = CheckReport(channel=channel)
    if channel == "email" and not subject:
        raise TemplateError("an email template needs a subject", template=name)
    for label, text in (("subject", subject), ("preheader", preheader)):
        if text:
            check_jinja(text, html=False, name=f"{name} ({label})", extra_names=extra_names)
    report.variables = check_jinja(source, html=channel != "sms", name=name, extra_names=extra_names)
    if channel == "email":
        compiled = compile_mjml(source, template=name)
        body = build_email_body(compiled, locale)
        links = {"_l": [f"https://relance.test/t/c/{index}" for index in range(len(body.links))],
                 "_open": "https://relance.test/t/o/sample"}
        check_jinja(body.html, html=True, name=f"{name} (compiled)", extra_names=extra_names, extra_context=links)
        report.details = {"links": len(body.links), "html_bytes": len(compiled)}
    elif channel == "sms":
        report.details = _sms_details(source, name=name, locale=locale, extra_names=extra_names)
    return report


def _sms_details(source: str, *, name: str, locale: str, extra_names: set[str] | None) -> dict[str, Any]:
    from templates.sms import finish_sms

    context = {"contact": SAMPLE_CONTACT, "brand": SAMPLE_BRAND, **SAMPLE_EXTRA,
               **{extra: "" for extra in extra_names or ()}}
    try:
        text, info = finish_sms(STRICT_TEXT_ENV.from_string(source).render(context), locale=locale, stop_number=None)
    except RenderError as exc:
        raise TemplateError(str(exc), template=name) from exc
    return {**info.as_metadata(), "sample": text}
