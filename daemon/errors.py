"""The daemon's small error hierarchy: each message says what to fix."""

from __future__ import annotations

# Exit codes of every command (README "Exit codes").
EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


class DaemonError(Exception):
    """Base of the errors the CLI reports as a one-line message instead of a traceback."""


class ConfigError(DaemonError):
    """The configuration (file, values, paths) is unusable."""


class RuleError(DaemonError):
    """A rule file is invalid; the message names the file, the rule and the reason."""

    def __init__(self, file: str, rule: str | None, reason: str) -> None:
        where = f"{file}: rule {rule!r}" if rule else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.rule = rule
        self.reason = reason


class TemplateError(DaemonError):
    """A note template is missing or does not compile."""


class ActionError(DaemonError):
    """Executing an action failed; `retryable` tells the executor whether to try again later."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class StateError(DaemonError):
    """The state database cannot be used by this build (e.g. written by a newer one); the message says why."""
