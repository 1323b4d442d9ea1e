"""The embedded `sqlite` leads backend (its table lives in daemon.state.lead_table), and the leads CSV that
seeds it."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from daemon.core.lead import STATUSES, Lead
from daemon.errors import ConfigError
from daemon.state.lead_table import LeadTable


class SqliteLeadStore(LeadTable):
    """The embedded backend: leads live in the state database beside everything else."""

    def seed_from_csv(self, path: Path) -> int:
        """Load the team's existing leads from a CSV export, only into an empty table."""
        return self.seed(read_leads_csv(path), path.name)


CSV_COLUMNS = ("name", "status", "contact_emails", "domain", "service_tier", "monthly_fee",
               "cloud_billing_managed", "service_start", "notes")


def read_leads_csv(path: Path) -> list[Lead]:
    """Parse a leads CSV; every bad cell is reported with its line and column."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"leads CSV {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"leads CSV {path}: missing column(s) {', '.join(missing)}")
        leads = []
        for row in reader:
            where = f"leads CSV {path} line {reader.line_num}"
            status = row["status"].strip()
            if status not in STATUSES:
                raise ConfigError(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
            try:
                fee = Decimal(row["monthly_fee"]) if row["monthly_fee"].strip() else None
            except InvalidOperation:
                raise ConfigError(f"{where}: monthly_fee {row['monthly_fee']!r} is not a decimal") from None
            try:
                start = date.fromisoformat(row["service_start"]) if row["service_start"].strip() else None
            except ValueError:
                raise ConfigError(f"{where}: service_start {row['service_start']!r} is not YYYY-MM-DD") from None
            leads.append(Lead(
                id="",
                name=row["name"].strip(),
                status=status,
                contact_emails=tuple(e.strip().lower() for e in row["contact_emails"].split(";") if e.strip()),
                domain=row["domain"].strip().lower() or None,
                service_tier=row["service_tier"].strip().lower() or None,
                monthly_fee=fee,
                cloud_billing_managed=row["cloud_billing_managed"].strip().lower() in ("true", "yes", "1"),
                service_start=start,
                notes=row["notes"],
            ))
        return leads
