"""A local stand-in for Airtable's REST API (records, base schema, limits, error shapes) for tests and benches."""

from __future__ import annotations

import json
import random
import re
import string
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_PAGE_SIZE = 100
MAX_RECORDS_PER_WRITE = 10
TEXT_TYPES = ("singleLineText", "multilineText", "email", "url", "phoneNumber", "richText")
NUMBER_TYPES = ("number", "currency", "percent")
COMPUTED_TYPES = ("formula", "rollup", "count", "lookup", "autoNumber", "createdTime", "lastModifiedTime")
# pyairtable's schema models require these option shapes per field type.
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "currency": {"precision": 2, "symbol": "$"},
    "number": {"precision": 0},
    "percent": {"precision": 0},
    "checkbox": {"color": "greenBright", "icon": "check"},
    "date": {"dateFormat": {"format": "YYYY-MM-DD", "name": "iso"}},
}
NOT_FOUND_MESSAGE = "Could not find what you are looking for"
MODEL_NOT_FOUND_MESSAGE = ("Invalid permissions, or the requested model was not found. Check that both your user and "
                           "your token have the required permissions, and that the model names and/or ids are correct.")


class ApiError(Exception):
    """An answer other than 200, in Airtable's shape."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message

    def body(self) -> dict[str, Any]:
        if self.status == 429:  # Airtable answers rate limiting in a different shape from every other error
            return {"errors": [{"error": self.kind, "message": self.message}]}
        return {"error": {"type": self.kind, "message": self.message}}


def _unprocessable(kind: str, message: str) -> ApiError:
    return ApiError(422, kind, message)


def _injected_error(status: int) -> ApiError:
    if status == 429:
        return ApiError(429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")
    return ApiError(status, "SERVER_ERROR" if status >= 500 else "INJECTED", "Injected failure")


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == []


# --- the in-memory base ------------------------------------------------------------------------------------------


@dataclass
class FakeField:
    id: str
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    def schema(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.options:
            data["options"] = self.options
        return data

    @property
    def choices(self) -> list[str]:
        return [choice["name"] for choice in self.options.get("choices", [])]


@dataclass
class FakeRecord:
    id: str
    created_time: str
    values: dict[str, Any] = field(default_factory=dict)  # by field id, so renaming a field keeps its data


@dataclass
class FakeTable:
    id: str
    name: str
    fields: list[FakeField]
    records: dict[str, FakeRecord] = field(default_factory=dict)

    def field_named(self, name: str) -> FakeField | None:
        return next((f for f in self.fields if f.name == name), None)

    def schema(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "primaryFieldId": self.fields[0].id,
                "fields": [f.schema() for f in self.fields],
                "views": [{"id": "viw" + self.id[3:], "name": "Grid view", "type": "grid"}]}


@dataclass
class FakeBase:
    id: str
    name: str
    tables: list[FakeTable] = field(default_factory=list)

    def table(self, id_or_name: str) -> FakeTable | None:
        return next((t for t in self.tables if id_or_name in (t.id, t.name)), None)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    time: float  # time.monotonic() when the request was handled
    status: int
    base_id: str | None

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PATCH", "PUT", "DELETE") and not self.path.endswith("/listRecords")


@dataclass(frozen=True)
class _Iterator:
    """A listing in progress: the ids that matched at the first page, so later pages are stable; an offset names the
    iterator and the first record of the next page, so asking for the same page twice (a retry) is harmless."""

    id: str
    table_id: str
    ids: list[str]

    def offset(self, position: int) -> str:
        return f"{self.id}/{self.ids[position]}"


@dataclass
class _Injected:
    status: int
    remaining: int
    stall_seconds: float = 0.0
    method: str | None = None  # only requests with this method


# --- filterByFormula ----------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<field>\{(?:\\.|[^\\}])*\})
  | (?P<string>'(?:\\.|[^\\'])*'|"(?:\\.|[^\\"])*")
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|<=|>=|=|<|>|&|\(|\)|,|-)
)""", re.VERBOSE | re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?")
Value = str | int | float | bool | None


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text, flags=re.DOTALL)


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Value) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        return float(value)
    return None


