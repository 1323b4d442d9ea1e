"""Which function carries out which kind of action: a registry filled by the handler modules with `@handles`
(in the manner of aiosmtpd's `handle_<VERB>` hooks), looked up once per action by its `ActionKind`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daemon.actions.context import ActionContext
from daemon.core.kinds import ActionKind, kind_of
from daemon.errors import ActionError

# (the executor as the handler sees it, action key, payload) -> the result recorded with the done action
Handler = Callable[[ActionContext, str, dict[str, Any]], dict[str, Any]]
_HANDLERS: dict[ActionKind, Handler] = {}


def handles(kind: ActionKind) -> Callable[[Handler], Handler]:
    """Register the decorated function as the one handler of `kind`."""
    def register(handler: Handler) -> Handler:
        if kind in _HANDLERS:
            raise RuntimeError(f"two handlers for {kind}: {_HANDLERS[kind].__name__} and {handler.__name__}")
        _HANDLERS[kind] = handler
        return handler
    return register


def handler_for(kind: str) -> Handler:
    """The handler of a stored kind; a kind this build does not know fails the action for good."""
    member = kind_of(kind)
    handler = _HANDLERS.get(member) if member is not None else None
    if handler is None:
        raise ActionError(f"unknown action kind {kind!r}", retryable=False)
    return handler


def registered() -> frozenset[ActionKind]:
    return frozenset(_HANDLERS)
