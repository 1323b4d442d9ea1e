"""Who may move a lead: which addresses pick the lead, and why a sender may not act without review (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from daemon.core.lead import Lead
from daemon.core.lookalike import imitated_domain
from daemon.core.message import Message
from daemon.core.sanitize import clean
from daemon.core.threads import PUBLIC_MAIL_DOMAINS
from daemon.settings import Addresses, domain_of

_ADDRESS_IN_NAME = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[^\s<>\"'(),;:@]+")
_ASCII_LOOKALIKE_AT = str.maketrans({"＠": "@", "﹫": "@"})


@dataclass(frozen=True)
class Concern:
    """Why a sender may not act without a person: `impersonation` when they pose as someone (a lookalike
    domain, another address in the display name), so that even a new lead waits in review."""

    reason: str
    impersonation: bool = False


def lead_addresses(message: Message, addresses: Addresses) -> tuple[str, ...]:
    """The addresses that may pick a message's lead and be recorded as its contacts.

    Inbound: the From address alone. Reply-To, To and Cc are written by the sender too, so naming a real
    contact there must never make a stranger speak for that contact's lead. Outbound (the team writing): the
    external To and Cc recipients, whom the team chose to address."""
    sender = message.from_addr
    if sender and addresses.is_team(sender):
        recipients = dict.fromkeys(a for a in (*message.to, *message.cc) if "@" in a and not addresses.is_internal(a))
        return tuple(recipients)
    if sender and "@" in sender and not addresses.is_internal(sender):
        return (sender,)
    return ()


def display_name_address(message: Message) -> str | None:
    """An address written into the display name that is not the real sender, e.g.
    `"rortiz@pinecrest.edu" <attacker@evil.example>`; None when there is none."""
    name = (message.from_name or "").translate(_ASCII_LOOKALIKE_AT).lower()
    for found in _ADDRESS_IN_NAME.findall(name):
        if found.strip(".") != (message.from_addr or ""):
            return found.strip(".")
    return None


class LeadDomains:
    """The e-mail domains of a set of leads, and which of them a sender's domain imitates, remembered per sender
    domain: built once per set of leads, since a first import checks thousands of senders against thousands of
    leads."""

    def __init__(self, leads: Iterable[Lead]) -> None:
        self.leads = tuple(leads)
        self.domains = dict.fromkeys(d for lead in self.leads for d in _domains(lead))
        self._imitated: dict[str, str | None] = {}

    def imitated(self, domain: str) -> str | None:
        """The first lead domain (other than itself) that `domain` imitates, or None."""
        if domain not in self._imitated:
            self._imitated[domain] = imitated_domain(domain, [d for d in self.domains if d != domain])
        return self._imitated[domain]


def sender_concern(message: Message, lead: Lead | None, role: str, known: LeadDomains) -> Concern | None:
    """Why this sender may not move `lead` or reach operations by themself; None for a recorded contact.

    Checked in order of how much they suggest an attack: a display name carrying another address, a domain
    made to look like a lead's, then a stranger at the lead's own domain, then a sender nobody has seen."""
    if role in ("team", "operations"):
        return None
    sender = message.from_addr or ""
    shown = display_name_address(message)
    if shown is not None:
        return Concern(f"display name carries the address {clean(shown, 80)}, not the sender's "
                       f"{clean(sender, 80)}", impersonation=True)
    domain = domain_of(sender) if "@" in sender else ""
    imitated = known.imitated(domain) if domain else None
    if imitated is not None and domain not in known.domains:
        return Concern(f"sender domain {clean(domain, 80)} looks like the lead domain {imitated}", impersonation=True)
    if role == "lead_contact":
        return None
    if lead is not None and domain and domain in _domains(lead):
        return Concern(f"sender {clean(sender, 120)} is not a known contact of {clean(lead.name, 120)} "
                       "(same domain, but not a recorded contact)")
    if lead is not None:
        return Concern(f"sender {clean(sender, 120)} is not a known contact of {clean(lead.name, 120)}")
    return Concern(f"sender {clean(sender, 120)} is new")


def _domains(lead: Lead) -> tuple[str, ...]:
    found = [lead.domain] if lead.domain else []
    found += [domain_of(contact) for contact in lead.contact_emails if "@" in contact]
    return tuple(dict.fromkeys(d for d in found if d and d not in PUBLIC_MAIL_DOMAINS))
