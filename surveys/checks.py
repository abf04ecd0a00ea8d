"""Whole-document checks of a survey: every text in every language, unique names, skip logic that reads only
earlier pages with values that fit each question, write-back targets that exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from surveys.conditions import Match, matches_of, parse_condition
from surveys.questions import (
    MatrixQuestion,
    MultipleChoiceQuestion,
    Question,
    SingleChoiceQuestion,
    TextQuestion,
    YesNoQuestion,
    _Choice,
)

if TYPE_CHECKING:
    from surveys.definition import SurveyDocument

Problems = list[tuple[str, str]]
# Contact columns an answer may fill (text or single-choice answers).
WRITABLE_FIELDS = ("first_name", "last_name", "company", "job_title", "city", "postcode", "country", "language")


def document_problems(document: SurveyDocument) -> Problems:
    """Every problem of a parsed document, with its path."""
    problems: Problems = []
    _check_texts(document, problems)
    located = _check_names(document, problems)
    for page_index, page in enumerate(document.pages):
        for question_index, question in enumerate(page.questions):
            if question.visible_if is not None:
                path = f"pages[{page_index}].questions[{question_index}].visible_if"
                _check_condition(question.visible_if, path, page_index, located, problems)
    for index, rule in enumerate(document.write_back):
        _check_write_back(document, rule, f"write_back[{index}]", located, problems)
    return problems


def _texts_of(document: SurveyDocument) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [("title", document.title), ("intro", document.intro), ("thanks", document.thanks)]
    for page_index, page in enumerate(document.pages):
        base = f"pages[{page_index}]"
        found += [(f"{base}.title", page.title), (f"{base}.intro", page.intro)]
        for question_index, question in enumerate(page.questions):
            where = f"{base}.questions[{question_index}]"
            found += [(f"{where}.text", question.text), (f"{where}.help", question.help)]
            found += [(f"{where}.{key}", getattr(question, key, None)) for key in ("low_label", "high_label")]
            for key in ("options", "rows"):
                found += [(f"{where}.{key}[{index}].label", option.label)
                          for index, option in enumerate(getattr(question, key, None) or [])]
            found += [(f"{where}.labels.{value}", label) for value, label in (getattr(question, "labels", None)
                                                                               or {}).items()]
    return found


def _check_texts(document: SurveyDocument, problems: Problems) -> None:
    for path, text in _texts_of(document):
        if isinstance(text, dict):
            missing = [language for language in document.languages if not text.get(language)]
            if missing:
                problems.append((path, f"missing the {', '.join(missing)} text (the survey's languages: "
                                       f"{', '.join(document.languages)})"))
            extra = sorted(set(text) - set(document.languages))
            if extra:
                problems.append((path, f"{', '.join(extra)} is not one of the survey's languages"))


def _check_names(document: SurveyDocument, problems: Problems) -> dict[str, tuple[int, Question]]:
    """Question names by name with their page; a repeated name (or matrix row key) is a problem."""
    located: dict[str, tuple[int, Question]] = {}
    flat: set[str] = set()
    for page_index, page in enumerate(document.pages):
        for question_index, question in enumerate(page.questions):
            path = f"pages[{page_index}].questions[{question_index}].name"
            keys = [f"{question.name}_{row.value}" for row in question.rows] \
                if isinstance(question, MatrixQuestion) else [question.name]
            if question.name in located or any(key in flat for key in keys):
                problems.append((path, f"question name {question.name!r} is used twice"))
            located.setdefault(question.name, (page_index, question))
            flat.update(keys)
    return located


def _check_condition(data: Any, path: str, page_index: int | None, located: dict[str, tuple[int, Question]],
                     problems: Problems) -> None:
    condition = parse_condition(data, path, problems)
    if condition is None:
        return
    for match in matches_of(condition):
        if match.question not in located:
            problems.append((path, f"no question named {match.question!r}"))
            continue
        where, question = located[match.question]
        if page_index is not None and where >= page_index:
            problems.append((path, f"{match.question!r} is not on an earlier page: skip logic reads answers "
                                   "already saved (pages work without JavaScript)"))
            continue
        why = _mismatch(question, match)
        if why:
            problems.append((f"{path}.{match.question}", why))


def _mismatch(question: Question, match: Match) -> str | None:
    """Why `match` cannot apply to `question`'s answers (None when it can)."""
    if match.op == "answered":
        return None
    if isinstance(question, TextQuestion | MatrixQuestion):
        return f"a {question.type} answer can only be tested with `answered: true|false`"
    operands = list(match.value) if isinstance(match.value, tuple) else [match.value]
    if isinstance(question, YesNoQuestion):
        if match.op not in ("eq", "ne") or not all(isinstance(item, bool) for item in operands):
            return "a yes/no answer is tested with true or false"
        return None
    if isinstance(question, _Choice):
        if match.op in ("gt", "gte", "lt", "lte"):
            return f"a choice cannot be compared with {match.op}"
        if match.op == "contains" and not isinstance(question, MultipleChoiceQuestion):
            return "contains applies to multiple-choice questions"
        unknown = [str(item) for item in operands if str(item) not in question.values()]
        return f"not an option: {', '.join(unknown)} (options: {', '.join(question.values())})" if unknown else None
    scale = question.scale() or []
    if match.op == "contains" or not all(isinstance(item, int | float) and not isinstance(item, bool)
                                         for item in operands):
        return f"a {question.type} answer is a number from {scale[0]} to {scale[-1]}"
    return None


def _check_write_back(document: SurveyDocument, rule: Any, path: str, located: dict[str, tuple[int, Question]],
                      problems: Problems) -> None:
    if document.anonymous:
        problems.append((path, "an anonymous survey writes nothing back to contacts (no contact is kept)"))
        return
    if rule.question not in located:
        problems.append((f"{path}.question", f"no question named {rule.question!r}"))
        return
    question = located[rule.question][1]
    if rule.field is not None:
        if rule.field not in WRITABLE_FIELDS:
            problems.append((f"{path}.field", f"use one of {', '.join(WRITABLE_FIELDS)} (or attribute: NAME)"))
        elif not isinstance(question, TextQuestion | SingleChoiceQuestion):
            problems.append((f"{path}.field", "a contact field takes a text or single-choice answer"))
    if rule.consent is not None and not isinstance(question, YesNoQuestion):
        problems.append((f"{path}.consent", "consent is written from a yes/no question"))
    if rule.when is not None:
        _check_condition({rule.question: rule.when}, f"{path}.when", None, located, problems)
