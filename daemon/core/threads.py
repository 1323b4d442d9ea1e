"""Threading by Message-ID / In-Reply-To / References (subject + participants as fallback) and lead matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from daemon.core.lead import Lead
from daemon.core.message import Message
from daemon.settings import Addresses, domain_of

# Reply and forward prefixes of common clients and languages, possibly stacked ("RE: Re: Fwd:").
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")

# Mail hosted by these providers tells nothing about a community: match such senders by address only.
PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com",
    "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de", "mail.com",
    "qq.com", "163.com", "yandex.ru", "fastmail.com",
})


def normalize_subject(subject: str) -> str:
    return _SPACES.sub(" ", _PREFIX.sub("", subject)).strip().lower()


@dataclass(frozen=True)
class ThreadAssignment:
    thread_id: str
    method: str  # "references", "subject" or "new"


@dataclass
class ThreadIndex:
    """In-memory map from Message-IDs and subjects to threads, so threading needs no database round trip."""

    by_message_id: dict[str, str] = field(default_factory=dict)
    by_subject: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=dict)

    def assign(self, message: Message, addresses: Addresses) -> ThreadAssignment:
        """Find the thread `message` belongs to (pure lookup; call `add` to remember it)."""
        for ref in (*message.in_reply_to, *reversed(message.references)):
            thread_id = self.by_message_id.get(ref)
            if thread_id is not None:
                return ThreadAssignment(thread_id, "references")
        if message.message_id in self.by_message_id:
            return ThreadAssignment(self.by_message_id[message.message_id], "references")
        key = normalize_subject(message.subject)
        # The subject fallback needs a real subject and a shared person outside the team: operations and
        # the team send the same subject ("Certification of services for October") to many communities.
        people = _people(message.participants, addresses)
        if key and people:
            for thread_id, thread_people in reversed(self.by_subject.get(key, [])):
                if people & thread_people:
                    return ThreadAssignment(thread_id, "subject")
        # An unseen parent still names the conversation: later siblings join through it.
        root = message.references[0] if message.references else (
            message.in_reply_to[0] if message.in_reply_to else message.message_id)
        return ThreadAssignment(root, "new")

    def add(self, thread_id: str, message_ids: Iterable[str], subject: str,
            participants: Iterable[str], addresses: Addresses) -> None:
        for message_id in message_ids:
            self.by_message_id.setdefault(message_id, thread_id)
        key = normalize_subject(subject)
        if not key:
            return
        people = _people(frozenset(participants), addresses)
        entries = self.by_subject.setdefault(key, [])
        for position, (known_id, known_people) in enumerate(entries):
            if known_id == thread_id:
                entries[position] = (thread_id, known_people | people)
                return
        entries.append((thread_id, people))


def thread_message_ids(message: Message) -> tuple[str, ...]:
    """The ids that should point at this message's thread: its own and every id it refers to."""
    return (message.message_id, *message.in_reply_to, *message.references)


def _people(participants: frozenset[str], addresses: Addresses) -> frozenset[str]:
    return frozenset(a for a in participants if not addresses.is_internal(a))


def external_participants(message: Message, addresses: Addresses) -> tuple[str, ...]:
    """Participants who are neither the team nor operations, sender first, in header order."""
    ordered = ([message.from_addr] if message.from_addr else []) + list(message.reply_to) + list(
        message.to) + list(message.cc)
    seen: dict[str, None] = {}
    for address in ordered:
        if address and "@" in address and not addresses.is_internal(address):
            seen.setdefault(address, None)
    return tuple(seen)


def match_lead(externals: Sequence[str], leads: Sequence[Lead]) -> Lead | None:
    """The lead whose contact addresses, then whose e-mail domain, appear among the external participants."""
    if not externals:
        return None
    by_contact: dict[str, Lead] = {}
    by_domain: dict[str, Lead] = {}
    for lead in leads:
        for contact in lead.contact_emails:
            by_contact.setdefault(contact, lead)
        if lead.domain:
            by_domain.setdefault(lead.domain, lead)
    for address in externals:
        if address in by_contact:
            return by_contact[address]
    for address in externals:
        domain = domain_of(address)
        if domain not in PUBLIC_MAIL_DOMAINS and domain in by_domain:
            return by_domain[domain]
    return None


def sender_role(sender: str | None, lead: Lead | None, addresses: Addresses) -> str:
    """One of: team, operations, lead_contact, unknown."""
    if not sender:
        return "unknown"
    if addresses.is_operations(sender):
        return "operations"
    if addresses.is_team(sender):
        return "team"
    if lead is not None and sender in lead.contact_emails:
        return "lead_contact"
    return "unknown"


def direction_of(sender: str | None, addresses: Addresses) -> str:
    return "outbound" if sender and addresses.is_team(sender) else "inbound"
