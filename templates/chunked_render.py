"""Per-recipient fast path: compiled parts split into static chunks plus ONE small Jinja render of the holes.

A compiled email is ~25 KB of static markup around a dozen expressions. Rendering it through Jinja yields
and joins every chunk per recipient, and the subject, preheader and text alternative each cost another
render. Here the static chunks are joined once at prepare time, expressions that only read prepare-time
constants (brand, postal address, locale) are evaluated once, and every remaining per-recipient hole of
every part is rendered by ONE sandboxed template (`{% autoescape %}` blocks keep each part's escaping),
its outputs separated by a sentinel. The result is identical to rendering each part with Jinja (tests
compare both); a part using a feature the split does not support (set, macro, include, whitespace
control, raw) makes the whole message take the plain Jinja path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, meta
from jinja2 import Template as JinjaTemplate
from markupsafe import escape

SEPARATOR = "\x1e"  # ASCII record separator: never produced by the templates' static text
TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.S)
KEYWORD = re.compile(r"\{%[-+]?\s*(\w+)")
SLOT = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")
OPENERS = frozenset({"if", "for", "filter", "with", "autoescape", "call"})
UNSUPPORTED = frozenset({"set", "macro", "include", "import", "from", "extends", "block", "raw", "trans"})


class Unsplittable(ValueError):
    """A template uses a feature the fast path does not split; render it with plain Jinja."""


def _keyword(piece: str) -> str | None:
    match = KEYWORD.match(piece) if piece.startswith("{%") else None
    return match.group(1) if match else None


def segments(source: str) -> list[tuple[bool, str]]:
    """Top-level (is_static, text) segments: static text, or one expression / one whole block statement."""
    result: list[tuple[bool, str]] = []
    depth, hole = 0, ""
    for index, piece in enumerate(TAG.split(source.replace("\r\n", "\n"))):
        is_tag = index % 2 == 1
        if is_tag and piece.startswith("{#"):
            continue
        if is_tag and (piece[2:3] in "-+" or piece[-3:-2] in "-+"):
            raise Unsplittable("whitespace control")
        keyword = _keyword(piece) if is_tag else None
        if keyword in UNSUPPORTED:
            raise Unsplittable(str(keyword))
        if depth == 0 and not is_tag:
            result.append((True, piece))
            continue
        hole += piece
        depth += 1 if keyword in OPENERS else -1 if keyword and keyword.startswith("end") else 0
        if depth < 0:
            raise Unsplittable("unbalanced blocks")
        if depth == 0:
            result.append((False, hole))
            hole = ""
    if depth:
        raise Unsplittable("unclosed block")
    return result


@dataclass
class Part:
    """One output (html, text, subject...): static chunks around holes; a hole is Jinja or a slot name."""

    name: str
    env: Environment
    source: str
    static: list[str] = field(default_factory=lambda: [""])
    holes: list[str] = field(default_factory=list)  # Jinja sources rendered per recipient
    order: list[tuple[str, Any]] = field(default_factory=list)  # ("hole", index) or ("slot", part name)


def split_part(name: str, env: Environment, source: str, constants: Mapping[str, Any],
               slots: Sequence[str]) -> Part:
    """Split `source`; constant holes are rendered now; `{{ slot }}` holes take an earlier part's value."""
    part = Part(name, env, source)
    for is_static, text in segments(source):
        slot = SLOT.match(text.strip()) if not is_static else None
        if is_static:
            part.static[-1] += text
        elif slot and slot.group(1) in slots:
            part.order.append(("slot", slot.group(1)))
            part.static.append("")
        elif meta.find_undeclared_variables(env.parse(text)) <= set(constants):
            part.static[-1] += env.from_string(text).render(constants)
        else:
            part.order.append(("hole", len(part.holes)))
            part.holes.append(text)
            part.static.append("")
    if not env.keep_trailing_newline and part.static[-1].endswith("\n"):
        part.static[-1] = part.static[-1][:-1]
    return part