def _compare(op: str, left: Value, right: Value) -> bool:
    a, b = _number(left), _number(right)
    pair: tuple[Any, Any] = (a, b) if a is not None and b is not None else (_text(left), _text(right))
    return {"=": pair[0] == pair[1], "!=": pair[0] != pair[1], "<": pair[0] < pair[1], ">": pair[0] > pair[1],
            "<=": pair[0] <= pair[1], ">=": pair[0] >= pair[1]}[op]


def _find(needle: Value, haystack: Value, start: Value = 0) -> int:
    return _text(haystack).find(_text(needle), max(int(_number(start) or 0) - 1, 0)) + 1


FUNCTIONS: dict[str, tuple[int, int, Callable[..., Value]]] = {
    # name: (min args, max args, implementation); FIND is case-sensitive and gives 0 when absent, SEARCH gives blank.
    "AND": (1, 10_000, lambda *a: all(a)),
    "OR": (1, 10_000, lambda *a: any(a)),
    "NOT": (1, 1, lambda a: not a),
    "TRUE": (0, 0, lambda: True),
    "FALSE": (0, 0, lambda: False),
    "BLANK": (0, 0, lambda: None),
    "FIND": (2, 3, lambda *a: _find(*a)),
    "SEARCH": (2, 3, lambda *a: _find(*a) or None),
    "LOWER": (1, 1, lambda a: _text(a).lower()),
    "UPPER": (1, 1, lambda a: _text(a).upper()),
    "TRIM": (1, 1, lambda a: _text(a).strip()),
    "LEN": (1, 1, lambda a: len(_text(a))),
    "CONCATENATE": (1, 10_000, lambda *a: "".join(_text(v) for v in a)),
}


class FormulaError(Exception):
    pass


