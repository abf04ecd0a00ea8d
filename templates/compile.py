"""Once per version and locale: MJML → HTML, then tracked-link rewriting, open pixel, compliance footer, text."""

from __future__ import annotations

import html as htmlmod
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from mjml import mjml_to_html
from mjml.core.registry import components, register_core_components

from templates.errors import TemplateError
from templates.text import html_to_text

ANCHOR_HREF = re.compile(r"(<a\b[^>]*?\bhref\s*=\s*)([\"'])(.*?)\2", re.I | re.S)
UNTRACKED_VARIABLES = re.compile(r"^\{\{\s*(unsubscribe_url|preferences_url|survey_url|survey\.url)\s*\}\}$")
# The one-tap answers of a survey's first question are survey links (they record the answer themselves).
SURVEY_CHOICE_LOOP = re.compile(r"\{%-?\s*for\s+(\w+)\s+in\s+survey\.first_question\.choices\b")
UNTRACKED_SCHEMES = ("mailto:", "tel:", "sms:", "#")
MJML_EXTRA_TAGS = frozenset({"mjml", "mj-all", "mj-class", "mj-selector", "mj-html-attribute"})
FOOTER_TEXT = {
    "fr": ("Vous recevez cet e-mail car vous êtes inscrit(e) à nos communications.", "Se désinscrire"),
    "en": ("You are receiving this email because you subscribed to our communications.", "Unsubscribe"),
}


@dataclass(frozen=True)
class TrackedLink:
    """A link to track: a fixed destination, or a Jinja template of one (rendered per recipient)."""

    destination: str
    dynamic: bool


@dataclass(frozen=True)
class EmailBody:
    """Compiled email ready for per-recipient rendering: HTML and text Jinja sources and their links."""

    html: str
    text: str
    links: tuple[TrackedLink, ...]


def compile_mjml(source: str, *, template: str = "template") -> str:
    """MJML → responsive HTML; unknown tags and unbalanced mj- tags are refused with their line."""
    _check_mjml_structure(source, template)
    register_core_components()
    try:
        result = mjml_to_html(source)
    except (KeyError, ValueError, AttributeError, TypeError, ImportError) as exc:
        raise TemplateError(f"MJML does not compile: {exc}", template=template) from exc
    if result.errors:
        raise TemplateError(f"MJML errors: {'; '.join(map(str, result.errors))}", template=template)
    return result.html


class _MjmlTagChecker(HTMLParser):
    """Checks mj-* tags are known and properly nested, remembering line numbers."""

    def __init__(self, template: str) -> None:
        super().__init__(convert_charrefs=True)
        self.template = template
        self.stack: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not (tag == "mjml" or tag.startswith("mj-")):
            return
        line = self.getpos()[0]
        if tag not in components and tag not in MJML_EXTRA_TAGS:
            raise TemplateError(f"unknown MJML tag <{tag}>", template=self.template, line=line, name=tag)
        self.stack.append((tag, line))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.startswith("mj-") and tag not in components and tag not in MJML_EXTRA_TAGS:
            raise TemplateError(f"unknown MJML tag <{tag}>", template=self.template, line=self.getpos()[0], name=tag)

    def handle_endtag(self, tag: str) -> None:
        if not (tag == "mjml" or tag.startswith("mj-")):
            return
        line = self.getpos()[0]
        if not self.stack or self.stack[-1][0] != tag:
            expected = f"</{self.stack[-1][0]}> (opened line {self.stack[-1][1]})" if self.stack else "nothing"
            raise TemplateError(f"</{tag}> closes {expected}", template=self.template, line=line, name=tag)
        self.stack.pop()


def _check_mjml_structure(source: str, template: str) -> None:
    register_core_components()
    if "<mjml" not in source:
        raise TemplateError("not an MJML document (no <mjml> root)", template=template, line=1)
    checker = _MjmlTagChecker(template)
    checker.feed(source)
    checker.close()
    if checker.stack:
        tag, line = checker.stack[-1]
        raise TemplateError(f"<{tag}> is never closed", template=template, line=line, name=tag)


def _rewrite_links(html: str) -> tuple[str, tuple[TrackedLink, ...]]:
    links: list[TrackedLink] = []
    choice_urls = {f"{{{{{name}.url}}}}" for name in SURVEY_CHOICE_LOOP.findall(html)}

    def replace(match: re.Match[str]) -> str:
        raw = match.group(3).strip()
        if not raw or raw.startswith(UNTRACKED_SCHEMES) or UNTRACKED_VARIABLES.match(raw) or \
                "".join(raw.split()) in choice_urls:
            return match.group(0)
        destination = htmlmod.unescape(raw)
        links.append(TrackedLink(destination, dynamic="{{" in destination or "{%" in destination))
        return f"{match.group(1)}{match.group(2)}{{{{ _l[{len(links) - 1}] }}}}{match.group(2)}"

    return ANCHOR_HREF.sub(replace, html), tuple(links)


def _footer(html: str, locale: str) -> str:
    """Compliance footer when the template itself lacks the unsubscribe link or the postal address."""
    notice, label = FOOTER_TEXT.get(locale, FOOTER_TEXT["en"])
    style = "font-family:Helvetica,Arial,sans-serif;font-size:12px;line-height:18px;color:#6b7280;"
    parts = []
    if "unsubscribe_url" not in html:
        parts.append(f'{notice} <a href="{{{{ unsubscribe_url }}}}" style="color:#6b7280">{label}</a>')
    if "postal_address" not in html:
        parts.append("{{ postal_address }}")
    if not parts:
        return ""
    return f'<div style="{style}text-align:center;padding:16px">{"<br>".join(parts)}</div>'


def build_email_body(compiled_html: str, locale: str) -> EmailBody:
    """Rewrite links to tracked ones, add footer + open pixel, and derive the text alternative."""
    html, links = _rewrite_links(compiled_html)
    pixel = ('<img src="{{ _open }}" width="1" height="1" alt="" '
             'style="display:block;border:0;width:1px;height:1px;overflow:hidden" />')
    addition = _footer(html, locale) + pixel
    position = html.lower().rfind("</body>")
    html = html + addition if position < 0 else html[:position] + addition + html[position:]
    return EmailBody(html=html, text=html_to_text(html.replace(pixel, "")), links=links)
