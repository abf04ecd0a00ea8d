"""Question types (nps, csat, rating, single, multiple, text, yes_no, matrix): their YAML form and how a posted
page becomes checked answers (server-side: required, ranges, choice values, lengths)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

QUESTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# Keys every survey.answered event carries next to the answers: a question may not take these names.
RESERVED_NAMES = frozenset({"survey", "version", "page", "completed", "response", "language", "channel", "anonymous"})
Text = str | dict[str, str]  # one text for every language, or language -> text
OTHER = "other"

DEFAULT_LABELS: dict[str, dict[str, Any]] = {
    "nps": {"fr": ("Pas du tout probable", "Très probable"), "en": ("Not at all likely", "Extremely likely")},
    "csat": {"fr": ("Très insatisfait", "Insatisfait", "Neutre", "Satisfait", "Très satisfait"),
             "en": ("Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied")},
    "yes_no": {"fr": ("Oui", "Non"), "en": ("Yes", "No")},
    "other": {"fr": "Autre", "en": "Other"},
}


def text_for(text: Text | None, language: str, fallback: str = "en") -> str:
    """`text` in `language` (then `fallback`, then any language)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get(fallback) or next(iter(text.values()), "")


@dataclass
class Parsed:
    """One question's posted answer after checking: what to store, or why it is refused."""

    value: Any = None  # int | bool | str | list[str] | dict[row, int] | None (not answered)
    text: str | None = None
    error: str | None = None  # message key (web/i18n), e.g. "required", "out_of_range"
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.value is not None and self.value != [] and self.value != {}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    """A choice: the stored `value` and its label per language (a plain string is both)."""

    value: str = Field(min_length=1, max_length=64)
    label: Text

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str | int) and not isinstance(data, bool):
            return {"value": str(data), "label": str(data)}
        return data


class _Question(_Model):
    name: str
    text: Text
    help: Text | None = None
    required: bool = False
    visible_if: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not QUESTION_NAME.match(value):
            raise ValueError("a question name is lowercase letters, digits and _, starting with a letter (max 48)")
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved (events carry it); choose another name")
        return value

    def field_name(self) -> str:
        """The form field of this question on the page."""
        return f"q.{self.name}"

    def scale(self) -> list[int] | None:
        """The values of a numeric scale (None for other types)."""
        return None

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        raise NotImplementedError

    def _one(self, form: Mapping[str, list[str]], name: str | None = None) -> str:
        values = form.get(name or self.field_name()) or [""]
        return values[-1].strip()

    def _missing(self) -> Parsed:
        return Parsed(error="required") if self.required else Parsed()


class _Scale(_Question):
    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        raw = self._one(form)
        if not raw:
            return self._missing()
        return self.parse_number(raw)

    def parse_number(self, raw: str) -> Parsed:
        scale = self.scale() or []
        try:
            number = int(raw)
        except ValueError:
            return Parsed(error="out_of_range", params={"low": scale[0], "high": scale[-1]})
        if number not in scale:
            return Parsed(error="out_of_range", params={"low": scale[0], "high": scale[-1]})
        return Parsed(value=number)

    def label(self, value: int, language: str) -> str:
        return str(value)


class NpsQuestion(_Scale):
    """Net Promoter Score: 0–10, promoters 9–10, detractors 0–6."""

    type: Literal["nps"]
    low_label: Text | None = None
    high_label: Text | None = None

    def scale(self) -> list[int]:
        return list(range(0, 11))

    def ends(self, language: str) -> tuple[str, str]:
        low, high = DEFAULT_LABELS["nps"].get(language, DEFAULT_LABELS["nps"]["en"])
        return text_for(self.low_label, language) or low, text_for(self.high_label, language) or high


class CsatQuestion(_Scale):
    """Customer satisfaction: 1–5, satisfied = 4 or 5."""

    type: Literal["csat"]
    labels: dict[int, Text] = Field(default_factory=dict)

    def scale(self) -> list[int]:
        return [1, 2, 3, 4, 5]

    def label(self, value: int, language: str) -> str:
        if value in self.labels:
            return text_for(self.labels[value], language)
        return str(DEFAULT_LABELS["csat"].get(language, DEFAULT_LABELS["csat"]["en"])[value - 1])


class RatingQuestion(_Scale):
    """A rating from 1 to `scale` (2–10), with optional labels per value."""

    type: Literal["rating"]
    scale_max: int = Field(default=5, ge=2, le=10, alias="scale")
    labels: dict[int, Text] = Field(default_factory=dict)

    def scale(self) -> list[int]:
        return list(range(1, self.scale_max + 1))

    def label(self, value: int, language: str) -> str:
        return text_for(self.labels[value], language) if value in self.labels else str(value)


class YesNoQuestion(_Question):
    """Yes or no (stored as true / false)."""

    type: Literal["yes_no"]

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        raw = self._one(form)
        if not raw:
            return self._missing()
        if raw not in ("yes", "no"):
            return Parsed(error="unknown_choice")
        return Parsed(value=raw == "yes")


