"""Synthetic demo company: accounts, contacts, consent, four months of engagement and conversions (faker).

Conversion propensity depends on engagement (opens, clicks, pricing visits, demo requests), industry and
company size, so the scoring step has a real signal to learn.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from faker import Faker

from contacts.normalise import InvalidValue, account_key, normalise_phone

COUNTRIES = (("FR", 0.72), ("BE", 0.08), ("CH", 0.05), ("GB", 0.07), ("US", 0.04), ("DE", 0.04))
LOCALES = {"FR": "fr_FR", "BE": "fr_BE", "CH": "fr_CH", "GB": "en_GB", "US": "en_US", "DE": "de_DE"}
TIMEZONES = {"FR": "Europe/Paris", "BE": "Europe/Brussels", "CH": "Europe/Zurich", "GB": "Europe/London",
             "US": "America/New_York", "DE": "Europe/Berlin"}
INDUSTRIES = {"software": 0.9, "finance": 0.5, "healthcare": 0.2, "manufacturing": 0.0, "retail": -0.2,
              "hospitality": -0.5, "education": -0.6, "logistics": 0.1}
SIZES = (5, 15, 40, 120, 350, 1200, 5000)
SOURCES = ("website", "website", "salon", "webinar", "partner", "linkedin-ads", "google-ads", "import:crm")
FREE_MAIL = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "yahoo.fr", "outlook.com", "laposte.net")
PAGES = ("/", "/fonctionnalites", "/blog/automatisation", "/cas-clients", "/tarifs", "/tarifs", "/contact")
FORMS = ("newsletter", "whitepaper", "webinar", "demo-request")


@dataclass
class DemoCompany:
    """Everything generated, as plain rows ready for bulk inserts (contacts keyed by external id)."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)  # external_id, channel, status, proof...
    suppressions: list[tuple[str, str, str]] = field(default_factory=list)  # channel, address, reason
    events: list[dict[str, Any]] = field(default_factory=list)  # external_id, type, occurred_at, properties
    conversions: list[dict[str, Any]] = field(default_factory=list)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum() and ord(ch) < 128).lower()