class Formula:
    """A parsed filterByFormula: a small recursive-descent parser producing a closure over one record."""

    def __init__(self, source: str, known_fields: Iterable[str]) -> None:
        self.known = set(known_fields)
        self.unknown: list[str] = []
        self.tokens = self._tokenize(source)
        self.pos = 0
        self.evaluate = self._expression()
        if self.pos != len(self.tokens):
            raise FormulaError(f"unexpected {self.tokens[self.pos][1]!r}")
        if self.unknown:
            raise FormulaError(f"Unknown field names: {', '.join(sorted(set(self.unknown))).lower()}")

    @staticmethod
    def _tokenize(source: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(source):
            if not source[pos:].strip():
                break
            match = _TOKEN.match(source, pos)
            if match is None or match.end() == pos:
                raise FormulaError(f"cannot read the formula at {source[pos:pos + 20]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, text: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (text is not None and token[1] != text):
            raise FormulaError(f"expected {text or 'a value'}, found {token[1] if token else 'the end'}")
        self.pos += 1
        return token

    def _expression(self) -> Callable[[Callable[[str], Value]], Value]:
        left = self._concatenation()
        token = self._peek()
        if token and token[0] == "op" and token[1] in ("=", "!=", "<", ">", "<=", ">="):
            self.pos += 1
            right = self._concatenation()
            return lambda get, op=token[1]: _compare(op, left(get), right(get))
        return left

    def _concatenation(self) -> Callable[[Callable[[str], Value]], Value]:
        parts = [self._unary()]
        while (token := self._peek()) and token == ("op", "&"):
            self.pos += 1
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        return lambda get: "".join(_text(part(get)) for part in parts)

    def _unary(self) -> Callable[[Callable[[str], Value]], Value]:
        if self._peek() == ("op", "-"):
            self.pos += 1
            inner = self._unary()
            return lambda get: -(_number(inner(get)) or 0.0)
        return self._primary()

    def _primary(self) -> Callable[[Callable[[str], Value]], Value]:
        kind, text = self._take()
        if kind == "string":
            value = _unescape(text[1:-1])
            return lambda get: value
        if kind == "number":
            number = float(text)
            return lambda get: number
        if kind == "field":
            name = _unescape(text[1:-1])
            if name not in self.known:
                self.unknown.append(name)
            return lambda get: get(name)
        if kind == "name":
            return self._call(text.upper())
        if text == "(":
            inner = self._expression()
            self._take(")")
            return inner
        raise FormulaError(f"unexpected {text!r}")

    def _call(self, name: str) -> Callable[[Callable[[str], Value]], Value]:
        self._take("(")
        args = []
        if self._peek() != ("op", ")"):
            args.append(self._expression())
            while self._peek() == ("op", ","):
                self.pos += 1
                args.append(self._expression())
        self._take(")")
        if name == "RECORD_ID" and not args:
            return lambda get: get("\0id")
        if name not in FUNCTIONS:
            raise FormulaError(f"the test server does not implement {name}()")
        low, high, function = FUNCTIONS[name]
        if not low <= len(args) <= high:
            raise FormulaError(f"{name}() takes {low} to {high} arguments, got {len(args)}")
        return lambda get: function(*(arg(get) for arg in args))


def _truthy(value: Value) -> bool:
    return value not in (None, "", 0, False)


# --- the API -----------------------------------------------------------------------------------------------------


class FakeAirtable:
    """The state and request handling, without HTTP: bases, tokens, the rate limit, injected failures, the log."""

    def __init__(self, *, token: str, forbidden_tokens: Sequence[str], rate_limit: int, rate_window: float,
                 penalty_seconds: float, retry_after: float | None, seed: int) -> None:
        self.token = token
        self.forbidden_tokens = set(forbidden_tokens)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.penalty_seconds = penalty_seconds
        self.retry_after = retry_after
        self.bases: dict[str, FakeBase] = {}
        self.log: list[LoggedRequest] = []
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self._recent: dict[str, deque[float]] = {}
        self._penalty_until: dict[str, float] = {}
        self._iterators: dict[str, _Iterator] = {}
        self._injected: deque[_Injected] = deque()

    # -- ids ---------------------------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return prefix + "".join(self._random.choices(string.ascii_letters + string.digits, k=14))

    # -- dispatch ----------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        split = urlsplit(target)
        segments = [unquote(s) for s in split.path.split("/") if s]
        with self.lock:
            now = time.monotonic()
            base_id = self._base_id(segments)
            stall = 0.0
            try:
                self._authenticate(headers.get("Authorization", ""))
                injected = self._take_injected(method)
                if injected is not None:
                    stall = injected.stall_seconds
                    if injected.status:
                        raise _injected_error(injected.status)
                self._rate_limit(base_id, now)
                status, payload = 200, self._route(method, segments, parse_qs(split.query, keep_blank_values=True),
                                                   body)
            except ApiError as error:
                status, payload = error.status, error.body()
            self.log.append(LoggedRequest(method, split.path, split.query, now, status, base_id))
        if stall:
            time.sleep(stall)
        extra = {"Retry-After": f"{self.retry_after:g}"} if status == 429 and self.retry_after is not None else {}
        return status, payload, extra

    @staticmethod
    def _base_id(segments: list[str]) -> str | None:
        if segments[:3] == ["v0", "meta", "bases"] and len(segments) > 3:
            return segments[3]
        if len(segments) > 1 and segments[0] == "v0" and segments[1] != "meta":
            return segments[1]
        return None

    def _authenticate(self, header: str) -> None:
        token = header[len("Bearer "):] if header.startswith("Bearer ") else ""
        if token in self.forbidden_tokens:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", MODEL_NOT_FOUND_MESSAGE)
        if not token or token != self.token:
            raise ApiError(401, "AUTHENTICATION_REQUIRED", "Authentication required")

    def _take_injected(self, method: str) -> _Injected | None:
        injected = next((i for i in self._injected if i.method in (None, method)), None)
        if injected is not None:
            injected.remaining -= 1
            if injected.remaining <= 0:
                self._injected.remove(injected)
        return injected

    def _rate_limit(self, base_id: str | None, now: float) -> None:
        if base_id is None:
            return
        recent = self._recent.setdefault(base_id, deque())
        while recent and now - recent[0] >= self.rate_window:
            recent.popleft()
        if len(recent) >= self.rate_limit or now < self._penalty_until.get(base_id, 0.0):
            if self.penalty_seconds:
                self._penalty_until[base_id] = now + self.penalty_seconds
            raise ApiError(429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")
        recent.append(now)

    def _route(self, method: str, segments: list[str], query: dict[str, list[str]], body: bytes) -> dict[str, Any]:
        if segments[:3] == ["v0", "meta", "bases"] and len(segments) == 5 and segments[4] == "tables":
            if method != "GET":
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            return {"tables": [t.schema() for t in self._base(segments[3]).tables]}
        if len(segments) not in (3, 4) or segments[0] != "v0":
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        table = self._table(segments[1], segments[2])
        data = self._json(body)
        if len(segments) == 4 and segments[3] == "listRecords":
            if method != "POST":
                raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
            return self._list(table, data, from_query=False)
        if len(segments) == 4:
            return self._one_record(method, table, segments[3], data)
        handlers: dict[str, Callable[[], dict[str, Any]]] = {
            "GET": lambda: self._list(table, _query_options(query), from_query=True),
            "POST": lambda: self._create(table, data),
            "PATCH": lambda: self._update(table, data, replace=False),
            "PUT": lambda: self._update(table, data, replace=True),
            "DELETE": lambda: self._delete_many(table, query.get("records[]", [])),
        }
        if method not in handlers:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return handlers[method]()

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        try:
            data = json.loads(body)
        except ValueError:
            raise _unprocessable("INVALID_REQUEST_BODY", "Could not parse request body") from None
        if not isinstance(data, dict):
            raise _unprocessable("INVALID_REQUEST_BODY", "The request body must be a JSON object")
        return data

    def _base(self, base_id: str) -> FakeBase:
        base = self.bases.get(base_id)
        if base is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", MODEL_NOT_FOUND_MESSAGE)
        return base

    def _table(self, base_id: str, id_or_name: str) -> FakeTable:
        table = self._base(base_id).table(id_or_name)
        if table is None:
            raise ApiError(403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", MODEL_NOT_FOUND_MESSAGE)
        return table

    # -- reading -----------------------------------------------------------------------------------------------

    def _list(self, table: FakeTable, options: dict[str, Any], *, from_query: bool) -> dict[str, Any]:
        allowed = {"pageSize", "offset", "filterByFormula", "fields", "maxRecords", "returnFieldsByFieldId"}
        unsupported = sorted(set(options) - allowed)
        if unsupported:
            raise _unprocessable("INVALID_REQUEST_UNKNOWN", f"Unsupported parameter(s) {', '.join(unsupported)} "
                                 "(not implemented by the test server)")
        if options.get("returnFieldsByFieldId") not in (None, False, 0, "0", "false"):
            raise _unprocessable("INVALID_REQUEST_UNKNOWN",
                                 "returnFieldsByFieldId is not implemented by the test server")
        page_size = _int_option(options, "pageSize", MAX_PAGE_SIZE)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _unprocessable("INVALID_REQUEST_UNKNOWN", f"Invalid page size: {page_size} (1 to {MAX_PAGE_SIZE})")
        selected = self._selected_fields(table, options.get("fields"))
        listing, position = self._listing(table, options)
        page_ids = [i for i in listing.ids[position:position + page_size] if i in table.records]
        answer: dict[str, Any] = {"records": [self._render(table, table.records[i], selected) for i in page_ids]}
        if position + page_size < len(listing.ids):
            answer["offset"] = listing.offset(position + page_size)
        return answer

    def _listing(self, table: FakeTable, options: dict[str, Any]) -> tuple[_Iterator, int]:
        offset = str(options.get("offset") or "")
        if not offset:
            ids = self._matching_ids(table, options.get("filterByFormula") or "")
            max_records = _int_option(options, "maxRecords", 0)
            listing = _Iterator(self.new_id("itr"), table.id, ids[:max_records] if max_records > 0 else ids)
            self._iterators[listing.id] = listing
            return listing, 0
        iterator_id, _, record_id = offset.partition("/")
        listing = self._iterators.get(iterator_id)
        if listing is None or listing.table_id != table.id or record_id not in listing.ids:
            raise _unprocessable("LIST_RECORDS_ITERATOR_NOT_AVAILABLE", "List records iterator not available")
        return listing, listing.ids.index(record_id)

    def _selected_fields(self, table: FakeTable, names: Any) -> list[FakeField]:
        if names is None:
            return table.fields
        if isinstance(names, str):
            names = [names]
        selected = []
        for name in names:
            found = table.field_named(name) or next((f for f in table.fields if f.id == name), None)
            if found is None:
                raise _unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
            selected.append(found)
        return selected

    def _matching_ids(self, table: FakeTable, source: str) -> list[str]:
        if not source.strip():
            return list(table.records)
        try:
            formula = Formula(source, (f.name for f in table.fields))
            return [r.id for r in table.records.values() if _truthy(formula.evaluate(self._getter(table, r)))]
        except (FormulaError, ValueError, TypeError) as exc:
            raise _unprocessable("INVALID_FILTER_BY_FORMULA",
                                 f"The formula for filtering records is invalid: {exc}") from None

    def _getter(self, table: FakeTable, record: FakeRecord) -> Callable[[str], Value]:
        def get(name: str) -> Value:
            if name == "\0id":
                return record.id
            spec = table.field_named(name)
            assert spec is not None
            value = record.values.get(spec.id)
            if spec.type == "multipleRecordLinks":
                return ", ".join(self._primary_value(spec, linked) for linked in value or [])
            if spec.type == "checkbox":
                return bool(value)
            return value

        return get

    def _primary_value(self, link: FakeField, record_id: str) -> str:
        for base in self.bases.values():
            linked = base.table(link.options["linkedTableId"])
            if linked and record_id in linked.records:
                return _text(linked.records[record_id].values.get(linked.fields[0].id))
        return record_id

    @staticmethod
    def _render(table: FakeTable, record: FakeRecord, selected: Sequence[FakeField] | None = None) -> dict[str, Any]:
        # Airtable leaves empty cells out of every answer.
        fields = {f.name: record.values[f.id] for f in (selected or table.fields)
                  if not _is_empty(record.values.get(f.id))}
        return {"id": record.id, "createdTime": record.created_time, "fields": fields}

    # -- writing -----------------------------------------------------------------------------------------------

    def _one_record(self, method: str, table: FakeTable, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        record = table.records.get(record_id)
        if record is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if method == "GET":
            return self._render(table, record)
        if method == "DELETE":
            del table.records[record_id]
            return {"id": record_id, "deleted": True}
        if method in ("PATCH", "PUT"):
            _only_keys(data, {"fields", "typecast", "returnFieldsByFieldId"})
            values = self._values(table, data.get("fields"), bool(data.get("typecast")))
            self._apply(record, values, replace=method == "PUT")
            return self._render(table, record)
        raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)

    def _create(self, table: FakeTable, data: dict[str, Any]) -> dict[str, Any]:
        _only_keys(data, {"fields", "records", "typecast", "returnFieldsByFieldId"})
        typecast = bool(data.get("typecast"))
        if "records" not in data:
            record = self._new_record(table, self._values(table, data.get("fields"), typecast))
            return self._render(table, record)
        items = _records_list(data)
        prepared = [self._values(table, _only_keys(item, {"fields"}).get("fields"), typecast) for item in items]
        return {"records": [self._render(table, self._new_record(table, values)) for values in prepared]}

    def _update(self, table: FakeTable, data: dict[str, Any], *, replace: bool) -> dict[str, Any]:
        if "performUpsert" in data:
            raise _unprocessable("INVALID_REQUEST_UNKNOWN", "performUpsert is not implemented by the test server")
        _only_keys(data, {"records", "typecast", "returnFieldsByFieldId"})
        typecast = bool(data.get("typecast"))
        changes = []
        # Validate the whole batch before touching anything: Airtable applies a batch entirely or not at all.
        for item in _records_list(data):
            _only_keys(item, {"id", "fields"})
            record = table.records.get(str(item.get("id")))
            if record is None:
                raise _unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {item.get('id')} does not exist in this table")
            changes.append((record, self._values(table, item.get("fields"), typecast)))
        for record, values in changes:
            self._apply(record, values, replace=replace)
        return {"records": [self._render(table, record) for record, _ in changes]}

    def _delete_many(self, table: FakeTable, ids: list[str]) -> dict[str, Any]:
        if not 1 <= len(ids) <= MAX_RECORDS_PER_WRITE:
            raise _unprocessable("INVALID_RECORDS", f'"records" must be an array of up to {MAX_RECORDS_PER_WRITE} '
                                 "record IDs.")
        missing = [i for i in ids if i not in table.records]
        if missing:
            raise _unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {missing[0]} does not exist in this table")
        for record_id in ids:
            del table.records[record_id]
        return {"records": [{"id": i, "deleted": True} for i in ids]}

    def _new_record(self, table: FakeTable, values: dict[str, Any]) -> FakeRecord:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        record = FakeRecord(self.new_id("rec"), stamp, values)
        table.records[record.id] = record
        return record

    @staticmethod
    def _apply(record: FakeRecord, values: dict[str, Any], *, replace: bool) -> None:
        if replace:
            record.values.clear()
        record.values.update(values)

    def _values(self, table: FakeTable, fields: Any, typecast: bool) -> dict[str, Any]:
        if not isinstance(fields, dict):
            raise _unprocessable("INVALID_REQUEST_MISSING_FIELDS", 'Could not find field "fields" in the request body')
        values = {}
        for name, value in fields.items():
            spec = table.field_named(name)
            if spec is None:
                raise _unprocessable("UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')
            values[spec.id] = self._cell(spec, value, typecast)
        return values

    def _cell(self, spec: FakeField, value: Any, typecast: bool) -> Any:
        if spec.type in COMPUTED_TYPES:
            raise _unprocessable("INVALID_VALUE_FOR_COLUMN",
                                 f'Field "{spec.name}" cannot accept a value because the field is computed')
        if value is None:
            return None
        converted = _convert(spec.type, value, typecast)
        if converted is _INVALID:
            raise _unprocessable("INVALID_VALUE_FOR_COLUMN", f'Field "{spec.name}" cannot accept the provided value')
        if spec.type == "singleSelect":
            return self._choice(spec, converted, typecast)
        if spec.type == "multipleRecordLinks":
            self._check_links(spec, converted)
        return converted

    @staticmethod
    def _choice(spec: FakeField, value: str, typecast: bool) -> str | None:
        if value == "":
            return None
        if value not in spec.choices:
            if not typecast:
                raise _unprocessable("INVALID_MULTIPLE_CHOICE_OPTIONS",
                                     f'Insufficient permissions to create new select option ""{value}""')
            spec.options.setdefault("choices", []).append({"id": f"sel{len(spec.choices):014d}", "name": value})
        return value

    def _check_links(self, spec: FakeField, ids: list[str]) -> None:
        linked = next((t for b in self.bases.values() for t in b.tables if t.id == spec.options["linkedTableId"]), None)
        for record_id in ids:
            if linked is None or record_id not in linked.records:
                raise _unprocessable("ROW_DOES_NOT_EXIST", f"Record ID {record_id} does not exist")


_INVALID = object()


def _convert(kind: str, value: Any, typecast: bool) -> Any:
    """A cell value as Airtable would store it, or _INVALID."""
    if kind in TEXT_TYPES or kind == "singleSelect":
        if isinstance(value, str):
            return value
        return str(value) if typecast and isinstance(value, int | float) and not isinstance(value, bool) else _INVALID
    if kind in NUMBER_TYPES:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        number = _number(value) if typecast and isinstance(value, str) else None
        return number if number is not None else _INVALID
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        if typecast and isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "1", "checked")
        return _INVALID
    if kind == "date":
        try:
            return date.fromisoformat(str(value)[:10] if typecast else str(value)).isoformat()
        except ValueError:
            return _INVALID
    if kind == "multipleRecordLinks":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return list(value) if ok else _INVALID
    return value


def _only_keys(data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _unprocessable("INVALID_REQUEST_BODY", "Expected a JSON object")
    extra = sorted(set(data) - allowed)
    if extra:
        raise _unprocessable("INVALID_REQUEST_UNKNOWN", f"Invalid request: parameter validation failed. Unknown "
                             f"parameter(s): {', '.join(extra)}")
    if data.get("returnFieldsByFieldId"):
        raise _unprocessable("INVALID_REQUEST_UNKNOWN", "returnFieldsByFieldId is not implemented by the test server")
    return data


def _records_list(data: dict[str, Any]) -> list[Any]:
    items = data.get("records")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_RECORDS_PER_WRITE:
        raise _unprocessable("INVALID_RECORDS",
                             f'"records" must be an array of 1 to {MAX_RECORDS_PER_WRITE} records per request')
    return items


def _query_options(query: dict[str, list[str]]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, values in query.items():
        if key == "fields[]":
            options["fields"] = values
        else:
            options[key] = values[-1]
    return options


def _int_option(options: dict[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _unprocessable("INVALID_REQUEST_UNKNOWN", f"{key} must be an integer") from None


# --- HTTP ---------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every answer carries Content-Length
    server: _HTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, extra = self.server.api.handle(self.command, self.path, self.headers, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the request log lives in FakeAirtable.log
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeAirtable

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has closed its end before a stalled answer is written: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class AirtableServer:
    """Airtable's REST API on 127.0.0.1 for the pyairtable client: start(), url, seed and inspect, stop()."""

    def __init__(self, *, token: str = "pat-test-token", forbidden_tokens: Sequence[str] = (), rate_limit: int = 5,
                 rate_window: float = 1.0, penalty_seconds: float = 0.0, retry_after: float | None = None,
                 seed: int = 1) -> None:
        self.api = FakeAirtable(token=token, forbidden_tokens=forbidden_tokens, rate_limit=rate_limit,
                                rate_window=rate_window, penalty_seconds=penalty_seconds, retry_after=retry_after,
                                seed=seed)
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str:
        return self.api.token

    @property
    def url(self) -> str:
        assert self._http is not None, "start() the server first"
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AirtableServer:
        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.api = self.api
        # A short poll interval: shutdown() waits for the serving loop to look at its flag.
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="airtable-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> AirtableServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- building a base ---------------------------------------------------------------------------------------

    def add_base(self, base_id: str, name: str = "Base") -> None:
        with self.api.lock:
            self.api.bases[base_id] = FakeBase(base_id, name)

    def add_table(self, base_id: str, name: str, fields: Sequence[Mapping[str, Any]]) -> str:
        """Fields as {"name", "type", optional "choices" (select) or "table" (name of the linked table)}; the first is
        the primary field."""
        with self.api.lock:
            base = self.api.bases[base_id]
            table = FakeTable(self.api.new_id("tbl"), name, [self._field(base, spec) for spec in fields])
            base.tables.append(table)
            return table.id

    def _field(self, base: FakeBase, spec: Mapping[str, Any]) -> FakeField:
        kind = spec["type"]
        options = dict(DEFAULT_OPTIONS.get(kind, {}))
        if kind == "singleSelect":
            options["choices"] = [{"id": self.api.new_id("sel"), "name": c, "color": "blueLight2"}
                                  for c in spec.get("choices", ())]
        if kind == "multipleRecordLinks":
            linked = base.table(spec["table"])
            assert linked is not None, f"add the table {spec['table']!r} before linking to it"
            options = {"isReversed": False, "linkedTableId": linked.id, "prefersSingleRecordLink": True,
                       "inverseLinkFieldId": None}
        return FakeField(self.api.new_id("fld"), spec["name"], kind, options)

    def _table(self, base_id: str, table: str) -> FakeTable:
        found = self.api.bases[base_id].table(table)
        assert found is not None, f"no table {table!r} in {base_id}"
        return found

    def seed(self, base_id: str, table: str, rows: Iterable[Mapping[str, Any]], *, typecast: bool = False) -> list[str]:
        """Add records (field name -> value), validated like the API does but without a request or a rate limit."""
        with self.api.lock:
            target = self._table(base_id, table)
            return [self.api._new_record(target, self.api._values(target, dict(row), typecast)).id for row in rows]

    # -- changing it behind the client's back ------------------------------------------------------------------

    def delete_record(self, base_id: str, table: str, record_id: str) -> None:
        with self.api.lock:
            del self._table(base_id, table).records[record_id]

    def rename_field(self, base_id: str, table: str, old: str, new: str) -> None:
        with self.api.lock:
            spec = self._table(base_id, table).field_named(old)
            assert spec is not None, f"no field {old!r}"
            spec.name = new

    def remove_choice(self, base_id: str, table: str, field_name: str, choice: str) -> None:
        with self.api.lock:
            spec = self._table(base_id, table).field_named(field_name)
            assert spec is not None, f"no field {field_name!r}"
            spec.options["choices"] = [c for c in spec.options["choices"] if c["name"] != choice]

    def set_cell(self, base_id: str, table: str, record_id: str, field_name: str, value: Any) -> None:
        """A person editing a cell in the Airtable UI."""
        with self.api.lock:
            target = self._table(base_id, table)
            target.records[record_id].values.update(self.api._values(target, {field_name: value}, False))

    def fail_next(self, status: int, *, count: int = 1, method: str | None = None) -> None:
        """Answer the next `count` requests (with `method`) with `status`, e.g. 503, before looking at anything else."""
        with self.api.lock:
            self.api._injected.append(_Injected(status, count, method=method))

    def stall_next(self, seconds: float, *, count: int = 1, method: str | None = None) -> None:
        """Carry out the next `count` requests (with `method`) but answer only after `seconds`: a lost answer."""
        with self.api.lock:
            self.api._injected.append(_Injected(0, count, seconds, method))

    # -- inspecting --------------------------------------------------------------------------------------------

    def records(self, base_id: str, table: str) -> list[dict[str, Any]]:
        with self.api.lock:
            target = self._table(base_id, table)
            return [self.api._render(target, r) for r in target.records.values()]

    def record(self, base_id: str, table: str, record_id: str) -> dict[str, Any] | None:
        with self.api.lock:
            target = self._table(base_id, table)
            found = target.records.get(record_id)
            return self.api._render(target, found) if found else None

    def requests(self, method: str | None = None, *, path_suffix: str | None = None,
                 status: int | None = None) -> list[LoggedRequest]:
        with self.api.lock:
            return [r for r in self.api.log if (method is None or r.method == method)
                    and (path_suffix is None or r.path.endswith(path_suffix))
                    and (status is None or r.status == status)]

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests() if r.is_write]

    @property
    def rate_limited(self) -> int:
        return len(self.requests(status=429))

    def peak_rate(self, window: float = 1.0) -> int:
        """The most requests to one base that arrived within any `window` seconds (429s included)."""
        with self.api.lock:
            by_base: dict[str, list[float]] = {}
            for entry in self.api.log:
                if entry.base_id is not None:
                    by_base.setdefault(entry.base_id, []).append(entry.time)
        return max((_densest(sorted(times), window) for times in by_base.values()), default=0)

    def clear_log(self) -> None:
        with self.api.lock:
            self.api.log.clear()


def _densest(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- the partnerships base ------------------------------------------------------------------------------------------

BASE_ID = "appPartnerships01"
STATUS_CHOICES = ("Active Lead", "Inactive Lead", "Needs Admin", "Active Service", "Inactive Service", "Waiting")
LEADS_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Community", "type": "singleLineText"},
    {"name": "Status", "type": "singleSelect", "choices": STATUS_CHOICES},
    {"name": "Contact emails", "type": "multilineText"},
    {"name": "Domain", "type": "singleLineText"},
    {"name": "Service tier", "type": "singleSelect", "choices": ("Small", "Medium", "Large")},
    {"name": "Monthly fee", "type": "currency"},
    {"name": "Cloud billing managed", "type": "checkbox"},
    {"name": "Service start", "type": "date"},
    {"name": "Notes", "type": "multilineText"},
)
HUB_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Name", "type": "singleLineText"},
    {"name": "Lead", "type": "multipleRecordLinks", "table": "Leads"},
    {"name": "Notes", "type": "multilineText"},
)


SPEND_FIELDS = (
    {"name": "Community", "type": "singleLineText"},
    {"name": "Month", "type": "singleLineText"},
    {"name": "Amount", "type": "currency"},
    {"name": "Currency", "type": "singleLineText"},
)
INVOICE_FIELDS = (
    {"name": "Name", "type": "singleLineText"},
    {"name": "Community", "type": "multipleRecordLinks", "table": "Leads"},
    {"name": "Month", "type": "singleLineText"},
    {"name": "Tier", "type": "singleLineText"},
    {"name": "Fee", "type": "currency"},
    {"name": "Cloud spend", "type": "currency"},
    {"name": "Total", "type": "currency"},
    {"name": "Currency", "type": "singleLineText"},
    {"name": "Status", "type": "singleSelect", "choices": ("Pending certification", "Affirmed")},
    {"name": "Notes", "type": "multilineText"},
)



def add_partnerships_base(server: AirtableServer, base_id: str = BASE_ID) -> None:
    """The sales team's base: Leads with the six statuses, Active Hubs linking to it, and the seeds' Cloud
    Spend and Invoices tables."""
    server.add_base(base_id, "Partnerships")
    server.add_table(base_id, "Leads", LEADS_FIELDS)
    server.add_table(base_id, "Active Hubs", HUB_FIELDS)
    server.add_table(base_id, "Cloud Spend", SPEND_FIELDS)
    server.add_table(base_id, "Invoices", INVOICE_FIELDS)


def lead_rows(count: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
    """`count` plausible leads, community-N with contact-N@community-N.org."""
    for number in range(start, start + count):
        yield {"Community": f"Community {number}", "Status": "Active Lead",
               "Contact emails": f"contact-{number}@community-{number}.org", "Domain": f"community-{number}.org",
               "Notes": f"Seeded lead {number}\n"}
