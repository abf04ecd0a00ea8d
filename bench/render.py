"""Personalised email renders per second per core, against the floor: a bare Jinja render of the same HTML.

Usage: python -m bench.render [--count N] [--template welcome]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from core.settings import Settings
from templates.environment import HTML_ENV
from templates.pipeline import prepare_library
from templates.render import PreparedEmail

BUDGET = 20_000


def _contacts(count: int) -> list[dict[str, Any]]:
    names = ("Camille", "Léa", "Hugo", "Oliver", "Zoé", "Chloé", "Louis", "Emma")
    return [{"id": i, "email": f"user{i}@example.org", "first_name": names[i % len(names)], "last_name": "Martin",
             "company": f"Société {i % 97}", "language": "fr", "attributes": {"plan": "pro"}} for i in range(count)]


def _rate(count: int, work: Any) -> float:
    start = time.process_time()
    work()
    return count / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--template", default="welcome")
    args = parser.parse_args()
    settings = Settings(_env_file=None, public_url="https://go.example.net")  # type: ignore[call-arg]
    prepared = prepare_library(args.template, locale="fr", settings=settings)
    assert isinstance(prepared, PreparedEmail)
    contacts = _contacts(args.count)
    utm = {"utm_source": "relance", "utm_medium": "email", "utm_campaign": "bench"}
    bare = HTML_ENV.from_string(prepared.body.html)
    links = [f"https://go.example.net/t/c/{i}" for i in range(len(prepared.body.links))]
    base = {**prepared.base_context, "_l": links, "_open": "https://go.example.net/t/o/x", "subject": "s",
            "preheader": "p", "unsubscribe_url": "https://go.example.net/u/x"}

    def ours() -> None:
        for index, contact in enumerate(contacts):
            prepared.render(contact, message_id=f"m-{index}", campaign="bench", utm=utm)

    def floor() -> None:
        for contact in contacts:
            bare.render({**base, "contact": contact})

    ours()  # warm-up (UTM destination cache, allocator)
    rate, floor_rate = _rate(len(contacts), ours), _rate(len(contacts), floor)
    print(f"template {args.template!r}: {len(prepared.body.html):,} bytes compiled, {len(prepared.body.links)} links")
    print(f"full personalised render (subject + HTML + text + signed links + headers): {rate:,.0f} emails/s per core")
    print(f"floor — bare Jinja render of the same compiled HTML only: {floor_rate:,.0f} renders/s")
    print(f"ratio to floor: {rate / floor_rate:.2f}x ; budget {BUDGET:,}/s: {'OK' if rate >= BUDGET else 'MISSED'}")


if __name__ == "__main__":
    main()
