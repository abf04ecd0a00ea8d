"""Errors raised by the template pipeline, each naming the template, line and variable when known."""

from __future__ import annotations


class TemplateError(ValueError):
    """A template that cannot be used: fails to compile, or uses a variable contacts do not have."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None,
                 name: str | None = None) -> None:
        self.template = template
        self.line = line
        self.name = name
        where = template or "template"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}")


class TemplateNotFound(LookupError):
    """No template of that name (or no version in any usable locale)."""


class RenderError(ValueError):
    """One recipient's message cannot be rendered (no address, SMS too long, unformattable postal address)."""
