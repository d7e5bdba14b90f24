"""The Kibana Query Language subset ``flowcep alerts search`` understands, two ways: as
Elasticsearch query DSL (what Kibana would send) and as a predicate over alert documents
(for the local alert file, when no cluster is configured). One parser feeds both, and the
field types come from the alert mapping, so a query means the same thing in both places.

Supported: ``field:value``, ``field:"quoted phrase"``, ``field:(a or b)``, ``field:*``
(exists), unquoted space-separated values (any of them), ``and``/``or``/``not`` (any case;
``and`` binds tighter than ``or``), parentheses, wildcards ``*``/``?`` in unquoted values,
ranges ``field >= value`` (``<``, ``<=``, ``>``, ``>=``) over numbers, dates (ISO 8601 or
``now-24h`` style date math) and IP addresses, CIDR blocks on IP fields
(``source.ip:10.0.0.0/8``), free text without a field (matched against every field).
Backslash escapes a special character in an unquoted value (``\\:``, ``\\*``).
Values with a colon (IPv6, timestamps) must be quoted, as in Kibana.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from ..errors import ConfigError

__all__ = [
    "KQLError",
    "Node",
    "And",
    "Or",
    "Not",
    "Match",
    "Range",
    "Exists",
    "parse",
    "to_dsl",
    "compile_predicate",
    "matches",
    "parse_time",
    "field_values",
]


class KQLError(ConfigError):
    """A query that does not parse or cannot apply; names the column."""

    def __init__(self, message: str, query: str = "", position: int | None = None) -> None:
        where = f" at column {position + 1}" if position is not None else ""
        text = f"query{where}: {message}"
        if query and position is not None:
            text += f"\n  {query}\n  {' ' * position}^"
        super().__init__(text)
        self.position = position


# -- syntax tree -----------------------------------------------------------------------------


class Node:
    """A query expression."""


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False

    @property
    def wildcard(self) -> bool:
        return not self.quoted and _has_wildcard(self.text)


@dataclass(frozen=True)
class And(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not(Node):
    item: Node


@dataclass(frozen=True)
class Match(Node):
    field: str | None  # None: free text over every field
    value: Value


@dataclass(frozen=True)
class Range(Node):
    field: str
    op: str  # gt gte lt lte
    value: str


@dataclass(frozen=True)
class Exists(Node):
    field: str


def _has_wildcard(text: str) -> bool:
    # Escaped wildcards were turned into \x00/\x01 by the lexer.
    return "*" in text or "?" in text


# -- lexer -----------------------------------------------------------------------------------

_SPECIAL = set('():<>"\\')
_RANGE_OPS = {"<=": "lte", ">=": "gte", "<": "lt", ">": "gt"}
_ESC_STAR, _ESC_Q = "\x00", "\x01"


@dataclass(frozen=True)
class Tok:
    kind: str  # ( ) : RANGE QUOTED WORD AND OR NOT END
    text: str
    pos: int


def _lex(query: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        if c in "():":
            toks.append(Tok(c, c, i))
            i += 1
            continue
        if c in "<>":
            op = query[i : i + 2] if query[i + 1 : i + 2] == "=" else c
            toks.append(Tok("RANGE", op, i))
            i += len(op)
            continue
        if c == '"':
            j, buf = i + 1, []
            while j < n and query[j] != '"':
                if query[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(query[j])
                j += 1
            if j >= n:
                raise KQLError("unterminated quoted string", query, i)
            toks.append(Tok("QUOTED", "".join(buf), i))
            i = j + 1
            continue
        j, buf = i, []
        while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
            buf.append(query[j])
            j += 1
            if j < n and query[j] == "\\" and j + 1 < n:
                nxt = query[j + 1]
                buf.append(_ESC_STAR if nxt == "*" else _ESC_Q if nxt == "?" else nxt)
                j += 2
        if j == i:
            if c == "\\" and i + 1 < n:
                nxt = query[i + 1]
                j = i + 2
                buf = [_ESC_STAR if nxt == "*" else _ESC_Q if nxt == "?" else nxt]
                while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
                    buf.append(query[j])
                    j += 1
            else:
                raise KQLError(f"unexpected {c!r}", query, i)
        word = "".join(buf)
        low = word.lower()
        kind = {"and": "AND", "or": "OR", "not": "NOT"}.get(low, "WORD")
        toks.append(Tok(kind, word, i))
        i = j
    toks.append(Tok("END", "", n))
    return toks


def _unescape(text: str) -> str:
    return text.replace(_ESC_STAR, "*").replace(_ESC_Q, "?")


# -- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = _lex(query)
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self, kind: str | None = None) -> Tok:
        tok = self.peek()
        if kind is not None and tok.kind != kind:
            raise KQLError(f"expected {kind_name(kind)}, found {describe(tok)}", self.query, tok.pos)
        self.i += 1
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise KQLError("empty query", self.query, 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "END":
            raise KQLError(f"expected 'and', 'or' or the end, found {describe(tok)}", self.query, tok.pos)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.peek().kind == "AND":
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.peek().kind == "NOT":
            self.take()
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            node = self.or_expr()
            self.take(")")
            return node
        if tok.kind == "WORD" and self.peek(1).kind == ":":
            field = _unescape(self.take().text)
            self.take(":")
            return self.field_value(field)
        if tok.kind == "WORD" and self.peek(1).kind == "RANGE":
            field = _unescape(self.take().text)
            op = _RANGE_OPS[self.take().text]
            val = self.peek()
            if val.kind not in ("WORD", "QUOTED"):
                raise KQLError(f"expected a value after the comparison, found {describe(val)}", self.query, val.pos)
            self.take()
            return Range(field, op, _unescape(val.text))
        if tok.kind in ("WORD", "QUOTED"):
            return self.values(None)
        raise KQLError(f"expected a condition, found {describe(tok)}", self.query, tok.pos)

    def field_value(self, field: str) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.take()
            node = self.value_or(field)
            self.take(")")
            return node
        if tok.kind == "WORD" and tok.text == "*" and self.peek(1).kind in ("END", ")", "AND", "OR"):
            self.take()
            return Exists(field)
        if tok.kind not in ("WORD", "QUOTED"):
            raise KQLError(f"expected a value for {field!r}, found {describe(tok)}", self.query, tok.pos)
        return self.values(field)

    def values(self, field: str | None) -> Node:
        """One quoted value, or unquoted words up to an operator: any of them matches."""
        tok = self.take()
        if tok.kind == "QUOTED":
            return Match(field, Value(tok.text, quoted=True))
        words = [tok.text]
        while self.peek().kind == "WORD" and self.peek(1).kind not in (":", "RANGE"):
            words.append(self.take().text)
        items = [Match(field, Value(w)) for w in words]
        return items[0] if len(items) == 1 else Or(tuple(items))

    def value_or(self, field: str) -> Node:
        items = [self.value_and(field)]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.value_and(field))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def value_and(self, field: str) -> Node:
        items = [self.value_not(field)]
        while self.peek().kind == "AND":
            self.take()
            items.append(self.value_not(field))
        return items[0] if len(items) == 1 else And(tuple(items))

    def value_not(self, field: str) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            return Not(self.value_not(field))
        if tok.kind == "(":
            self.take()
            node = self.value_or(field)
            self.take(")")
            return node
        if tok.kind not in ("WORD", "QUOTED"):
            raise KQLError(f"expected a value for {field!r}, found {describe(tok)}", self.query, tok.pos)
        return self.values(field)


def kind_name(kind: str) -> str:
    return {")": "')'", "(": "'('", ":": "':'", "END": "the end"}.get(kind, kind.lower())


def describe(tok: Tok) -> str:
    if tok.kind == "END":
        return "the end of the query"
    return f"{tok.text!r}"


def parse(query: str) -> Node:
    """Parse KQL; :class:`KQLError` names the column of the first problem."""
    return _Parser(query).parse()


# -- time ------------------------------------------------------------------------------------

_DATEMATH = re.compile(r"^now(?:([+-])(\d+)([smhdwMy]))?(?:/[smhdwMy])?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """ISO 8601 (``Z`` or offset; a bare date is midnight UTC), epoch milliseconds, or
    ``now``/``now-24h``/``now+1d`` date math -> aware UTC datetime."""
    text = text.strip()
    m = _DATEMATH.match(text)
    if m:
        base = now or datetime.now(UTC)
        if m.group(1):
            delta = timedelta(seconds=int(m.group(2)) * _UNITS[m.group(3)])
            base = base + delta if m.group(1) == "+" else base - delta
        return base
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KQLError(f"{text!r} is not a date (ISO 8601, epoch ms, or now-24h)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- query DSL -------------------------------------------------------------------------------

TEXT_TYPES = {"text", "match_only_text"}
NUMERIC_TYPES = {"long", "integer", "short", "byte", "float", "double", "half_float", "scaled_float"}


def _type(types: Mapping[str, str], field: str) -> str | None:
    return types.get(field)


def to_dsl(node: Node, types: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Elasticsearch query DSL for ``node``; ``types`` maps field -> mapping type.

    Date math is resolved here to absolute times, so a server without date math (and the
    local evaluator) reads the same instant.
    """
    if isinstance(node, And):
        return {"bool": {"filter": [to_dsl(n, types, now) for n in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [to_dsl(n, types, now) for n in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [to_dsl(node.item, types, now)]}}
    if isinstance(node, Exists):
        return {"exists": {"field": node.field}}
    if isinstance(node, Range):
        kind = _type(types, node.field)
        value: Any = node.value
        if kind == "date":
            value = iso(parse_time(node.value, now))
        elif kind in NUMERIC_TYPES:
            value = _number(node.value, node.field)
        elif kind == "ip":
            _ip(node.value, node.field)
        return {"range": {node.field: {node.op: value}}}
    assert isinstance(node, Match)
    v = node.value
    text = _unescape(v.text)
    if node.field is None:
        q: dict[str, Any] = {"query": text, "fields": ["*"], "lenient": True}
        if v.quoted:
            q["type"] = "phrase"
        return {"multi_match": q}
    field = node.field
    kind = _type(types, field)
    if kind in TEXT_TYPES:
        if v.quoted:
            return {"match_phrase": {field: text}}
        if v.wildcard:
            return {"wildcard": {field: {"value": v.text.replace(_ESC_STAR, "\\*").replace(_ESC_Q, "\\?"),
                                         "case_insensitive": True}}}
        return {"match": {field: text}}
    if v.wildcard:
        if kind in NUMERIC_TYPES or kind in ("ip", "date"):
            raise KQLError(f"wildcards work on keyword fields; {field} is {kind}")
        return {"wildcard": {field: {"value": v.text.replace(_ESC_STAR, "\\*").replace(_ESC_Q, "\\?")}}}
    if kind == "ip":
        _ip(text, field)  # CIDR or address; Elasticsearch's term query on ip takes both
        return {"term": {field: text}}
    if kind in NUMERIC_TYPES:
        return {"term": {field: _number(text, field)}}
    if kind == "date":
        return {"term": {field: iso(parse_time(text, now))}}
    return {"term": {field: text}}


def _number(text: str, field: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise KQLError(f"{field} is numeric; {text!r} is not a number") from None


def _ip(text: str, field: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise KQLError(f"{field} holds IP addresses; {text!r} is not an address or CIDR block") from None


# -- local evaluation ------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


def field_values(doc: Mapping[str, Any], field: str) -> list[Any]:
    """Values at a dotted path, through nested objects, dotted keys and lists."""
    out: list[Any] = []

    def walk(node: Any, parts: list[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, parts)
            return
        if not parts:
            if node is not None:
                out.append(node)
            return
        if not isinstance(node, Mapping):
            return
        # Try the longest dotted key first ({"source.ip": ...} as well as nested objects).
        for k in range(len(parts), 0, -1):
            key = ".".join(parts[:k])
            if key in node:
                walk(node[key], parts[k:])

    walk(doc, field.split("."))
    return out


def _leaves(doc: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _leaves(value, name + ".")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _leaves(item, name + ".")
                else:
                    yield name, item
        elif value is not None:
            yield name, value


_TOKEN = re.compile(r"\w+", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _as_ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _value_test(kind: str | None, v: Value, field: str, now: datetime | None) -> Callable[[Any], bool]:
    text = _unescape(v.text)
    if kind in TEXT_TYPES:
        if v.quoted:
            phrase = _tokens(text)

            def phrase_test(x: Any) -> bool:
                toks = _tokens(str(x))
                n = len(phrase)
                return any(toks[i : i + n] == phrase for i in range(len(toks) - n + 1)) if n else False

            return phrase_test
        if v.wildcard:
            pattern = v.text.lower()
            return lambda x: any(fnmatchcase(t, pattern) for t in _tokens(str(x))) or fnmatchcase(
                str(x).lower(), pattern)
        wanted = set(_tokens(text))
        return lambda x: bool(wanted & set(_tokens(str(x))))
    if v.wildcard:
        if kind in NUMERIC_TYPES or kind in ("ip", "date"):
            raise KQLError(f"wildcards work on keyword fields; {field} is {kind}")
        pattern = v.text
        return lambda x: isinstance(x, str) and fnmatchcase(
            x, pattern.replace(_ESC_STAR, "[*]").replace(_ESC_Q, "[?]"))
    if kind == "ip":
        net = _ip(text, field)

        def ip_test(x: Any) -> bool:
            a = _as_ip(x)
            return a is not None and a.version == net.version and a in net

        return ip_test
    if kind in NUMERIC_TYPES:
        num = _number(text, field)
        return lambda x: isinstance(x, int | float) and not isinstance(x, bool) and x == num
    if kind == "date":
        when = parse_time(text, now)
        return lambda x: _time_or_none(x) == when
    # keyword / unknown: exact text; numbers compare as numbers when both are numeric
    try:
        as_num: float | None = float(text)
    except ValueError:
        as_num = None

    def exact(x: Any) -> bool:
        if isinstance(x, bool):
            return str(x).lower() == text.lower()
        if isinstance(x, int | float):
            return as_num is not None and x == as_num
        return str(x) == text

    return exact


def _time_or_none(x: Any) -> datetime | None:
    try:
        return parse_time(str(x))
    except KQLError:
        return None


def _range_test(kind: str | None, op: str, raw: str, field: str, now: datetime | None) -> Callable[[Any], bool]:
    cmp: Callable[[Any, Any], bool] = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }[op]
    if kind == "date" or (kind is None and _DATEMATH.match(raw)):
        bound = parse_time(raw, now)

        def date_test(x: Any) -> bool:
            t = _time_or_none(x)
            return t is not None and cmp(t, bound)

        return date_test
    if kind == "ip":
        b = _as_ip(raw)
        if b is None:
            raise KQLError(f"{field} holds IP addresses; {raw!r} is not one")

        def ip_test(x: Any) -> bool:
            a = _as_ip(x)
            return a is not None and a.version == b.version and cmp(a, b)

        return ip_test
    if kind in NUMERIC_TYPES or kind is None:
        try:
            num = _number(raw, field)
        except KQLError:
            if kind is not None:
                raise
            return lambda x: isinstance(x, str) and cmp(x, raw)
        return lambda x: isinstance(x, int | float) and not isinstance(x, bool) and cmp(x, num)
    return lambda x: isinstance(x, str) and cmp(x, raw)


def compile_predicate(node: Node, types: Mapping[str, str], now: datetime | None = None) -> Predicate:
    """A function doc -> bool with the same meaning as :func:`to_dsl` on the same types."""
    if isinstance(node, And):
        parts = [compile_predicate(n, types, now) for n in node.items]
        return lambda d: all(p(d) for p in parts)
    if isinstance(node, Or):
        parts = [compile_predicate(n, types, now) for n in node.items]
        return lambda d: any(p(d) for p in parts)
    if isinstance(node, Not):
        inner = compile_predicate(node.item, types, now)
        return lambda d: not inner(d)
    if isinstance(node, Exists):
        field = node.field
        return lambda d: bool(field_values(d, field))
    if isinstance(node, Range):
        rtest = _range_test(_type(types, node.field), node.op, node.value, node.field, now)
        rfield = node.field
        return lambda d: any(rtest(x) for x in field_values(d, rfield))
    assert isinstance(node, Match)
    if node.field is None:
        value = node.value

        def free(d: Mapping[str, Any]) -> bool:
            for name, x in _leaves(d):
                kind = _type(types, name)
                if kind in ("ip", "date") or kind in NUMERIC_TYPES:
                    continue  # lenient: a word is not compared with typed fields
                try:
                    # text fields by words, keyword fields exactly (multi_match semantics)
                    test = _value_test(kind, value, name, now)
                except KQLError:
                    continue
                if test(x):
                    return True
            return False

        return free
    mtest = _value_test(_type(types, node.field), node.value, node.field, now)
    mfield = node.field
    return lambda d: any(mtest(x) for x in field_values(d, mfield))


def matches(query: str, doc: Mapping[str, Any], types: Mapping[str, str]) -> bool:
    """Convenience: parse and evaluate once (tests, one-off checks)."""
    return compile_predicate(parse(query), types)(doc)
