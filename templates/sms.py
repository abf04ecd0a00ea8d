"""SMS text rules: GSM-7 vs UCS-2 detection, segment counting (160/153, 70/67), opt-out mention, limits."""

from __future__ import annotations

from dataclasses import dataclass

from templates.errors import RenderError

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")  # sent as ESC + char: two septets each
# Typographic characters silently replaced by their GSM-7 look-alikes (as providers' "smart encoding" does).
SMART_REPLACEMENTS = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
})
SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}
DEFAULT_MAX_SEGMENTS = 6
HARD_MAX_SEGMENTS = 10  # providers truncate or refuse beyond ~1600 characters
OPT_OUT = {
    "fr": ("STOP au {number}", "Désabonnement : répondez STOP"),
    "en": ("Reply STOP to {number} to opt out", "Reply STOP to opt out"),
}


@dataclass(frozen=True)
class SMSInfo:
    """How an SMS text travels: encoding, code units (septets or UTF-16 units) and segments."""

    encoding: str
    units: int
    segments: int

    def as_metadata(self) -> dict[str, object]:
        return {"encoding": self.encoding, "units": self.units, "segments": self.segments}


def smart_text(text: str) -> str:
    """Typographic quotes, dashes, ellipsis and non-breaking spaces replaced by GSM-7 characters."""
    return text.translate(SMART_REPLACEMENTS)


def encoding_of(text: str) -> str:
    """GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2."""
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "UCS-2"


def _unit_sizes(text: str, encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # surrogate pairs take two UTF-16 units


def analyse(text: str) -> SMSInfo:
    """Encoding, length in units and segment count; a character's units are never split across segments."""
    encoding = encoding_of(text)
    sizes = _unit_sizes(text, encoding)
    units = sum(sizes)
    if units <= SINGLE[encoding]:
        return SMSInfo(encoding, units, 1)
    segments, used = 1, 0
    for size in sizes:
        if used + size > MULTI[encoding]:
            segments, used = segments + 1, 0
        used += size
    return SMSInfo(encoding, units, segments)


def opt_out_mention(locale: str, stop_number: str | None) -> str:
    """The opt-out sentence for `locale` (French CPCE: free opt-out in every marketing SMS)."""
    with_number, without = OPT_OUT.get(locale.split("-")[0], OPT_OUT["en"])
    return with_number.format(number=stop_number) if stop_number else without


def finish_sms(body: str, *, locale: str, stop_number: str | None, max_segments: int = DEFAULT_MAX_SEGMENTS) -> tuple[
        str, SMSInfo]:
    """The final text (smart-encoded, opt-out appended) and its info; too long → RenderError."""
    text = smart_text(" ".join(line.strip() for line in body.strip().splitlines() if line.strip()))
    if not text:
        raise RenderError("SMS text is empty")
    mention = opt_out_mention(locale, stop_number)
    if mention.lower() not in text.lower():
        text = f"{text}\n{mention}"
    info = analyse(text)
    limit = min(max_segments, HARD_MAX_SEGMENTS)
    if info.segments > limit:
        raise RenderError(f"SMS is {info.segments} segments ({info.encoding}, {info.units} units); limit is {limit}")
    return text, info
