"""`/metrics`: the daemon's queues and sync state in Prometheus text format, read from the state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.state import desk as queries
from daemon.state.queries import OAUTH_OK, status_report
from daemon.state.schema import describe

if TYPE_CHECKING:
    from daemon.web.desk import Desk


class StateCollector(Collector):
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        facts = status_report(self.desk.sessions, describe(self.desk.config.database))
        actions = GaugeMetricFamily("partnerships_actions", "Outbox actions by status", labels=["status"])
        for status, count in facts["actions"].items():
            actions.add_metric([status], count)
        yield actions
        yield GaugeMetricFamily("partnerships_review_items_open", "Review items waiting for a person",
                                value=facts["review_items_open"] or 0)
        yield GaugeMetricFamily("partnerships_quarantined_messages", "Messages that could not be parsed",
                                value=facts["quarantined"] or 0)
        yield GaugeMetricFamily("partnerships_messages", "Messages recorded",
                                value=queries.message_count(self.desk.sessions))
        synced = GaugeMetricFamily("partnerships_last_sync_timestamp_seconds",
                                   "Unix time of the last successful sync per source", labels=["source"])
        for source in facts["sources"]:
            if source["last_sync"]:
                synced.add_metric([source["source"]], _timestamp(source["last_sync"]))
        yield synced
        connected = str(facts["connection"] or "").startswith("connected")
        yield GaugeMetricFamily("partnerships_connected", "1 while the last mailbox round-trip succeeded",
                                value=1.0 if connected else 0.0)
        refresh = GaugeMetricFamily("partnerships_oauth_refresh_ok",
                                    "1 while the OAuth2 token of the channel (imap, smtp) refreshes, 0 while it fails",
                                    labels=["channel"])
        for channel, text in sorted(facts["oauth"].items()):
            refresh.add_metric([channel], 1.0 if text == OAUTH_OK else 0.0)
        yield refresh
        leads = GaugeMetricFamily("partnerships_leads", "Leads by status", labels=["status"])
        for status, count in _statuses(self.desk).items():
            leads.add_metric([status], count)
        yield leads


def _statuses(desk: Desk) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lead in desk.leads().values():
        counts[lead.status] = counts.get(lead.status, 0) + 1
    return counts


def _timestamp(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.removesuffix(" UTC"))  # the runner writes "YYYY-mm-dd HH:MM:SS UTC"
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def metrics_text(desk: Desk) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(desk))
    return generate_latest(registry), CONTENT_TYPE_LATEST
