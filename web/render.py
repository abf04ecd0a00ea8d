"""Rendering the public pages and the embeddable lead-form HTML."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from contacts.forms import UTM_FIELDS, FormDefinition, text_for
from web.i18n import translator
from web.state import AppState, template_environment

HIDDEN_FIELDS = (*UTM_FIELDS, "referrer", "page")
_INPUT_TYPES = {"email": "email", "tel": "tel", "text": "text", "country": "text"}
_AUTOCOMPLETE = {"email": "email", "phone": "tel", "first_name": "given-name", "last_name": "family-name",
                 "company": "organization", "job_title": "organization-title", "country": "country-name",
                 "city": "address-level2", "postcode": "postal-code"}


def page(state: AppState, template: str, lang: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A server-rendered page in `lang`."""
    html = state.templates.get_template(template).render(
        lang=lang, t=translator(lang), sender=state.settings.postal_address, **context)
    return HTMLResponse(html, status_code=status)


def message_page(state: AppState, lang: str, title_key: str, *lines_keys: str, status: int = 200,
                 back_url: str | None = None) -> HTMLResponse:
    """A short page: a title and a few sentences."""
    t = translator(lang)
    return page(state, "message.html", lang, status=status, title=t(title_key),
                lines=[t(key) for key in lines_keys], back_url=back_url)


def form_html(form: FormDefinition, lang: str, action: str, *, values: dict[str, str] | None = None,
              errors: dict[str, str] | None = None) -> str:
    """The <form> element for `form` (hosted page, or the snippet pasted into any website)."""
    values, errors = values or {}, errors or {}
    fields = [{
        "name": spec.name, "type": spec.type, "input_type": _INPUT_TYPES.get(spec.type, "text"),
        "label": text_for(spec.label, lang) or spec.name, "required": spec.required, "options": spec.options,
        "max_length": spec.max_length, "value": values.get(spec.name, ""), "error": errors.get(spec.name),
        "autocomplete": _AUTOCOMPLETE.get(spec.name, "off"),
    } for spec in form.fields]
    consent = None
    if form.consent:
        consent = {"text": text_for(form.consent.text, lang), "required": form.consent.required,
                   "checked": bool(values.get("consent")), "error": errors.get("consent")}
    return template_environment().get_template("form_fields.html").render(
        form=form, fields=fields, consent=consent, action=action, t=translator(lang), hidden=HIDDEN_FIELDS,
        hidden_values=values)


SNIPPET_SCRIPT = """<script>
(function () {
  var form = document.currentScript.previousElementSibling;
  var params = new URLSearchParams(window.location.search);
  ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].forEach(function (name) {
    if (params.get(name)) { form.elements[name].value = params.get(name); }
  });
  form.elements.referrer.value = document.referrer;
  form.elements.page.value = window.location.href;
})();
</script>"""


def snippet(form: FormDefinition, public_url: str, lang: str | None = None) -> str:
    """A self-contained HTML snippet: the form posting to our public URL plus a tiny script filling UTM fields."""
    action = f"{public_url.rstrip('/')}/forms/{form.name}"
    return form_html(form, lang or form.language, action) + SNIPPET_SCRIPT + "\n"
