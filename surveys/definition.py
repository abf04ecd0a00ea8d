"""Surveys as code: the YAML document (texts per language, pages of typed questions, skip logic, write-back),
checked as a whole with errors that name the path of each problem."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from surveys.checks import document_problems
from surveys.conditions import Condition, parse_condition
from surveys.questions import (
    DEFAULT_LABELS,
    LINKABLE_TYPES,
    QUESTION_TYPES,
    MatrixQuestion,
    NpsQuestion,
    Question,
    Text,
    YesNoQuestion,
    _Scale,
    text_for,
)

SURVEY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,119}$")
DURATION = re.compile(r"^(\d{1,4})([dw])$")
Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")


class SurveyDefinitionError(ValueError):
    """A survey document that cannot be used; `problems` lists (path, why), the message names each path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{path or '(survey)'}: {why}" for path, why in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Page(_Model):
    """One page of the survey: saved when submitted, so the link resumes at the next page."""

    title: Text | None = None
    intro: Text | None = None
    questions: list[Question] = Field(min_length=1)


class ConsentTarget(_Model):
    """The consent a yes/no answer gives or withdraws."""

    channel: Literal["email", "sms", "mail"] = "email"
    topic: str = Field(default="marketing", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")


class WriteBack(_Model):
    """Where an answer goes in the contact's record: a field, an attribute, a tag (while `when` holds) or a
    consent (a yes/no question; the survey is the proof)."""

    question: str
    field: str | None = None
    attribute: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    tag: str | None = Field(default=None, min_length=1, max_length=120)
    consent: ConsentTarget | None = None
    when: Any = None  # for tags: a comparison on the answer, e.g. {gte: 9}

    @model_validator(mode="after")
    def _one_target(self) -> WriteBack:
        targets = [name for name in ("field", "attribute", "tag", "consent") if getattr(self, name) is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of field, attribute, tag or consent")
        if self.when is not None and self.tag is None:
            raise ValueError("`when` applies to tags only")
        return self


class SurveyDocument(_Model):
    """A whole survey document as written in `examples/surveys/*.yaml`."""

    name: str
    title: Text
    intro: Text | None = None
    thanks: Text | None = None
    languages: list[Language] = Field(default_factory=lambda: list(LANGUAGES), min_length=1)
    anonymous: bool = False
    closes_at: datetime | None = None
    links_valid_for: str = "60d"
    pages: list[Page] = Field(min_length=1)
    write_back: list[WriteBack] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SURVEY_NAME.match(value):
            raise ValueError("a survey name is lowercase letters, digits, '-', '_' or '.' (max 120)")
        return value

    @field_validator("closes_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone offset (e.g. 2026-12-31T23:59:00+01:00)")
        return value

    @field_validator("links_valid_for")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not DURATION.match(value):
            raise ValueError("a duration in days or weeks, like 60d or 8w")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> SurveyDocument:
        problems = document_problems(self)
        if problems:
            raise SurveyDefinitionError(problems)
        return self

    # -- reading the document ---------------------------------------------------------------------------------
    def questions(self) -> Iterator[tuple[int, Question]]:
        """(page index, question) in order."""
        for index, page in enumerate(self.pages):
            for question in page.questions:
                yield index, question

    def question(self, name: str) -> Question:
        for _, question in self.questions():
            if question.name == name:
                return question
        raise KeyError(name)

    def condition(self, question: Question) -> Condition | None:
        """The parsed `visible_if` of a question (checked when the document was loaded)."""
        if question.visible_if is None:
            return None
        return parse_condition(question.visible_if, "", [])

    def link_days(self) -> timedelta:
        match = DURATION.match(self.links_valid_for)
        assert match is not None
        amount = int(match.group(1))
        return timedelta(days=amount * (7 if match.group(2) == "w" else 1))

    def language(self, wanted: str | None) -> str:
        """The page language for a contact: theirs when the survey has it, else the survey's first."""
        code = (wanted or "")[:2].lower()
        return code if code in self.languages else self.languages[0]

    def title_in(self, language: str) -> str:
        return text_for(self.title, language, self.languages[0])

    def first_question(self) -> dict[str, Any] | None:
        """What an invitation can embed: the first question as one-tap choices, when it is a scale without
        skip logic (nps, csat, rating, yes/no); its texts and labels in every language."""
        question = self.pages[0].questions[0]
        if question.type not in LINKABLE_TYPES or question.visible_if is not None:
            return None
        texts = {language: text_for(question.text, language) for language in self.languages}
        if isinstance(question, YesNoQuestion):
            labels = {language: DEFAULT_LABELS["yes_no"][language] for language in self.languages}
            choices = [{"value": value, "label": {language: labels[language][index] for language in self.languages}}
                       for index, value in enumerate(("yes", "no"))]
        else:
            assert isinstance(question, _Scale)
            scale = question.scale() or []
            choices = [{"value": str(value), "label": {language: question.label(value, language)
                                                       for language in self.languages}} for value in scale]
        descriptor: dict[str, Any] = {"name": question.name, "type": question.type, "text": texts,
                                      "choices": choices, "alone": len(self.pages[0].questions) == 1}
        if isinstance(question, NpsQuestion):
            descriptor["ends"] = {language: list(question.ends(language)) for language in self.languages}
        return descriptor

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json(by_alias=True, exclude_none=True))

    def checksum(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def flat_names(self) -> list[str]:
        """Every answer key as events and exports show it (matrix rows as `question_row`)."""
        names: list[str] = []
        for _, question in self.questions():
            if isinstance(question, MatrixQuestion):
                names += [f"{question.name}_{row.value}" for row in question.rows]
            else:
                names.append(question.name)
        return names


def _path(location: tuple[Any, ...]) -> str:
    """`pages[1].questions[0].scale` from pydantic's location, without union tags and validator names."""
    path = ""
    previous: Any = None
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(previous, int) and part in QUESTION_TYPES:
            pass  # the discriminator's tag
        elif str(part).isidentifier():
            path += f".{part}" if path else str(part)
        previous = part
    return path


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "union_tag_not_found":
        return f"give the question's type: one of {', '.join(QUESTION_TYPES)}"
    if kind == "union_tag_invalid":
        return f"unknown question type {error['input'].get('type')!r}; use one of {', '.join(QUESTION_TYPES)}"
    if kind == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_survey(document: Any) -> SurveyDocument:
    """A validated survey; raises SurveyDefinitionError naming the path of every problem."""
    if not isinstance(document, dict):
        raise SurveyDefinitionError([("", "a survey is a mapping (name, title, pages, ...)")])
    try:
        return SurveyDocument.model_validate(document)
    except ValidationError as exc:
        problems: list[tuple[str, str]] = []
        for error in exc.errors():
            inner = error.get("ctx", {}).get("error")
            if isinstance(inner, SurveyDefinitionError):
                problems += inner.problems
            elif (_path(error["loc"]), _message(error)) not in problems:
                problems.append((_path(error["loc"]), _message(error)))
        raise SurveyDefinitionError(problems) from None


def load_survey(path: str | Path) -> SurveyDocument:
    """Read a survey from a YAML (or JSON) file."""
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SurveyDefinitionError([("", f"{file.name} is not valid YAML: {exc}")]) from None
    except OSError as exc:
        raise SurveyDefinitionError([("", f"cannot read {file}: {exc.strerror}")]) from None
    return parse_survey(document)
