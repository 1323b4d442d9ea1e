"""The weekly digest for partnerships@: when it is due, and what it says (pure over plain data)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from daemon.core.extract import month_before
from daemon.core.lead import ACTIVE_SERVICE, INACTIVE_LEAD, INACTIVE_SERVICE, STATUSES, Lead
from daemon.settings import WEEKDAYS, DigestSettings


def digest_week(now: datetime, settings: DigestSettings) -> str | None:
    """This ISO week's key ("2026-W48") once its digest moment has passed, else None."""
    local = now.astimezone(settings.zone)
    monday = local.date() - timedelta(days=local.weekday())
    day = monday + timedelta(days=WEEKDAYS.index(settings.weekday))
    moment = datetime.combine(day, settings.at, tzinfo=settings.zone)
    if local < moment:
        return None
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class OpenReview:
    lead_name: str
    intent: str
    reason: str
    since: datetime


@dataclass(frozen=True)
class FailedAction:
    action_id: int
    kind: str
    key: str
    error: str


def digest_variables(leads: Sequence[Lead], last_activity: Mapping[str, datetime | None],
                     affirmed: set[tuple[str, str]], contracts: set[str], reviews: Sequence[OpenReview],
                     today: date, settings: DigestSettings,
                     failed: Sequence[FailedAction] = (), sign_in: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """Leads per status, leads gone quiet, active services without last month's affirmation, waiting reviews,
    actions that failed for good, and the mail channels (imap, smtp) whose OAuth2 token cannot be refreshed."""
    last_month = month_before(today)
    cutoff = datetime.combine(today - timedelta(days=settings.inactive_days), datetime.min.time())
    counts = Counter(lead.status for lead in leads)
    # Closed leads going quiet is expected; the open ones are worth a follow-up.
    quiet = sorted(((lead, last_activity.get(lead.id)) for lead in leads
                    if lead.status not in (INACTIVE_LEAD, INACTIVE_SERVICE)
                    and (last_activity.get(lead.id) is None or last_activity[lead.id] < cutoff)),
                   key=lambda pair: (pair[1] or datetime.min, pair[0].name))
    unaffirmed = sorted(lead.name for lead in leads if lead.status == ACTIVE_SERVICE
                        and (lead.id, last_month) not in affirmed and lead.id not in contracts)
    return {
        "week_of": today.isoformat(),
        "total": len(leads),
        "per_status": [{"status": status, "count": counts.get(status, 0)} for status in STATUSES],
        "inactive_days": settings.inactive_days,
        "quiet": [{"name": lead.name, "status": lead.status,
                   "last": last.date().isoformat() if last else "no email seen"} for lead, last in quiet],
        "last_month": last_month,
        "unaffirmed": unaffirmed,
        "reviews": [{"lead": r.lead_name, "intent": r.intent, "reason": r.reason,
                     "since": r.since.date().isoformat()} for r in reviews],
        "failed": [{"id": f.action_id, "kind": f.kind, "key": f.key, "error": f.error} for f in failed],
        "sign_in": [{"channel": channel, "problem": problem} for channel, problem in sorted((sign_in or {}).items())],
    }
