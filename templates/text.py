"""HTML → plain-text alternative, done once per compiled template (Jinja expressions pass through intact)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = frozenset({"head", "style", "script", "title", "xml"})
VOID = frozenset({"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "source", "wbr"})
BLOCKS = frozenset({"p", "div", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "section",
                    "blockquote", "center"})
HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.I)


class _TextExtractor(HTMLParser):
    """Collects visible text, turning links into `label (url)` and blocks into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden)
        self.link: tuple[str, list[str]] | None = None

    @property
    def hidden(self) -> bool:
        return any(hidden for _, hidden in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in VOID:
            if tag == "br" and not self.hidden:
                self.out.append("\n")
            return
        hidden = tag in SKIPPED or bool(HIDDEN.search(values.get("style") or ""))
        self.stack.append((tag, hidden))
        if tag in BLOCKS and not self.hidden:
            self.out.append("\n\n" if tag in ("p", "h1", "h2", "h3", "table") else "\n")
        elif tag == "li" and not self.hidden:
            self.out.append("\n- ")
        elif tag == "a" and not self.hidden:
            self.link = (values.get("href") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not any(open_tag == tag for open_tag, _ in self.stack):
            return
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break
        if tag == "a" and self.link is not None:
            self._close_link()
        elif tag in BLOCKS and not self.hidden:
            self.out.append("\n")

    def _close_link(self) -> None:
        assert self.link is not None
        href, parts = self.link
        self.link = None
        label = " ".join("".join(parts).split())
        if href.startswith("mailto:"):
            self.out.append(label or href[7:])
        elif not href or href.startswith("#") or label == href:
            self.out.append(label or href)
        else:
            self.out.append(f"{label} ({href})" if label else href)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        text = re.sub(r"\s+", " ", data)
        if self.link is not None:
            self.link[1].append(text)
        else:
            self.out.append(text)


def html_to_text(html: str) -> str:
    """The readable text of an HTML email: one paragraph per block, links spelled out."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