def _identity(value: str) -> str:
    return value


class MultiRender:
    """Renders several parts for one recipient with a single Jinja render (or plain Jinja as a fallback).

    `parts` are (name, env, source) in dependency order: a later part may use `{{ name }}` of an
    earlier one (e.g. the HTML's `<title>{{ subject }}</title>`). `post` post-processes a part's value.
    """

    def __init__(self, parts: Sequence[tuple[str, Environment, str]], constants: Mapping[str, Any],
                 post: Mapping[str, Callable[[str], str]] | None = None) -> None:
        self.post = dict(post or {})
        self.full = [(name, env.from_string(source)) for name, env, source in parts]
        self.parts: list[Part] = []
        self.holes: JinjaTemplate | None = None
        try:
            names: list[str] = []
            for name, env, source in parts:
                self.parts.append(split_part(name, env, source, constants, names))
                names.append(name)
        except Unsplittable:
            self.split = False
            return
        self.split = True
        self.total = sum(len(part.holes) for part in self.parts)
        blocks = [f"{{% autoescape {str(part.env.autoescape is True).lower()} %}}" + SEPARATOR.join(part.holes)
                  + "{% endautoescape %}" for part in self.parts if part.holes]
        self._globals: dict[str, Any] = {}
        if blocks:
            env = self.parts[0].env
            self.holes = env.from_string(SEPARATOR.join(blocks))
            self._globals = dict(self.holes.globals)  # flattened once: Jinja copies the ChainMap per render

    def _render_holes(self, context: dict[str, Any]) -> list[str]:
        """The holes' outputs: `Template.render` minus its per-call merge of the environment globals."""
        if self.holes is None:
            return []
        template = self.holes
        try:
            text = "".join(template.root_render_func(template.new_context({**self._globals, **context}, shared=True)))
        except Exception:  # noqa: BLE001 - re-raised by Jinja with the template's line numbers, as render() does
            template.environment.handle_exception()
        return text.split(SEPARATOR)

    def render_full(self, context: dict[str, Any]) -> dict[str, str]:
        """Plain Jinja, part by part (the reference the fast path must equal)."""
        values: dict[str, str] = {}
        for name, template in self.full:
            values[name] = context[name] = self.post.get(name, _identity)(template.render(context))
        return values

    def tagged(self, name: str, prefix: str) -> tuple[str, list[str]] | None:
        """Part `name` with its per-recipient values replaced by substitution tags (for provider batching)."""
        if not self.split:
            return None
        part = next(part for part in self.parts if part.name == name)
        tags = [f"[%{prefix}{index}%]" for index in range(len(part.order))]
        if any(tag in chunk for tag in tags for chunk in part.static):
            return None
        out = [""] * (2 * len(tags) + 1)
        out[0::2] = part.static
        out[1::2] = tags
        return "".join(out), tags

    def render(self, context: dict[str, Any], filled: dict[str, list[str]] | None = None) -> dict[str, str]:
        """Every part's value; when `filled` is given (fast path only) it receives each part's hole values."""
        if not self.split:
            return self.render_full(context)
        outputs = self._render_holes(context)
        if len(outputs) != self.total:  # a value contained the separator: take the exact slow path
            return self.render_full(context)
        values: dict[str, str] = {}
        position = 0
        for part in self.parts:
            if not part.order:
                value = part.static[0]
                if filled is not None:
                    filled[part.name] = []
            else:
                holes = []
                for kind, key in part.order:
                    if kind == "hole":
                        holes.append(outputs[position + key])
                    else:
                        slot_value = values[key]
                        holes.append(str(escape(slot_value)) if part.env.autoescape is True else slot_value)
                out = [""] * (2 * len(holes) + 1)
                out[0::2] = part.static
                out[1::2] = holes
                value = "".join(out)
                if filled is not None:
                    filled[part.name] = holes
            position += len(part.holes)
            values[part.name] = self.post.get(part.name, _identity)(value)
        return values
