"""`partnerships web`: serve the desk with uvicorn on one address (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from daemon.errors import ConfigError
from daemon.runtime import Runtime
from daemon.settings import SecretRef
from daemon.web.app import create_app
from daemon.web.auth import WebSettings

log = logging.getLogger("daemon.web")


def parse_listen(text: str) -> tuple[str, int]:
    """"HOST:PORT" (IPv6 as "[::1]:8025") -> (host, port)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT such as 127.0.0.1:8025")
    return host, int(port)


def web_settings(listen: str, *, insecure_cookie: bool = False, sso_header: str | None = None,
                 trusted_proxies: Sequence[str] = (), metrics_token_file: Path | None = None) -> WebSettings:
    """The desk's settings from the `partnerships web` options; a bad value raises ConfigError."""
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    token = None
    if metrics_token_file is not None:
        token = SecretRef("--metrics-token", file=metrics_token_file).resolve().strip() or None
    return WebSettings(host=host, port=port, insecure_cookie=insecure_cookie, sso_header=sso_header,
                       trusted_proxies=tuple(trusted_proxies), metrics_token=token)


def serve(runtime: Runtime, settings: WebSettings) -> None:
    app = create_app(runtime, settings)
    log.warning("web desk listening on http://%s:%d (state %s)", settings.host, settings.port,
                runtime.config.state_dir)
    # proxy_headers off: the desk itself decides which peers' forwarding headers to believe (auth.py).
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=False, server_header=False,
                access_log=False, log_config=None)
