"""What a survey page shows: the page's visible questions in the respondent's language, as widgets with their
current values (saved, or just posted) and their errors — the context of web/templates/survey_page.html."""

from __future__ import annotations

from typing import Any

from surveys.conditions import questions_of
from surveys.definition import SurveyDocument
from surveys.questions import (
    DEFAULT_LABELS,
    OTHER,
    CsatQuestion,
    MatrixQuestion,
    MultipleChoiceQuestion,
    NpsQuestion,
    Parsed,
    Question,
    RatingQuestion,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
    text_for,
)
from surveys.respondents import Respondent, next_visible_page, visible_questions
from web.i18n import translator


def _saved_values(respondent: Respondent) -> dict[str, list[str]]:
    """The saved answers as the form fields that would post them."""
    values: dict[str, list[str]] = {}
    for name, value in respondent.answers.items():
        if isinstance(value, bool):
            values[f"q.{name}"] = ["yes" if value else "no"]
        elif isinstance(value, list):
            values[f"q.{name}"] = [str(item) for item in value]
        elif isinstance(value, dict):
            values.update({f"q.{name}.{row}": [str(item)] for row, item in value.items()})
        elif value is not None:
            values[f"q.{name}"] = [str(value)]
    for name, text in respondent.texts.items():
        values[f"q.{name}.other"] = [text]
    return values


def _option(field: str, value: str, label: str, current: list[str]) -> dict[str, Any]:
    return {"value": value, "label": label, "checked": value in current, "id": f"{field}-{value}".replace(".", "-")}


def _scale_options(question: Question, field: str, language: str, current: list[str]) -> list[dict[str, Any]]:
    labels: dict[int, str] = {}
    if isinstance(question, CsatQuestion):  # a rating's or matrix's end labels are shown under the scale instead
        labels = {value: question.label(value, language) for value in question.scale()}
    return [{**_option(field, str(value), str(value), current), "caption": labels.get(value)}
            for value in question.scale() or []]


def _widget(question: Question, language: str, values: dict[str, list[str]]) -> dict[str, Any]:
    field = question.field_name()
    current = values.get(field, [])
    widget: dict[str, Any] = {"field": field, "current": current[-1] if current else ""}
    if isinstance(question, NpsQuestion):
        low, high = question.ends(language)
        widget.update(kind="scale", options=_scale_options(question, field, language, current), low=low, high=high)
    elif isinstance(question, CsatQuestion):
        widget.update(kind="labelled_scale", options=_scale_options(question, field, language, current))
    elif isinstance(question, RatingQuestion):
        widget.update(kind="scale", options=_scale_options(question, field, language, current),
                      low=question.labels.get(1) and question.label(1, language),
                      high=question.labels.get(question.scale_max) and question.label(question.scale_max, language))
    elif isinstance(question, YesNoQuestion):
        yes, no = DEFAULT_LABELS["yes_no"].get(language, DEFAULT_LABELS["yes_no"]["en"])
        widget.update(kind="choices", input="radio", options=[_option(field, "yes", yes, current),
                                                              _option(field, "no", no, current)])
    elif isinstance(question, SingleChoiceQuestion | MultipleChoiceQuestion):
        options = [_option(field, option.value, text_for(option.label, language), current)
                   for option in question.options]
        if question.other:
            other_label = DEFAULT_LABELS["other"].get(language, "Other")
            options.append({**_option(field, OTHER, other_label, current),
                            "other_field": f"{field}.other", "other_id": f"{field}-other-text".replace(".", "-"),
                            "other_value": (values.get(f"{field}.other") or [""])[-1]})
        widget.update(kind="choices", options=options,
                      input="checkbox" if isinstance(question, MultipleChoiceQuestion) else "radio")
    elif isinstance(question, TextQuestion):
        widget.update(kind="text", long=question.long, maxlength=question.limit,
                      id=f"{field.replace('.', '-')}-input")
    elif isinstance(question, MatrixQuestion):
        widget.update(kind="matrix", rows=[{
            "label": text_for(row.label, language), "field": question.row_field(row.value),
            "options": _scale_options(question, question.row_field(row.value), language,
                                      values.get(question.row_field(row.value), [])),
        } for row in question.rows], low=question.labels.get(1) and question.label(1, language),
            high=question.labels.get(question.scale_max) and question.label(question.scale_max, language))
    return widget


def _error_text(language: str, parsed: Parsed | None) -> str | None:
    if parsed is None or parsed.error is None:
        return None
    return translator(language)(f"survey_error_{parsed.error}", **parsed.params)


def page_context(respondent: Respondent, page: int, *, action: str, errors: dict[str, Parsed] | None = None,
                 posted: dict[str, list[str]] | None = None, focus: str | None = None,
                 notice: str | None = None, resumed: bool = False) -> dict[str, Any]:
    """The template context of survey page `page` (0-based) for this respondent (`resumed`: back through the
    invitation's link after an earlier visit)."""
    document, language = respondent.document, respondent.language
    values = posted if posted is not None else _saved_values(respondent)
    errors = errors or {}
    questions = [{
        "name": question.name, "type": question.type, "anchor": f"q-{question.name}",
        "text": text_for(question.text, language), "help": text_for(question.help, language),
        "required": question.required, "error": _error_text(language, errors.get(question.name)),
        **_widget(question, language, values),
    } for question in visible_questions(document, page, respondent.answers)]
    visible_pages = [index for index in range(len(document.pages))
                     if visible_questions(document, index, respondent.answers)]
    earlier = [index for index in visible_pages if index < page]
    return {
        "lang": language, "title": document.title_in(language), "action": action, "page": page + 1,
        "page_number": (visible_pages.index(page) + 1) if page in visible_pages else page + 1,
        "page_count": max(len(visible_pages), 1), "questions": questions,
        "page_title": text_for(document.pages[page].title, language),
        "page_intro": text_for(document.pages[page].intro, language),
        "intro": text_for(document.intro, language) if page == 0 and respondent.response is None else "",
        "resumed": resumed and respondent.response is not None,
        "last": _last(respondent, page),
        "back_url": f"{action}?page={earlier[-1] + 1}" if earlier else None,
        "error_list": [question for question in questions if question["error"]], "focus": focus, "notice": notice,
    }


def _last(respondent: Respondent, page: int) -> bool:
    """No later page can show: none is visible now, and none depends on this page's answers."""
    document = respondent.document
    if next_visible_page(document, page, respondent.answers) is not None:
        return False
    on_page = {question.name for question in document.pages[page].questions}
    later = [question for index, question in document.questions() if index > page]
    return not any(questions_of(condition) & on_page for question in later
                   if (condition := document.condition(question)) is not None)


def thanks_context(respondent: Respondent) -> dict[str, Any]:
    """The thank-you page of a completed response."""
    language = respondent.language
    return {"lang": language, "title": respondent.document.title_in(language),
            "thanks": text_for(respondent.document.thanks, language)}


def preview_html(document: SurveyDocument, language: str, page: int, *, sender: str) -> str:
    """Page `page` of a survey as a first-time respondent sees it (`relance survey preview`), nothing stored."""
    from core.models import Contact, Invitation, Survey, SurveyVersion
    from web.i18n import translator as make_translator
    from web.state import template_environment

    respondent = Respondent(Invitation(id="preview", channel="email"), Survey(name=document.name,
                            anonymous=document.anonymous), SurveyVersion(version=0), document, Contact(), None,
                            document.language(language))
    context = page_context(respondent, page, action="#")
    lang = context.pop("lang")
    return template_environment().get_template("survey_page.html").render(
        lang=lang, t=make_translator(lang), sender=sender, **context)
