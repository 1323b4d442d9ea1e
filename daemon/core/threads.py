"""Threading by Message-ID / In-Reply-To / References (subject + participants as fallback) and lead matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ThreadEntry:
    """What one message adds to the thread index: the ids pointing at its thread (the first thread named for
    an id keeps it), and its normalised subject with its participants (for the subject fallback)."""

    thread_id: str
    message_ids: tuple[str, ...]
    subject_key: str
    people: frozenset[str]


def thread_entry(thread_id: str, message_ids: Iterable[str], subject: str,
                 participants: Iterable[str]) -> ThreadEntry:
    return ThreadEntry(thread_id, tuple(dict.fromkeys(message_ids)), normalize_subject(subject),
                       frozenset(participants))


class ThreadIndex:
    """Map from Message-IDs and subjects to threads. This one holds everything in memory (a dry run, `classify`,
    tests); the recording pipeline uses one kept in indexed tables (`daemon.state.ledger.StoredThreadIndex`),
    which overrides the three lookups below, so a mailbox of years needs no memory of its own."""

    def __init__(self) -> None:
        self.by_message_id: dict[str, str] = {}
        self.by_subject: dict[str, list[tuple[str, frozenset[str]]]] = {}

    # -- storage: overridden by a stored index -------------------------------------------------------------

    def threads_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        """The known thread of each of `message_ids` (those without one are left out)."""
        found = {}
        for message_id in message_ids:
            thread_id = self.by_message_id.get(message_id)
            if thread_id is not None:
                found[message_id] = thread_id
        return found

    def subject_thread(self, key: str, people: frozenset[str]) -> str | None:
        """The most recently started thread under subject `key` that shares one of `people`."""
        for thread_id, thread_people in reversed(self.by_subject.get(key, [])):
            if people & thread_people:
                return thread_id
        return None

    def remember(self, entry: ThreadEntry) -> None:
        for message_id in entry.message_ids:
            self.by_message_id.setdefault(message_id, entry.thread_id)
        if not entry.subject_key:
            return
        entries = self.by_subject.setdefault(entry.subject_key, [])
        for position, (known_id, known_people) in enumerate(entries):
            if known_id == entry.thread_id:
                entries[position] = (entry.thread_id, known_people | entry.people)
                return
        entries.append((entry.thread_id, entry.people))

    # -- threading ---------------------------------------------------------------------------------------

    def assign(self, message: Message, addresses: Addresses) -> ThreadAssignment:
        """Find the thread `message` belongs to (pure lookup; call `add` to remember it)."""
        wanted = (*message.in_reply_to, *reversed(message.references), message.message_id)
        known = self.threads_of(tuple(dict.fromkeys(wanted)))
        for ref in wanted:
            if ref in known:
                return ThreadAssignment(known[ref], "references")
        key = normalize_subject(message.subject)
        # The subject fallback needs a real subject and a shared person outside the team: operations and
        # the team send the same subject ("Certification of services for October") to many communities.
        people = _people(message.participants, addresses)
        if key and people:
            thread_id = self.subject_thread(key, people)
            if thread_id is not None:
                return ThreadAssignment(thread_id, "subject")
        # An unseen parent still names the conversation: later siblings join through it.
        root = message.references[0] if message.references else (
            message.in_reply_to[0] if message.in_reply_to else message.message_id)
        return ThreadAssignment(root, "new")

    def add(self, thread_id: str, message_ids: Iterable[str], subject: str,
            participants: Iterable[str], addresses: Addresses) -> None:
        """Remember a message's thread. Every participant is kept: the lookup asks only for people outside the
        team, so the team's own addresses never match."""
        self.remember(thread_entry(thread_id, message_ids, subject, participants))


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


class LeadIndex:
    """The leads by contact address and by e-mail domain, built once per set of leads: a first import creates
    thousands of leads, and every message is matched against all of them."""

    def __init__(self, leads: Iterable[Lead]) -> None:
        self.leads = tuple(leads)
        self.by_contact: dict[str, Lead] = {}
        self.by_domain: dict[str, Lead] = {}
        for lead in self.leads:
            for contact in lead.contact_emails:
                self.by_contact.setdefault(contact, lead)
            if lead.domain:
                self.by_domain.setdefault(lead.domain, lead)

    def match(self, externals: Sequence[str]) -> Lead | None:
        """The lead whose contact addresses, then whose e-mail domain, appear among the external participants."""
        for address in externals:
            if address in self.by_contact:
                return self.by_contact[address]
        for address in externals:
            domain = domain_of(address)
            if domain not in PUBLIC_MAIL_DOMAINS and domain in self.by_domain:
                return self.by_domain[domain]
        return None


def match_lead(externals: Sequence[str], leads: Sequence[Lead]) -> Lead | None:
    """The lead whose contact addresses, then whose e-mail domain, appear among the external participants."""
    return LeadIndex(leads).match(externals) if externals else None


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
