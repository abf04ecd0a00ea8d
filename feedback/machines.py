"""Recognising opens and clicks made by machines: privacy proxies, security scanners, link checkers, bots."""

from __future__ import annotations

import re

# Substrings (lower-case) of user agents that fetch images or follow links without a person reading:
# mailbox privacy proxies (they prefetch every image), corporate security gateways and generic clients.
MACHINE_AGENTS = (
    "googleimageproxy", "yahoomailproxy", "ymailproxy", "apple-mail-privacy", "proofpoint", "mimecast",
    "barracuda", "symantec", "messagelabs", "trendmicro", "fortinet", "forcepoint", "sophos", "cisco",
    "ironport", "microsoft office protocol discovery", "ms-office", "safelinks", "linkscanner", "bitdefender",
    "zscaler", "python-requests", "python-urllib", "go-http-client", "curl/", "wget/", "java/", "okhttp",
    "headlesschrome", "phantomjs", "facebookexternalhit", "slackbot", "twitterbot", "linkedinbot",
)
_BOT_WORDS = re.compile(r"\b(bot|crawler|spider|scanner|preview|prefetch|monitor)\b", re.IGNORECASE)


def is_machine(user_agent: str | None, *, provider_flag: bool = False) -> bool:
    """Whether an open or click came from a machine (empty agent, proxy, scanner) rather than a person."""
    if provider_flag:
        return True
    agent = (user_agent or "").strip().lower()
    if not agent:
        return True
    return any(marker in agent for marker in MACHINE_AGENTS) or bool(_BOT_WORDS.search(agent))