class _Choice(_Question):
    options: list[Option] = Field(min_length=1)
    other: bool = False

    @field_validator("options")
    @classmethod
    def _unique(cls, value: list[Option]) -> list[Option]:
        values = [option.value for option in value]
        if len(set(values)) != len(values):
            raise ValueError("option values must be unique")
        if OTHER in values:
            raise ValueError("'other' is added by `other: true`; do not list it")
        return value

    def values(self) -> list[str]:
        return [option.value for option in self.options] + ([OTHER] if self.other else [])

    def other_field(self) -> str:
        return f"{self.field_name()}.other"

    def _other_text(self, form: Mapping[str, list[str]], chosen: bool) -> tuple[str | None, Parsed | None]:
        text = self._one(form, self.other_field())[:500]
        if chosen and not text:
            return None, Parsed(error="other_missing")
        return (text if chosen else None), None


class SingleChoiceQuestion(_Choice):
    """One option among several (radio buttons), optionally "other" with a text."""

    type: Literal["single"]

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        raw = self._one(form)
        if not raw:
            return self._missing()
        if raw not in self.values():
            return Parsed(error="unknown_choice")
        text, problem = self._other_text(form, raw == OTHER)
        return problem or Parsed(value=raw, text=text)


class MultipleChoiceQuestion(_Choice):
    """Any number of options (checkboxes), optionally bounded, optionally "other" with a text."""

    type: Literal["multiple"]
    min_choices: int | None = Field(default=None, ge=1)
    max_choices: int | None = Field(default=None, ge=1)

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        chosen = [value.strip() for value in form.get(self.field_name(), []) if value.strip()]
        if not chosen:
            return self._missing()
        if any(value not in self.values() for value in chosen):
            return Parsed(error="unknown_choice")
        unique = [value for value in self.values() if value in chosen]
        if self.min_choices and len(unique) < self.min_choices:
            return Parsed(error="too_few", params={"n": self.min_choices})
        if self.max_choices and len(unique) > self.max_choices:
            return Parsed(error="too_many", params={"n": self.max_choices})
        text, problem = self._other_text(form, OTHER in unique)
        return problem or Parsed(value=unique, text=text)


class TextQuestion(_Question):
    """Free text: one line, or several with `long: true`."""

    type: Literal["text"]
    long: bool = False
    max_length: int | None = Field(default=None, ge=1, le=20_000)

    @property
    def limit(self) -> int:
        return self.max_length or (5000 if self.long else 300)

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        raw = self._one(form).replace("\r\n", "\n")
        if not raw:
            return self._missing()
        if len(raw) > self.limit:
            return Parsed(error="too_long", params={"n": self.limit})
        return Parsed(value=raw, text=raw)


class MatrixQuestion(_Question):
    """Rows rated on one scale 1..`scale` (e.g. satisfaction with support, price, product); stored per row."""

    type: Literal["matrix"]
    rows: list[Option] = Field(min_length=1)
    scale_max: int = Field(default=5, ge=2, le=10, alias="scale")
    labels: dict[int, Text] = Field(default_factory=dict)

    @field_validator("rows")
    @classmethod
    def _rows(cls, value: list[Option]) -> list[Option]:
        values = [row.value for row in value]
        if len(set(values)) != len(values) or not all(QUESTION_NAME.match(item) for item in values):
            raise ValueError("row values must be unique lowercase names (letters, digits, _)")
        return value

    def scale(self) -> list[int]:
        return list(range(1, self.scale_max + 1))

    def row_field(self, row: str) -> str:
        return f"{self.field_name()}.{row}"

    def label(self, value: int, language: str) -> str:
        return text_for(self.labels[value], language) if value in self.labels else str(value)

    def parse(self, form: Mapping[str, list[str]]) -> Parsed:
        values: dict[str, int] = {}
        for row in self.rows:
            raw = self._one(form, self.row_field(row.value))
            if not raw:
                continue
            if not raw.isdigit() or int(raw) not in self.scale():
                return Parsed(error="out_of_range", params={"low": 1, "high": self.scale_max})
            values[row.value] = int(raw)
        if self.required and len(values) < len(self.rows):
            return Parsed(error="rows_missing")
        return Parsed(value=values or None)


Question = Annotated[
    NpsQuestion | CsatQuestion | RatingQuestion | YesNoQuestion | SingleChoiceQuestion | MultipleChoiceQuestion
    | TextQuestion | MatrixQuestion,
    Field(discriminator="type"),
]
QUESTION_TYPES = ("nps", "csat", "rating", "single", "multiple", "text", "yes_no", "matrix")
LINKABLE_TYPES = ("nps", "csat", "rating", "yes_no")  # a first question the email can carry as one-tap links


def number_of(value: Any) -> float | None:
    """The numeric reading of an answer (scales as they are, yes = 1 / no = 0), for aggregates."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None