class Generator:
    """Builds a DemoCompany deterministically from a seed."""

    def __init__(self, seed: int, now: datetime, contacts: int = 5000) -> None:
        self.rng = random.Random(seed)
        self.birth_rng = random.Random(seed + 1_000_003)  # its own stream: birth dates leave the rest unchanged
        self.now = now
        self.size = contacts
        self.fakers = {country: Faker(locale) for country, locale in LOCALES.items()}
        for offset, faker in enumerate(self.fakers.values()):
            faker.seed_instance(seed + offset)
        self.company = DemoCompany()
        self.emails: set[str] = set()
        self.account_keys: set[str] = set()

    def build(self) -> DemoCompany:
        self._accounts()
        for index in range(self.size):
            self._contact(index)
        return self.company

    def _country(self) -> str:
        return self.rng.choices([c for c, _ in COUNTRIES], weights=[w for _, w in COUNTRIES])[0]

    def _accounts(self) -> None:
        for index in range(700):
            country = self._country()
            faker = self.fakers[country]
            name = faker.company()
            while account_key(name) in self.account_keys or account_key(f"Groupe {name}") in self.account_keys:
                name = f"{name} {faker.city()}"
            domain = f"{_ascii(name)[:18] or 'societe'}{index}.{'fr' if country == 'FR' else 'com'}"
            parent = f"G{self.rng.randrange(25):03d}" if index >= 25 and self.rng.random() < 0.15 else None
            if index < 25:
                name = f"Groupe {name}"
            self.account_keys.add(account_key(name))
            self.company.accounts.append({
                "key": f"A{index:03d}" if index >= 25 else f"G{index:03d}", "name": name, "domain": domain,
                "industry": self.rng.choice(list(INDUSTRIES)), "size": self.rng.choice(SIZES), "country": country,
                "city": faker.city(), "parent": parent,
            })

    def _contact(self, index: int) -> None:
        rng = self.rng
        b2b = rng.random() < 0.8
        account = rng.choice(self.company.accounts[25:]) if b2b else None
        country = account["country"] if account and rng.random() < 0.9 else self._country()
        faker = self.fakers[country]
        first, last = faker.first_name(), faker.last_name()
        postal_only = index % 125 == 7  # a few people known only by their postal address
        email = None if postal_only else self._email(first, last, account)
        phone = None if postal_only or rng.random() < 0.18 else self._phone(faker, country)
        external_id = f"DEMO-{index + 1:05d}"
        created = self.now - timedelta(days=rng.uniform(20, 400))
        contact: dict[str, Any] = {
            "external_id": external_id, "email": email, "phone": phone, "first_name": first, "last_name": last,
            "company": account["name"] if account else None, "account_key": account["key"] if account else None,
            "job_title": faker.job()[:120] if b2b else None,
            "language": "fr" if country in ("FR", "BE", "CH") and rng.random() < 0.92 else "en",
            "country": country, "timezone": TIMEZONES[country], "created_at": created,
            "source": rng.choice(SOURCES), "lifecycle_stage": "subscriber",
            "attributes": {"industry": account["industry"], "company_size": account["size"]} if account else {},
        }
        if self.birth_rng.random() < 0.7:  # birthday campaigns need them; not everyone gives one
            contact["birth_date"] = (self.now - timedelta(days=self.birth_rng.uniform(20 * 365.25, 70 * 365.25))).date()
        if postal_only or rng.random() < 0.6:
            contact.update(address_line1=faker.street_address().replace("\n", " ")[:255],
                           postcode=faker.postcode(), city=faker.city())
        source = str(contact["source"])
        if source in ("linkedin-ads", "google-ads"):
            contact.update(utm_source=source.split("-")[0], utm_medium="cpc",
                           utm_campaign=rng.choice(("printemps", "webinar-q2", "retargeting")))
        self.company.contacts.append(contact)
        self._consent_and_history(contact, account)

    def _email(self, first: str, last: str, account: dict[str, Any] | None) -> str:
        domain = account["domain"] if account and self.rng.random() < 0.85 else self.rng.choice(FREE_MAIL)
        local = ".".join(part for part in (_ascii(first), _ascii(last)) if part) or "contact"
        email, counter = f"{local}@{domain}", 1
        while email in self.emails:
            counter += 1
            email = f"{local}{counter}@{domain}"
        self.emails.add(email)
        return email

    def _phone(self, faker: Faker, country: str) -> str | None:
        for _ in range(5):
            try:
                return normalise_phone(faker.phone_number(), country)
            except InvalidValue:
                continue
        return None

    def _consent_and_history(self, contact: dict[str, Any], account: dict[str, Any] | None) -> None:
        rng = self.rng
        key = contact["external_id"]
        engagement = rng.betavariate(1.3, 3.0)  # latent interest, drives everything below
        email_status = None
        if contact["email"]:
            roll = rng.random()
            email_status = "granted" if roll < 0.84 else "withdrawn" if roll < 0.9 else None
            if email_status:
                self._consent(contact, "email", email_status)
            if rng.random() < 0.012:
                self.company.suppressions.append(("email", contact["email"], "hard_bounce"))
                contact["email_status"] = "invalid"
                self._event(key, "email.bounced", self.now - timedelta(days=rng.uniform(1, 100)), {"bounce": "hard"})
                email_status = None
            elif email_status == "withdrawn" and rng.random() < 0.5:
                self.company.suppressions.append(("email", contact["email"], "unsubscribe"))
                self._event(key, "email.unsubscribed", self.now - timedelta(days=rng.uniform(1, 110)), {})
        if contact["phone"] and rng.random() < 0.4:
            self._consent(contact, "sms", "granted" if rng.random() < 0.85 else "withdrawn")
        if contact.get("address_line1") and rng.random() < 0.03:
            self._consent(contact, "mail", "withdrawn")
        signals = self._engagement(key, engagement, email_status == "granted")
        self._conversions(contact, account, engagement, signals)

    def _consent(self, contact: dict[str, Any], channel: str, status: str) -> None:
        at = contact["created_at"] + timedelta(minutes=self.rng.uniform(1, 600))
        if status == "withdrawn":
            at = self.now - timedelta(days=self.rng.uniform(2, 150))
        self.company.consents.append({
            "external_id": contact["external_id"], "channel": channel, "status": status, "occurred_at": at,
            "source": "preference-centre" if status == "withdrawn" else contact["source"],
            "form": None if status == "withdrawn" else "signup", "wording_version": "2024-01",
            "ip": self.fakers["FR"].ipv4(),
        })

    def _event(self, key: str, kind: str, at: datetime, properties: dict[str, Any]) -> None:
        self.company.events.append({"external_id": key, "type": kind, "occurred_at": at, "properties": properties})

    def _engagement(self, key: str, engagement: float, subscribed: bool) -> dict[str, int]:
        rng, start = self.rng, self.now - timedelta(days=120)
        signals = {"opens": 0, "clicks": 0, "pricing": 0, "demo": 0}
        if subscribed:
            for week in range(17):
                sent = start + timedelta(days=7 * week, hours=9)
                self._event(key, "email.delivered", sent, {"newsletter": f"2024-S{week + 1:02d}"})
                if rng.random() < 0.12 + 0.6 * engagement:
                    signals["opens"] += 1
                    self._event(key, "email.opened", sent + timedelta(hours=rng.uniform(0.2, 48)), {})
                    if rng.random() < 0.08 + 0.45 * engagement:
                        signals["clicks"] += 1
                        url = f"https://exemple-relance.fr{rng.choice(PAGES)}"
                        self._event(key, "email.clicked", sent + timedelta(hours=rng.uniform(0.3, 50)), {"url": url})
        for _ in range(int(rng.expovariate(1.0) * 6 * engagement)):
            page = rng.choice(PAGES)
            signals["pricing"] += page == "/tarifs"
            self._event(key, "page.visited", start + timedelta(days=rng.uniform(0, 119)),
                        {"url": f"https://exemple-relance.fr{page}"})
        if rng.random() < 0.05 + 0.4 * engagement:
            form = rng.choices(FORMS, weights=(4, 3, 2, 1 + 4 * engagement))[0]
            signals["demo"] += form == "demo-request"
            self._event(key, "form.submitted", start + timedelta(days=rng.uniform(0, 119)), {"form": form})
        return signals

    def _conversions(self, contact: dict[str, Any], account: dict[str, Any] | None, engagement: float,
                     signals: dict[str, int]) -> None:
        rng = self.rng
        industry = INDUSTRIES.get(account["industry"], 0.0) if account else -0.3
        size = math.log10(account["size"]) - 2 if account else -1.0
        logit = (-4.1 + 2.2 * engagement + 0.12 * signals["opens"] + 0.35 * signals["clicks"]
                 + 0.5 * signals["pricing"] + 1.6 * signals["demo"] + industry + 0.45 * size)
        if rng.random() >= 1 / (1 + math.exp(-logit)):
            if signals["demo"] or signals["clicks"] >= 3:
                contact["lifecycle_stage"] = "mql" if not signals["demo"] else "sql"
            elif signals["opens"]:
                contact["lifecycle_stage"] = "lead"
            return
        contact["lifecycle_stage"] = "customer"
        for purchase in range(1 + (rng.random() < 0.25)):
            base = 400 * (account["size"] ** 0.35 if account else 0.5)
            amount = Decimal(str(round(rng.lognormvariate(math.log(base), 0.5), 2)))
            at = self.now - timedelta(days=rng.uniform(1, 90) / (purchase + 1))
            reference = f"FAC-{contact['external_id']}-{purchase}"
            self.company.conversions.append({"external_id": contact["external_id"], "amount": amount,
                                             "occurred_at": at, "external_ref": reference})
