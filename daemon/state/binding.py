"""Which configuration a state directory belongs to: recorded at its first use, checked by every later command."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from daemon.errors import ConfigError
from daemon.state.models import Meta, get_meta, set_meta
from daemon.state.upsert import insert

log = logging.getLogger("daemon.state")
PATH_KEY, FINGERPRINT_KEY = "config_path", "config_fingerprint"
EMBEDDED = "(embedded defaults)"


def bind_config(sessions: sessionmaker[Session], state: str, config_path: str | None, fingerprint: str, *,
                record: bool = True) -> None:
    """Refuse to act on a state set up with another configuration, with one line saying which to pass.

    The same file (path) may have been edited: its new fingerprint is recorded. Another file with the same
    source, sender and backend (a copy) is accepted. Anything else, including no --config on a state that
    was set up with one, is refused: it would read or send through the wrong place (e.g. the outbox
    directory instead of SMTP)."""
    path = config_path or EMBEDDED
    if record:
        with sessions.begin() as session:
            for key, value in ((PATH_KEY, path), (FINGERPRINT_KEY, fingerprint)):
                session.execute(insert(session, Meta).values(key=key, value=value).on_conflict_do_nothing(
                    index_elements=["key"]))
    recorded = get_meta(sessions, "config_")
    recorded_path, recorded_fingerprint = recorded.get(PATH_KEY), recorded.get(FINGERPRINT_KEY)
    if recorded_path is None or recorded_fingerprint == fingerprint:
        return
    if recorded_path == path:
        if record:
            log.warning("config %s changed its source, sender or leads backend since the last command", path)
            set_meta(sessions, {FINGERPRINT_KEY: fingerprint})
        return
    if recorded_path == EMBEDDED:
        raise ConfigError(f"state {state} belongs to the embedded defaults (the demo): run without --config "
                          f"(and without PARTNERSHIPS_CONFIG), or give this config its own --state")
    raise ConfigError(f"state {state} was set up with another configuration: pass --config {recorded_path}")
