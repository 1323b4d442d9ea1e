"""Talking to one Airtable base: requests paced per base, 429s waited out, errors named without the token."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from pyairtable import Api, retry_strategy
from requests.adapters import HTTPAdapter

from daemon.errors import ActionError
from daemon.leads.airtable.settings import SECTION, AirtableConfig

log = logging.getLogger("daemon.leads.airtable")

MAX_RECORDS_PER_WRITE = 10
PAGE_SIZE = 100
_GONE = ("ROW_DOES_NOT_EXIST", "NOT_FOUND", "MODEL_ID_NOT_FOUND")
T = TypeVar("T")


# --- pacing: at most N requests per second per base, 429 waited out -------------------------------------------------


class RateLimiter:
    """At most `rate` requests in any sliding window of a second, shared by every thread that talks to one base."""

    # Airtable counts a request when it arrives, slightly after we count it as sent; the margin keeps a request sent
    # at the very edge of our window out of the server's previous window.
    MARGIN = 0.05

    def __init__(self, rate: int, *, window: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.window = window + self.MARGIN
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # held while sleeping: the others would have to wait for the same slot anyway
            while True:
                now = self._clock()
                wait = self._resume_at - now
                if len(self._sent) >= self.rate:
                    wait = max(wait, self._sent[0] + self.window - now)
                if wait <= 0:
                    break
                self._sleep(wait)
            self._sent.append(now)
            while len(self._sent) > self.rate:
                self._sent.popleft()

    def pause(self, seconds: float) -> None:
        """After a 429 nobody sends to this base for a while, not just the thread that was refused."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)


_limiters: dict[tuple[str, str, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(endpoint_url: str, base_id: str, rate: int) -> RateLimiter:
    """Airtable's limit is per base, so every store and check in this process shares one limiter per base."""
    with _limiters_lock:
        return _limiters.setdefault((endpoint_url, base_id, rate), RateLimiter(rate))


@dataclass
class AirtableStats:
    """What the client sent, for benches and tests."""

    requests: int = 0
    reads: int = 0
    writes: int = 0
    rate_limited: int = 0  # 429 answers received
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, write: bool = False, limited: bool = False) -> None:
        with self._lock:
            if limited:
                self.rate_limited += 1
                return
            self.requests += 1
            if write:
                self.writes += 1
            else:
                self.reads += 1


class _PacedAdapter(HTTPAdapter):
    """Every request passes the rate limiter, and a 429 is waited out here (Retry-After, else a doubling backoff):
    retries made by urllib3 beneath the adapter would bypass the limiter."""

    def __init__(self, limiter: RateLimiter, stats: AirtableStats, config: AirtableConfig) -> None:
        # Only failed connects are retried at once (nothing reached Airtable); everything else goes to the outbox.
        # urllib3 would still retry a 429 carrying Retry-After, whatever status_forcelist says: switched off here.
        super().__init__(max_retries=retry_strategy(status_forcelist=(), total=2, connect=2, read=False, redirect=0,
                                                    status=0, other=0, backoff_factor=0.2,
                                                    respect_retry_after_header=False, raise_on_status=False))
        self.limiter = limiter
        self.stats = stats
        self.retries = config.max_retries
        self.backoff = config.backoff_seconds

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        write = request.method != "GET" and not path.endswith("/listRecords")
        for attempt in itertools.count():
            self.limiter.acquire()
            self.stats.count(write=write)
            response = super().send(request, *args, **kwargs)
            if response.status_code != 429:
                return response
            self.stats.count(limited=True)
            if attempt >= self.retries:
                return response
            wait = _retry_after(response) or min(self.backoff * 2 ** attempt, 30.0)
            log.warning("Airtable rate limit (429) on %s %s; waiting %.1f s (retry %d of %d)", request.method, path,
                        wait, attempt + 1, self.retries)
            response.close()
            self.limiter.pause(wait)
        raise AssertionError("unreachable")


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def make_api(config: AirtableConfig, *, token: str | None = None, stats: AirtableStats | None = None) -> Api:
    """A pyairtable Api whose every request is paced for the base and survives 429 answers."""
    api = Api(token if token is not None else config.token.resolve(), endpoint_url=config.endpoint_url,
              timeout=(config.connect_timeout, config.timeout),  # type: ignore[arg-type]  # requests takes floats
              retry_strategy=None)
    limiter = limiter_for(config.endpoint_url, config.base_id, config.requests_per_second)
    adapter = _PacedAdapter(limiter, stats or AirtableStats(), config)
    api.session.mount("https://", adapter)
    api.session.mount("http://", adapter)
    return api


# --- errors -------------------------------------------------------------------------------------------------------


class AirtableError(ActionError):
    """A failed Airtable request; `status` and Airtable's error `kind` (e.g. UNKNOWN_FIELD_NAME) when it answered."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.kind = kind

    @property
    def record_specific(self) -> bool:
        """Whether one record of a batch may be the cause (deleted, a bad value), so splitting the batch helps."""
        return not self.retryable and self.status not in (401, 403) and self.kind != "UNKNOWN_FIELD_NAME"


def _error_detail(response: requests.Response) -> tuple[str, str]:
    """Airtable's error type and message, from either of its two error shapes."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}", response.reason or ""
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("type", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, ""
    errors = body.get("errors")  # the 429 shape
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("error", "")), str(errors[0].get("message", ""))
    return f"HTTP {response.status_code}", ""


class Caller:
    """Runs pyairtable calls, turning failures into AirtableErrors that never contain the token."""

    def __init__(self, config: AirtableConfig, token: str) -> None:
        self.config = config
        self._token = token

    def __call__(self, doing: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except requests.RequestException as exc:
            raise self.failure(exc, doing) from None

    def failure(self, exc: requests.RequestException, doing: str) -> AirtableError:
        response = exc.response
        if response is None:
            if isinstance(exc, requests.Timeout):
                return self._error(f"{doing}: Airtable did not answer in time ({type(exc).__name__})", True)
            return self._error(f"{doing}: cannot reach Airtable at {self.config.endpoint_url} "
                               f"({type(exc).__name__})", True)
        status = response.status_code
        kind, message = _error_detail(response)
        said = f"{status} {kind}: {message}" if message else f"{status} {kind}"
        if status == 401:
            text = f"Airtable rejected the token ({said}); check [{SECTION}] token_file / token_env"
        elif status == 403:
            text = (f"Airtable refused access ({said}); check the token's scopes and its access to base "
                    f"{self.config.base_id}, and the table names")
        elif status == 429:
            text = f"Airtable still rate-limits after {self.config.max_retries} waits ({said})"
        elif status >= 500:
            text = f"Airtable failed ({said})"
        else:
            text = f"Airtable refused it ({said})"
        return self._error(f"{doing}: {text}", status == 429 or status >= 500, status, kind)

    def _error(self, message: str, retryable: bool, status: int | None = None,
               kind: str | None = None) -> AirtableError:
        if self._token:
            message = message.replace(self._token, "[token]")
        return AirtableError(message, retryable=retryable, status=status, kind=kind)
