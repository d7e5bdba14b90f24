"""EPL text -> syntax tree (``flowcep_plugin.engine.ast``), with errors that point at the place.

The grammar (``grammar.lark``) is compiled once per process into an LALR(1) parser: parsing a
module costs milliseconds and happens once, before any data flows.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import EPLError
from . import ast as A

__all__ = ["parse_module", "substitute_params", "TIME_UNITS_MS"]

#: Milliseconds per time-period unit (Esper's keywords, singular/plural/abbreviated).
TIME_UNITS_MS: dict[str, float] = {}
for _names, _ms in (
    (("year", "years"), 365 * 86_400_000),
    (("month", "months"), 30 * 86_400_000),
    (("week", "weeks"), 7 * 86_400_000),
    (("day", "days"), 86_400_000),
    (("hour", "hours"), 3_600_000),
    (("minute", "minutes", "min", "mins"), 60_000),
    (("second", "seconds", "sec", "secs"), 1_000),
    (("millisecond", "milliseconds", "msec", "msecs"), 1),
    (("microsecond", "microseconds", "usec", "usecs"), 0.001),
):
    for _n in _names:
        TIME_UNITS_MS[_n] = _ms

#: Esper built-in functions FlowCEP does not have, by the construct they belong to (h-erefuse):
#: refused by name where the call is written, rather than as an unknown function (or, for
#: instanceof/typeof, an "unknown property" for the type name). first(), last() and window()
#: are aggregates inside match_recognize measures; elsewhere expressions.py names them.
ESPER_FUNCTIONS_REFUSED: dict[str, str] = {
    **{f: f"the aggregation function {f}() (Esper's {f}; supported: count, sum, avg, min, max, median, "
          "stddev, avedev)"
       for f in ("countever", "firstever", "lastever", "maxever", "minever",
                 "fmax", "fmin", "maxby", "minby", "sorted", "nth", "rate", "leaving", "countminsketch",
                 "countminsketch_add", "countminsketch_frequency", "countminsketch_topk")},
    "grouping": "grouping() (GROUP BY with rollup, cube or grouping sets)",
    "grouping_id": "grouping_id() (GROUP BY with rollup, cube or grouping sets)",
    "rollup": "GROUP BY rollup(...)",
    "cube": "GROUP BY cube(...)",
    "typeof": "typeof() (event types are not exposed)",
    "instanceof": "instanceof() (event types are not exposed)",
    "current_timestamp": "current_timestamp() (FlowCEP runs on event time; select the flow's time)",
    "current_evaluation_context": "current_evaluation_context()",
    "transpose": "transpose()",
}

#: Esper annotations that change how statements run, refused rather than ignored (h-erefuse)
_REFUSED_ANNOTATIONS: dict[str, str] = {
    "hint": "@Hint (Esper's query-planning, view-sharing and retain-union/intersection hints; "
            "FlowCEP has none, so the statement would run differently)",
    "priority": "@Priority (prioritized execution)",
    "drop": "@Drop (prioritized execution)",
}

#: items of one match_recognize_permute (h-mrec): n! orders
_MAX_PERMUTED = 5

_PLACEHOLDER = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}")

_KEYWORD_DISPLAY = {
    "ARROW": "'->'", "STAR": "'*'", "MUL_OP": "'*', '/' or '%'", "ADD_OP": "'+' or '-'",
    "COMP_OP": "a comparison operator", "NAME": "a name", "NUMBER": "a number",
    "STRING": "a string", "TIME_UNIT": "a time unit (sec, min, hour...)",
    "OUTPUT_KIND": "ALL, FIRST, LAST or SNAPSHOT", "ARRAY": "'[]'", "$END": "end of input",
    # h-mrec: match_recognize
    "ALL_MATCHES": "ALL MATCHES", "AFTER_MATCH_SKIP": "AFTER MATCH SKIP",
    "PERMUTE": "match_recognize_permute(...)",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
    # cache=True keeps the LALR tables in a temp file keyed by grammar and lark version:
    # building them costs ~0.4 s at every start otherwise (flowcep epl, validate, run)
    try:
        return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                    maybe_placeholders=True, cache=True)
    except OSError:  # read-only temp dir
        return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                    maybe_placeholders=True)


def _display(name: str) -> str:
    if name in _KEYWORD_DISPLAY:
        return _KEYWORD_DISPLAY[name]
    for term in _parser().terminals:
        if term.name == name:
            pat = term.pattern
            if isinstance(pat, lark.lexer.PatternStr):
                return repr(pat.value)
            if name.isupper() and name.isalpha():
                return name  # keyword
    return name


def substitute_params(text: str, params: Mapping[str, Any] | None, filename: str = "<epl>") -> str:
    """Replace ``${name}`` placeholders by configuration values (before parsing).

    Strings are inserted as they are (write ``'${name}'`` for a string literal); booleans as
    ``true``/``false``; a name missing from ``params`` is an error at its position.
    """
    if "${" not in text:
        return text
    params = params or {}

    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in params:
            line = text.count("\n", 0, m.start()) + 1
            col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
            raise EPLError(f"unknown parameter ${{{key}}} (known: {', '.join(sorted(params)) or 'none'})",
                           filename, line, col)
        value = params[key]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _PLACEHOLDER.sub(repl, text)


def parse_module(text: str, filename: str = "<epl>") -> list[A.Statement]:
    """Parse a whole module into statements; raise EPLError with line, column and expected."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, filename) from None
    try:
        return cast("list[A.Statement]", _Build(text, filename).transform(tree))
    except VisitError as exc:
        if isinstance(exc.orig_exc, EPLError):
            raise exc.orig_exc from None
        raise


def _syntax_error(exc: UnexpectedInput, text: str, filename: str) -> EPLError:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        got = "end of input" if tok.type == "$END" else repr(str(tok))
        expected = sorted({_display(n) for n in exc.expected})
        if tok.type == "$END":
            line = text.count("\n") + 1
            column = len(text) - text.rfind("\n")
        msg = f"syntax error: unexpected {got}; expected one of: {', '.join(expected)}"
    elif isinstance(exc, UnexpectedCharacters):
        at = exc.pos_in_stream or 0
        ch = text[at] if at < len(text) else ""
        expected = sorted({_display(n) for n in (exc.allowed or ())})
        msg = f"syntax error: unexpected character {ch!r}"
        if expected:
            msg += f"; expected one of: {', '.join(expected)}"
    elif isinstance(exc, UnexpectedEOF):
        expected = sorted({_display(n) for n in exc.expected})
        line = text.count("\n") + 1
        column = len(text) - text.rfind("\n")
        msg = f"syntax error: unexpected end of input; expected one of: {', '.join(expected)}"
    else:  # pragma: no cover - lark has no other subclasses today
        msg = f"syntax error: {exc}"
    if line is not None and line < 0:
        line = None
    stop: Any = getattr(exc, "pos_in_stream", None)
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        stop = exc.token.start_pos
    named = _named_construct(text, stop, exc) if isinstance(stop, int) else None
    if named is not None:
        msg = f"unsupported construct: {named}"
    return EPLError(msg, filename, line, column)


# --- Esper constructs the grammar does not take, named in the syntax error (h-erefuse) ---
# Each rule is (pattern the statement text before the error must end with, or None; pattern the
# text from the error on must start with, or None; the construct's name). The first rule whose
# patterns both match names the error. Only a failed parse runs them: parsing a supported
# statement costs nothing more. docs/epl-inventory.md lists every construct and how it fares.
_Rule = tuple["re.Pattern[str] | None", "re.Pattern[str] | None", str]


def _rules(*rows: tuple[str | None, str | None, str]) -> list[_Rule]:
    return [(re.compile(b + r"\s*$", re.I | re.S) if b is not None else None,
             re.compile(a, re.I | re.S) if a is not None else None, name) for b, a, name in rows]


_TIME = "a time period computed from an expression, a property or a variable, or inside an expression " \
        "(only a number and a unit, such as 10 sec or 1 min 30 sec)"
_ENUM_METHODS = (r"size|anyOf|allOf|sumOf|countOf|where|selectFrom|firstOf|lastOf|minBy|maxBy|min|max|"
                 r"average|aggregate|orderBy|orderByDesc|distinctOf|take|takeLast|takeWhile|mostFrequent|"
                 r"leastFrequent|groupBy|toMap|reverse|union|intersect|except|sequenceEqual|arrayOf")
_NAMED_RULES = _rules(
    # patterns (h-patterns, h-mrec)
    (None, r"match_recognize\b", "MATCH_RECOGNIZE here: it follows one stream (from S[#keepall] "
                                  "match_recognize (...)), not a join or a pattern"),
    (None, r"while\b", "the pattern guard WHILE (use timer:within or a filter)"),
    (None, r"-\s*\[", "followed-by with a limit, -[n]>"),
    (None, r"@\s*(consume|priority)\b", "@consume/@priority on a pattern filter"),
    (r"\b(?!Math\b)[A-Za-z_$][\w$]*\s*\.\s*(" + _ENUM_METHODS + r")", r"\(",
     "enumeration methods such as B.size() or B.anyOf(...) (use aggregates: count(B.x), first(B.x), sum(B.x)...)"),
    (r"timer\s*:\s*at\s*\([^()]*", None, "the pattern observer timer:at (use timer:interval)"),
    (r"timer\s*:\s*schedule\s*\([^()]*", None, "the pattern observer timer:schedule"),
    (r"\bpattern\s*\[[^;]*\]\s*(as\s+[\w$]+)?", r"(#|\.\s*\w+\s*:)", "a data window on a pattern"),
    (r"\bpattern\s*\[[^;]*\]\s*(as\s+[\w$]+)?", r"(unidirectional\b|,|(left|right|full|inner)?\s*(outer\s+)?join\b)",
     "a pattern joined with streams (from pattern [...], S)"),
    (r"\bpattern\s*\[[^\]]*", r"#", "a data window on a pattern filter"),
    (r"\bpattern\s*\[[^\]]*[\w$)]", r"\[", "contained-event selection S[...] in a pattern"),
    # statements
    (r"^create", r"(objectarray|avro|variant|json|xml)\b", "create objectarray/avro/variant/json/xml schema "
                                                           "(only create [map] schema T (prop type, ...))"),
    (r"^create\s+(map\s+)?schema\s+[\w$]+", r"as\b", "create schema T as <class name> (declare the properties: "
                                                     "create schema T (a string, b int))"),
    (r"^create\s+(map\s+)?schema\b[^;]*", r"(inherits|starttimestamp|endtimestamp|copyfrom)\b",
     "create schema ... inherits/starttimestamp/endtimestamp/copyfrom"),
    (r"^create", r"table\b", "tables (create table)"),
    (r"^create", r"(constant\s+)?variable\b", "variables (create variable)"),
    (r"^create", r"(unique\s+)?index\b", "create index (explicit indexes on named windows or tables)"),
    (r"^create", r"expression\b", "create expression (declared expressions and scripts)"),
    (r"^create", r"dataflow\b", "create dataflow"),
    (r"^create", r"(graph|inlined_class|class)\b", "create inlined_class/graph"),
    (r"^create\s+window\b[^;]*", r"insert\b", "create window ... insert (populating a named window from "
                                              "another at creation)"),
    (r"^create\s+context\s+[\w$]+\s*(as)?", r"coalesce\b", "hash segmented contexts (create context ... "
                                                           "coalesce by)"),
    (r"^create\s+context\s+[\w$]+\s*(as)?", r"group\b", "category segmented contexts (create context ... group by)"),
    (r"^create\s+context\s+[\w$]+\s*(as)?", r"context\b", "nested contexts (create context C context A ..., "
                                                          "context B ...)"),
    (r"^create\s+context\b[^;]*\bpartition\b[^;]*\binitiated", None,
     "a keyed segmented context initiated by an event (partition by ... initiated by)"),
    (r"^create\s+context\b[^;]*\bpattern", r"\[", "a pattern as a context's start or end condition"),
    (r"^create\s+context\b[^;]*", r"pattern\s*\[", "a pattern as a context's start or end condition"),
    (r"^create\s+context\b[^;]*\b(start|end|initiated(\s+by)?|terminated(\s+by)?)", r"\(",
     "a crontab as a context's start or end condition ((minute, hour, day, month, weekday))"),
    (r"^create\s+context\b[^;]*\b(start|initiated(\s+by)?)\s+after", None,
     "a context started after a time period (start after P; only start @now)"),
    (r"^on\s+pattern", r"\[", "a pattern as the trigger of an on-statement"),
    (r"^on\b[^;]*\bset", None, "on-set (variables)"),
    (r"^on\b[^;]*\binsert\s+into\b[^;]*\bselect\b[^;]*", r"(where\b|insert\b|output\b|;|$)",
     "the split-stream on-insert (on S insert into A select ... insert into B select ...)"),
    (r"^on\b[^;]*\bselect\b[^;]*", r"(group\s+by|having)\b", "GROUP BY or HAVING in an on-select"),
    (r"^on\b[^;]*\bselect\b[^;]*\b(group|having)", None, "GROUP BY or HAVING in an on-select"),
    (r"^", r"update\s+istream\b", "update istream"),
    (r"^", r"delete\s+from\b", "fire-and-forget delete (delete from W; use on <event> delete from W)"),
    (r"^", r"(expression|script)\b", "expression declarations (expression name {...} or scripts)"),
    (r"\binsert\s+(\w+\s+)?into\s+table", None, "tables (insert into table)"),
    (r"\binsert\s+(\w+\s+)?into\s+[\w$]+", r"event\s*-\s*precedence\b", "insert into ... event-precedence"),
    (None, r"into\s+table\b", "tables (select ... into table)"),
    (None, r"for\s+(grouped_delivery|discrete_delivery)\b", "FOR grouped_delivery/discrete_delivery"),
    (r"\bfor", r"(grouped_delivery|discrete_delivery)\b", "FOR grouped_delivery/discrete_delivery"),
    # output rate limiting
    (r"\boutput(\s+(all|first|last|snapshot))?\s+when\s+terminated", r"and\b",
     "output ... when terminated and <condition>"),
    (r"\boutput(\s+(all|first|last|snapshot))?", r"when\s+terminated\b", "output when terminated"),
    (r"\boutput(\s+(all|first|last|snapshot))?", r"when\b", "output when <condition>"),
    (r"\boutput(\s+(all|first|last|snapshot))?", r"after\b",
     "output after here (write output after P [last] every Q, the keyword after the after clause)"),
    (r"\boutput(\s+(all|first|last|snapshot))?", r"at\b", "output at a crontab"),
    (r"\boutput\b[^;]*", r"and\s+when\s+terminated\b", "output ... and when terminated"),
    (r"\boutput\b[^;]*\bevery", r"[A-Za-z_$]", "an output rate from a variable or an expression"),
    (r"\blimit(\s+[-+]?\d+\s*(,|offset))?", r"[A-Za-z_$(]", "LIMIT or OFFSET from a variable or an expression"),
    # from clause
    (r"\bmethod", r":", "method joins (method:Class.method(...))"),
    (r"\bsql", r":", "SQL joins (sql:database [...])"),
    (r"\bin", r"[\[(][^;]*?:", "in with a range (in [a:b], in (a:b])"),
    (r"\bin\s*\([^()]*", r":", "in with a range (in [a:b], in (a:b])"),
    (r"\b[\w$]+\s*(\([^()]*\))?", r"\[", "contained-event selection S[...] (from S[select ... from prop])"),
    (r"\bfrom\s+[\w$]+(\s*\.\s*[\w$]+)+", r"\.", "a qualified event type name (a.b.C; name the stream)"),
    (r"(\bfrom|=|\[|->|\b(and|or|not|every))\s*[\w$]+\s*\([^();]*", r",",
     "comma-separated filter expressions S(a = 1, b = 2) (write and)"),
    # expressions
    (r"(=|<|>)\s*(any|some|all)\s*\(", r"(?!select\b)", "any/some/all over a list of values (x = any (1, 2): "
                                                          "write x in (1, 2); only a subquery here)"),
    (r"\bnew", None, "the new operator (new { a = x } or new Type(...))"),
    (r"(^|[^$\s])", r"\{", "array literals { a, b }"),  # not an unsubstituted ${parameter}
    (r"\bexists\s*\(", None, "exists(property?) on dynamic properties (exists takes a subquery here)"),
    (r"[A-Za-z_$][\w$]*", r"\?", "dynamic properties (prop?)"),
    (r"\bgrouping", r"sets\b", "grouping sets"),
    (None, r"\|\|", "string concatenation || (use a function such as tostring in a select of its own)"),
    (None, r"[|&^~]", "bitwise operators & | ^"),
    (None, r"escape\b", "LIKE ... ESCAPE"),
    (r"[\w$]\s*\.", r"\*", "alias.* in the select list (select the properties, or *)"),
    (r"^select\s+(distinct\s+)?\*", r",", "select * with more expressions (select *, x)"),
    (r"\bas", r"['\"]", "a quoted column name (write as name, or as `name`)"),
    (r"['\"]", r"['\"]", "doubled-quote escapes ('it''s': write 'it\\'s')"),
    (r"\b0", r"[xX][0-9a-fA-F]", "hexadecimal literals (0x10)"),
    (r"\b(istream|irstream|rstream)\s*\(", None, "the istream() function"),
    (r"\)\s*", r"\.\s*[A-Za-z_$][\w$]*\s*\(", "a method call on a value (Esper's enumeration and date-time "
                                               "methods, such as .where(x => ...) or .getMinuteOfHour())"),
    (r"[A-Za-z_$][\w$]*(\s*\.\s*[A-Za-z_$][\w$]*)+", r"\(",
     "a method call (Java static or instance methods such as Math.max(...) or s.toUpperCase(), a mapped "
     "property a.m('key'))"),
    (r"[A-Za-z_$][\w$]*\s*\[\s*", r"['\"A-Za-z_$]", "table access T[key].column or an index that is not a "
                                                    "number (a[i])"),
)


def _named_construct(text: str, at: int, exc: UnexpectedInput | None = None) -> str | None:
    """The Esper construct a syntax error stopped at, when it is one we know we do not take."""
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        at = len(text)  # lark gives the last token's position: the error is past it
    start = text.rfind(";", 0, at) + 1
    if _IN_ANNOTATION.search(text[start:at]):
        return ("this annotation value (nested annotations, arrays and bare names such as "
                "@EventRepresentation(objectarray))")
    before = _LEAD.sub("", text[start:at], count=1)
    rest = text[at:at + 80]
    stmt = text[start:text.find(";", at) if ";" in text[at:] else len(text)]
    for b, a, name in _NAMED_RULES:
        if (a is None or a.match(rest)) and (b is None or b.search(before)):
            return name
    # a time unit where an expression goes on, or an operator where a unit was due
    expected = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    word = re.match(r"[A-Za-z]+", rest)
    if word is not None and word.group().lower() in TIME_UNITS_MS and "TIME_UNIT" not in expected:
        return _TIME
    if expected and expected <= {"TIME_UNIT", "EVENTS"} and re.match(r"[-+*/%(]", rest):
        return _TIME
    if "=>" in stmt:
        return "lambda expressions (x => ...) and enumeration methods"
    if expected == {"FROM"} and re.search(r"\bselect\b", before, re.I):
        return "a select without FROM (Esper's fire-and-forget queries; a statement reads a stream)"
    return None


#: annotations and comments before a statement's first keyword
_LEAD = re.compile(r"^(\s+|//[^\n]*|/\*.*?\*/|@\s*[\w$.]+(\s*\((?:[^()]|\([^()]*\))*\))?)*", re.S)
_IN_ANNOTATION = re.compile(r"@\s*[\w$.]+\s*\([^()]*$")


def _pos(meta: Any) -> A.Pos:
    if getattr(meta, "empty", True):
        return A.NOPOS
    return A.Pos(meta.line, meta.column)


def _tokpos(tok: Token) -> A.Pos:
    return A.Pos(tok.line or 0, tok.column or 0)


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), body)


def _name(tok: Token | str) -> str:
    s = str(tok)
    return s[1:-1] if s.startswith("`") else s


@dataclasses.dataclass(frozen=True)
class _FromJoins:
    """A FROM clause in explicit JOIN syntax, until select_stmt splits it (h-subq)."""

    refs: tuple[A.StreamRef, ...]
    specs: tuple[A.JoinSpec, ...]


@v_args(meta=True)
class _Build(Transformer[Token, Any]):
    """Turns lark's tree into ``ast`` dataclasses; expression text is sliced from the source."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__()
        self.text = text
        self.filename = filename

    def _src(self, meta: Any) -> str:
        if getattr(meta, "empty", True):
            return ""
        return " ".join(self.text[meta.start_pos:meta.end_pos].split())

    def _unsupported(self, what: str, pos: A.Pos) -> EPLError:
        return EPLError(f"unsupported construct: {what}", self.filename, pos.line or None, pos.column or None)

    # -- module / statements ---------------------------------------------------------------
    def start(self, meta: Any, children: list[Any]) -> list[A.Statement]:
        return [c for c in children if c is not None]

    def statement(self, meta: Any, children: list[Any]) -> A.Statement:
        *anns, body = children
        for a in anns:
            what = _REFUSED_ANNOTATIONS.get(a.name.lower())
            if what is not None:
                if "iterate_only" in str(a.value).lower():  # h-mrec
                    what = "@Hint('iterate_only'): FlowCEP has no iterator, matches come out as they happen"
                raise self._unsupported(what, a.pos)
        if isinstance(body, A.SchemaStmt):
            return A.SchemaStmt(body.name, body.props, tuple(anns), body.pos)
        return dataclasses.replace(body, annotations=tuple(anns))  # type: ignore[no-any-return]

    def annotation(self, meta: Any, children: list[Any]) -> A.Annotation:
        name, args = children
        pos = _pos(meta)
        if args is None:
            return A.Annotation(_name(name), pos=pos)
        kind, payload = args
        if kind == "value":
            return A.Annotation(_name(name), value=payload, pos=pos)
        return A.Annotation(_name(name), kv=tuple(payload), pos=pos)

    def ann_value(self, meta: Any, children: list[Any]) -> tuple[str, Any]:
        return ("value", children[0].value)

    def ann_kvs(self, meta: Any, children: list[Any]) -> tuple[str, Any]:
        return ("kv", children)

    def ann_kv(self, meta: Any, children: list[Any]) -> tuple[str, Any]:
        return (_name(children[0]), children[1].value)

    def create_schema(self, meta: Any, children: list[Any]) -> A.SchemaStmt:
        _create, _map, _schema, name, *props = children
        return A.SchemaStmt(_name(name), tuple(p for p in props if p is not None), (), _pos(meta))

    def schema_prop(self, meta: Any, children: list[Any]) -> tuple[str, str]:
        dotted, typ, arr = children
        return (".".join(dotted), str(typ) + ("[]" if arr else ""))

    def select_stmt(self, meta: Any, children: list[Any]) -> A.SelectStmt:
        (insert, _sel, stream_sel, distinct, items, _from, sources, where, group, having, output,
         order, limit) = children
        pos = _pos(meta)
        sel = str(stream_sel).lower() if stream_sel is not None else "istream"
        into, into_sel, columns = insert if insert is not None else (None, "istream", None)
        if items is not None:
            items = A.number_subqueries(items)
        if columns is not None:
            # Esper (EPLInsertInto NamedCols cases): the listed names replace the select names
            # by position, for the inserted events and for the statement's own rows
            if items is None:
                raise self._unsupported("wildcard with an insert-into column list (Esper: "
                                           "wildcard not allowed when insert-into specifies column order)", pos)
            if len(columns) != len(items):
                raise EPLError(f"insert into {into} names {len(columns)} columns but the select list has "
                               f"{len(items)}", self.filename, pos.line or None, pos.column or None)
            items = tuple(A.SelectItem(it.expr, col) for it, col in zip(items, columns, strict=True))
        joins: tuple[A.JoinSpec, ...] = ()
        if isinstance(sources, _FromJoins):
            joins = sources.specs
            sources = sources.refs
        mr = None
        if isinstance(sources, _FromMR):  # h-mrec: from_match_recognize
            mr, sources = sources.mr, (sources.ref,)
        return A.SelectStmt((), into, items, sources, where, tuple(group or ()), having, output,
                            distinct is not None, pos, tuple(order or ()), limit, joins, mr, sel, into_sel)

    def insert_into(self, meta: Any, children: list[Any]) -> tuple[str, str, list[str] | None]:
        """(stream, which rows are inserted: istream, irstream or rstream, the column list)."""
        _ins, sel, _into, name, columns = children
        return _name(name), str(sel).lower() if sel is not None else "istream", columns

    def insert_columns(self, meta: Any, children: list[Any]) -> list[str]:
        return [_name(c) for c in children]
    def select_star(self, meta: Any, children: list[Any]) -> None:
        return None

    def select_items(self, meta: Any, children: list[Any]) -> tuple[A.SelectItem, ...]:
        return tuple(children)

    def select_item(self, meta: Any, children: list[Any]) -> A.SelectItem:
        expr, _as, alias = children
        return A.SelectItem(expr, _name(alias) if alias is not None else None)

    def from_streams(self, meta: Any, children: list[Any]) -> tuple[A.StreamRef, ...]:
        return tuple(children)

    def from_pattern(self, meta: Any, children: list[Any]) -> A.PatternSource:
        _kw, root, _as, alias = children
        return A.PatternSource(root, _name(alias) if alias is not None else None, _pos(meta))

    # --- explicit joins and subqueries (h-subq) ---
    def from_joins(self, meta: Any, children: list[Any]) -> _FromJoins:
        first, *steps = children
        return _FromJoins((first, *(ref for _spec, ref in steps)), tuple(spec for spec, _ref in steps))

    def join_step(self, meta: Any, children: list[Any]) -> tuple[A.JoinSpec, A.StreamRef]:
        (kind, pos), ref, _on, cond = children
        if cond is None and kind != "inner":
            raise EPLError(f"{kind} outer join needs an ON condition (on a.x = b.x)", self.filename,
                           pos.line or None, pos.column or None)
        return A.JoinSpec(kind, cond, pos), ref

    def join_kw(self, meta: Any, children: list[Any]) -> tuple[str, A.Pos]:
        first = children[0]
        kind = str(first).lower() if first is not None and str(first).lower() != "join" else "inner"
        return kind, _pos(meta)

    def subquery(self, meta: Any, children: list[Any]) -> A.SubSelect:
        _sel, distinct, items, _from, ref, where, group, having = children
        return A.SubSelect(items, ref, where, tuple(group or ()), _pos(meta), having, distinct is not None)

    def subselect(self, meta: Any, children: list[Any]) -> A.Expr:
        if children[0].distinct:
            # Esper's scalar subquery is null over several rows; DISTINCT could make them one
            raise self._unsupported("select distinct in a scalar subquery (use it with in, exists, "
                                    "any or all, where it changes nothing)", _pos(meta))
        return A.Subquery(children[0], pos=_pos(meta), text=self._src(meta))

    def exists_sub(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Subquery(children[1], "exists", pos=_pos(meta), text=self._src(meta))

    def in_subquery(self, meta: Any, children: list[Any]) -> A.Expr:
        item, neg, _kw, query = children
        return A.Subquery(query, "in", item, neg is not None, pos=_pos(meta), text=self._src(meta))
    def quantified_subquery(self, meta: Any, children: list[Any]) -> A.Expr:
        item, op, quant, query = children
        o = str(op)
        o = "!=" if o == "<>" else "==" if o == "=" else o
        kind = "all" if str(quant).lower() == "all" else "any"  # some is any
        return A.Subquery(query, kind, item, op=o, pos=_pos(meta), text=self._src(meta))
    # --- end explicit joins and subqueries (h-subq) ---

    # --- match_recognize (h-mrec) ---
    def from_match_recognize(self, meta: Any, children: list[Any]) -> _FromMR:
        return _FromMR(children[0], children[1])

    def match_recognize(self, meta: Any, children: list[Any]) -> A.MatchRecognize:
        _kw, partition, _m, *rest = children
        measures = []
        while rest and isinstance(rest[0], A.SelectItem):
            measures.append(rest.pop(0))
        all_matches, after, _pat, pattern, interval, define = rest
        ims, term = interval if interval is not None else (None, False)
        return A.MatchRecognize(tuple(partition or ()), tuple(measures), all_matches is not None,
                                after or "past_last_row", pattern, ims, term, tuple(define or ()),
                                _pos(meta))

    def mr_partition(self, meta: Any, children: list[Any]) -> list[A.Expr]:
        return children[2:]

    def mr_measure(self, meta: Any, children: list[Any]) -> A.SelectItem:
        expr, _as, alias = children
        if alias is None:
            raise EPLError(f"match_recognize: measure {expr.text!r} needs a column name: "
                           f"{expr.text} as name", self.filename, expr.pos.line or None,
                           expr.pos.column or None)
        return A.SelectItem(expr, _name(alias))

    def mr_after(self, meta: Any, children: list[Any]) -> str:
        words = " ".join(str(c).lower() for c in children[1:] if c is not None)
        modes = {"past last row": "past_last_row", "to next row": "to_next_row",
                 "to current row": "to_current_row"}
        if words not in modes:
            pos = _pos(meta)
            raise EPLError(f"match_recognize: after match skip {words!r}: write AFTER MATCH SKIP "
                           "PAST LAST ROW, TO NEXT ROW or TO CURRENT ROW", self.filename,
                           pos.line or None, pos.column or None)
        return modes[words]

    def mr_interval(self, meta: Any, children: list[Any]) -> tuple[int, bool]:
        _kw, period, _or, term = children
        return period.ms, term is not None

    def mr_define(self, meta: Any, children: list[Any]) -> list[tuple[str, A.Expr, A.Pos]]:
        return children[1:]

    def mr_def(self, meta: Any, children: list[Any]) -> tuple[str, A.Expr, A.Pos]:
        name, _as, expr = children
        return (_name(name), expr, _tokpos(name))

    def mr_alt(self, meta: Any, children: list[Any]) -> A.RowPattern:
        items = tuple(c for c in children if not isinstance(c, Token))
        return items[0] if len(items) == 1 else A.RpAlt(items, pos=_pos(meta))

    def mr_seq(self, meta: Any, children: list[Any]) -> A.RowPattern:
        return children[0] if len(children) == 1 else A.RpSeq(tuple(children), pos=_pos(meta))

    def mr_quant(self, meta: Any, children: list[Any]) -> A.RowPattern:
        item, q, rep = children
        pos = _pos(meta)
        if q is not None:
            low, high, greedy = q
            item = A.RpQuant(item, low, high, greedy, pos=pos)
        if rep is not None:
            item = A.RpRepeat(item, rep[0], rep[1], pos=pos)
        return cast(A.RowPattern, item)

    def mr_var(self, meta: Any, children: list[Any]) -> A.RowPattern:
        return A.RpVar(_name(children[0]), pos=_pos(meta))

    def mr_group(self, meta: Any, children: list[Any]) -> A.RowPattern:
        return cast(A.RowPattern, children[0])

    def mr_permute(self, meta: Any, children: list[Any]) -> A.RowPattern:
        """``match_recognize_permute(A, B, C)`` is the alternation of every order, in Esper's
        order (A B C | A C B | B A C | ...), which is also their preferment."""
        items = [c for c in children if not isinstance(c, Token)]
        pos = _pos(meta)
        if len(items) > _MAX_PERMUTED:
            raise EPLError(f"match_recognize_permute of {len(items)} items is {math.factorial(len(items))} "
                           f"orders; at most {_MAX_PERMUTED} items", self.filename, pos.line or None,
                           pos.column or None)
        if len(items) == 1:
            return cast(A.RowPattern, items[0])
        return A.RpAlt(tuple(A.RpSeq(tuple(order), pos=pos) for order in itertools.permutations(items)), pos=pos)

    def mr_q(self, meta: Any, children: list[Any]) -> tuple[int, int | None, bool]:
        op, reluctant = children
        o = str(op)
        if o == "-":
            pos = _tokpos(op)
            raise EPLError("match_recognize: unexpected '-' in the pattern (quantifiers are * + ? "
                           "and {n,m})", self.filename, pos.line or None, pos.column or None)
        low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[o]
        return low, high, reluctant is None

    def mr_rep_exact(self, meta: Any, children: list[Any]) -> tuple[int, int | None]:
        n = self._count(children[0])
        if n == 0:
            pos = _pos(meta)
            raise EPLError("match_recognize: a {n} repetition needs n of at least 1", self.filename,
                           pos.line or None, pos.column or None)
        return n, n

    def mr_rep_range(self, meta: Any, children: list[Any]) -> tuple[int, int | None]:
        lo, hi = (self._count(c) if c is not None else None for c in children)
        pos = _pos(meta)
        if lo is None and hi is None or (hi is not None and (hi == 0 or (lo or 0) > hi)):
            raise EPLError(f"match_recognize: a {{n,m}} repetition needs 0 <= n <= m and m >= 1 "
                           f"(got {{{'' if lo is None else lo},{'' if hi is None else hi}}})",
                           self.filename, pos.line or None, pos.column or None)
        return lo or 0, hi
    # --- end match_recognize (h-mrec) ---

    def stream_ref(self, meta: Any, children: list[Any]) -> A.StreamRef:
        name, flt, *views, alias, uni = children
        return A.StreamRef(_name(name), flt, tuple(views), _name(alias) if alias else None, _pos(meta),
                           uni is not None)

    def stream_alias(self, meta: Any, children: list[Any]) -> Token:
        return cast(Token, children[-1])

    def filter(self, meta: Any, children: list[Any]) -> A.Expr | None:
        return cast("A.Expr | None", children[0])

    def view(self, meta: Any, children: list[Any]) -> A.View:
        if len(children) == 3:
            ns, name, args = children
        else:
            ns, (name, args) = "", children
        return A.View(str(ns), str(name), tuple(args or ()), _pos(meta))

    def view_bare(self, meta: Any, children: list[Any]) -> A.View:
        """``#keepall``, ``#lastevent``: Esper allows a view without parameters unparenthesised."""
        return A.View("", str(children[0]), (), _pos(meta))

    def view_args(self, meta: Any, children: list[Any]) -> list[Any]:
        return children

    def view_arg_sorted(self, meta: Any, children: list[Any]) -> A.OrderItem:
        """``#sort(n, expr asc|desc)``: a sort criterion with its direction."""
        expr, direction = children
        return A.OrderItem(expr, str(direction).lower() == "desc")

    def time_period(self, meta: Any, children: list[Any]) -> A.TimePeriod:
        total = 0.0
        for i in range(0, len(children), 2):
            unit = str(children[i + 1]).lower()
            if unit.startswith(("month", "year")):
                # h-erefuse: Esper adds calendar months and years (28 to 31 days, 365 or 366); a
                # fixed 30 or 365 days would give other window and batch boundaries
                raise self._unsupported("a time period in months or years (Esper counts them on the "
                                        "calendar; write days)", _tokpos(children[i + 1]))
            num = float(str(children[i]).rstrip("lLdDfF"))
            total += num * TIME_UNITS_MS[str(children[i + 1]).lower()]
        return A.TimePeriod(int(round(total)), self._src(meta))

    def where_clause(self, meta: Any, children: list[Any]) -> A.Expr:
        return cast(A.Expr, children[1])

    def group_by(self, meta: Any, children: list[Any]) -> list[A.Expr]:
        return children[2:]

    def having(self, meta: Any, children: list[Any]) -> A.Expr:
        return cast(A.Expr, children[1])

    def output_clause(self, meta: Any, children: list[Any]) -> A.OutputLimit:
        _out, kind, _every, *rest = children
        k = str(kind).lower() if kind is not None else "default"
        if isinstance(rest[0], A.TimePeriod):
            return A.OutputLimit(k, rest[0].ms, None, _pos(meta))
        return A.OutputLimit(k, None, int(str(rest[0])), _pos(meta))

    def output_after(self, meta: Any, children: list[Any]) -> A.OutputLimit:
        _out, _after, *rest = children
        after_ms = after_events = None
        if isinstance(rest[0], A.TimePeriod):
            after_ms, rest = rest[0].ms, rest[1:]
        else:
            after_events, rest = int(str(rest[0])), rest[2:]
        kind, ms, events = "default", None, None
        if rest and rest[-1] is not None:  # [kind] every (period | n events)
            k, _every, *rate = rest
            kind = str(k).lower() if k is not None else "default"
            if isinstance(rate[0], A.TimePeriod):
                ms = rate[0].ms
            else:
                events = int(str(rate[0]))
        return A.OutputLimit(kind, ms, events, _pos(meta), after_ms=after_ms, after_events=after_events)

    def output_terminated(self, meta: Any, children: list[Any]) -> A.OutputLimit:
        _out, kind, _when_terminated = children
        k = str(kind).lower() if kind is not None else "default"
        return A.OutputLimit(k, None, None, _pos(meta), terminated=True)

    def order_by(self, meta: Any, children: list[Any]) -> list[A.OrderItem]:
        return children[2:]

    def order_item(self, meta: Any, children: list[Any]) -> A.OrderItem:
        expr, direction = children
        return A.OrderItem(expr, direction is not None and str(direction).lower() == "desc")

    def limit_offset(self, meta: Any, children: list[Any]) -> A.RowLimit:
        _kw, count, _off, offset = children
        return self._row_limit(count, offset, _pos(meta))

    def limit_comma(self, meta: Any, children: list[Any]) -> A.RowLimit:
        _kw, offset, count = children
        return self._row_limit(count, offset, _pos(meta))

    def _row_limit(self, count: tuple[int, A.Pos], offset: tuple[int, A.Pos] | None,
                   pos: A.Pos) -> A.RowLimit:
        # Esper: a negative row count means no limit; a negative offset is an error here
        # (Esper only defines it for variables, where it means no offset)
        n = count[0]
        off = 0
        if offset is not None:
            off, opos = offset
            if off < 0:
                raise EPLError(f"LIMIT: the offset must not be negative (got {off})", self.filename,
                               opos.line or None, opos.column or None)
        return A.RowLimit(None if n < 0 else n, off, pos)

    def limit_num(self, meta: Any, children: list[Any]) -> tuple[int, A.Pos]:
        sign, num = children
        text = str(num)
        pos = _tokpos(sign if sign is not None else num)
        if not text.isdigit():
            raise EPLError(f"LIMIT expects a whole number of rows, not {text!r}", self.filename,
                           pos.line or None, pos.column or None)
        value = int(text)
        return (-value if sign is not None and str(sign) == "-" else value), pos

    # -- patterns ----------------------------------------------------------------------------
    def pat_followed_by(self, meta: Any, children: list[Any]) -> A.PatternNode:
        items = tuple(c for c in children if not isinstance(c, Token))
        return items[0] if len(items) == 1 else A.PatFollowedBy(items, pos=_pos(meta))

    def pat_or(self, meta: Any, children: list[Any]) -> A.PatternNode:
        items = tuple(c for c in children if not isinstance(c, Token))
        return items[0] if len(items) == 1 else A.PatOr(items, pos=_pos(meta))

    def pat_and(self, meta: Any, children: list[Any]) -> A.PatternNode:
        items = tuple(c for c in children if not isinstance(c, Token))
        return items[0] if len(items) == 1 else A.PatAnd(items, pos=_pos(meta))

    def pat_every(self, meta: Any, children: list[Any]) -> A.PatternNode:
        _kw, rng, item = children
        return A.PatEvery(self._ranged(rng, item), pos=_pos(meta))

    def pat_not(self, meta: Any, children: list[Any]) -> A.PatternNode:
        _kw, rng, item = children
        if rng is not None:
            raise self._unsupported("a [n] repeat directly after NOT (write not ([n] ...))", _pos(meta))
        return A.PatNot(item, pos=_pos(meta))

    # --- patterns (h-patterns): repeat, until, every-distinct ---
    def _ranged(self, rng: tuple[int | None, int | None, A.Pos] | None, item: A.PatternNode,
                until: A.PatternNode | None = None) -> A.PatternNode:
        if rng is None:
            return item if until is None else A.PatRepeat(item, None, None, until, pos=item.pos)
        low, high, pos = rng
        return A.PatRepeat(item, low, high, until, pos=pos)

    def pat_repeat(self, meta: Any, children: list[Any]) -> A.PatternNode:
        rng, item, _kw, until = children
        return self._ranged(rng, item, until)

    def pat_until(self, meta: Any, children: list[Any]) -> A.PatternNode:
        item, _kw, until = children
        return A.PatRepeat(item, None, None, until, pos=_pos(meta))

    def pat_range_exact(self, meta: Any, children: list[Any]) -> tuple[int | None, int | None, A.Pos]:
        n = self._count(children[0])
        if n == 0:
            raise EPLError("a [n] repeat needs a count of at least 1", self.filename,
                           _pos(meta).line or None, _pos(meta).column or None)
        return n, n, _pos(meta)

    def pat_range_bounds(self, meta: Any, children: list[Any]) -> tuple[int | None, int | None, A.Pos]:
        lo, hi = (self._count(c) if c is not None else None for c in children)
        pos = _pos(meta)
        if lo is None and hi is None:
            raise EPLError("a [lo:hi] repeat needs at least one bound", self.filename, pos.line or None,
                           pos.column or None)
        if hi is not None and (hi == 0 or (lo is not None and lo > hi)):
            raise EPLError(f"a [lo:hi] repeat needs 0 <= lo <= hi and hi >= 1 (got [{lo}:{hi}])",
                           self.filename, pos.line or None, pos.column or None)
        return lo, hi, pos

    def _count(self, tok: Token) -> int:
        text = str(tok)
        if not text.isdigit():
            pos = _tokpos(tok)
            raise EPLError(f"a repeat count must be a whole number, not {text!r}", self.filename,
                           pos.line or None, pos.column or None)
        return int(text)

    def pat_every_distinct(self, meta: Any, children: list[Any]) -> A.PatternNode:
        _kw, args, rng, item = children
        pos = _pos(meta)
        exprs = list(args or ())
        expiry = None
        if exprs and isinstance(exprs[-1], A.TimePeriod):
            expiry = exprs.pop().ms
        if not exprs or any(isinstance(e, A.TimePeriod) for e in exprs):
            raise EPLError("every-distinct takes one or more expressions and an optional expiry "
                           "time period last", self.filename, pos.line or None, pos.column or None)
        return A.PatEveryDistinct(self._ranged(rng, item), tuple(exprs), expiry, pos=pos)

    def indexed_prop(self, meta: Any, children: list[Any]) -> A.Expr:
        name, idx, *rest = children
        head = f"{_name(name)}[{int(str(idx).rstrip('lL'))}]"
        parts = (head, *(_name(c) for c in rest))
        return A.Prop(parts, pos=_pos(meta), text=".".join(parts))
    # --- end patterns (h-patterns) ---

    def pat_guard(self, meta: Any, children: list[Any]) -> A.PatternNode:
        item, _where, ns, name, args = children
        pos = _tokpos(ns)
        if (str(ns).lower(), str(name).lower()) != ("timer", "within"):
            raise self._unsupported(f"pattern guard {ns}:{name} (only timer:within)", pos)
        return A.PatWithin(item, self._period_arg(args, pos), pos=_pos(meta))

    def pat_tagged(self, meta: Any, children: list[Any]) -> A.PatternNode:
        tag, stream, flt = children
        return A.PatFilter(_name(tag), _name(stream), flt, pos=_pos(meta))

    def pat_untagged(self, meta: Any, children: list[Any]) -> A.PatternNode:
        stream, flt = children
        return A.PatFilter(None, _name(stream), flt, pos=_pos(meta))

    def pat_untagged_bare(self, meta: Any, children: list[Any]) -> A.PatternNode:
        """``every SupportBean``: Esper's bare event type, any event of the stream."""
        return A.PatFilter(None, _name(children[0]), None, pos=_pos(meta))

    def pat_observer(self, meta: Any, children: list[Any]) -> A.PatternNode:
        ns, name, args = children
        pos = _tokpos(ns)
        if (str(ns).lower(), str(name).lower()) != ("timer", "interval"):
            raise self._unsupported(f"pattern observer {ns}:{name} (only timer:interval)", pos)
        return A.PatTimer(self._period_arg(args, pos), pos=_pos(meta))

    def _period_arg(self, args: list[Any] | None, pos: A.Pos) -> int:
        if not args or len(args) != 1:
            raise EPLError("expected one time period argument", self.filename, pos.line, pos.column)
        arg = args[0]
        if isinstance(arg, A.TimePeriod):
            return arg.ms
        if isinstance(arg, A.Literal) and isinstance(arg.value, (int, float)) and not isinstance(arg.value, bool):
            return int(round(arg.value * 1000))  # Esper: a bare number is seconds (2.001 -> 2001 ms)
        raise self._unsupported(_TIME, pos)

    # -- expressions ---------------------------------------------------------------------------
    # -- named windows and contexts (h-named) -------------------------------------------------
    def create_window(self, meta: Any, children: list[Any]) -> A.CreateWindowStmt:
        _create, _window, name, *rest = children
        views = tuple(v for v in rest if isinstance(v, A.View))
        props, source, *types = rest[-1]
        return A.CreateWindowStmt(_name(name), views, props, source, (), _pos(meta), types[0] if types else None)

    def nw_from_select(self, meta: Any, children: list[Any]) -> tuple[Any, str]:
        _sel, items, _from, stream = children
        if items is None:
            return None, _name(stream)
        for it in items:
            if not isinstance(it.expr, A.Prop):
                raise self._unsupported("create window ... as select with expressions (select the "
                                        "properties; compute values in the INSERT INTO statement)",
                                        it.expr.pos)
        return tuple(it.name for it in items), _name(stream)

    def nw_from_type(self, meta: Any, children: list[Any]) -> tuple[Any, str]:
        return None, _name(children[0])

    def nw_from_columns(self, meta: Any, children: list[Any]) -> tuple[Any, None, Any]:
        return tuple(p for p, _t in children), None, tuple(children)

    def on_stmt(self, meta: Any, children: list[Any]) -> A.OnStmt:
        _on, trigger, action = children
        return cast("A.OnStmt", dataclasses.replace(action, trigger=trigger, pos=_pos(meta)))

    def nw_alias(self, meta: Any, children: list[Any]) -> Token:
        return cast(Token, children[1])

    def _window(self, name: Token, alias: Token | None) -> tuple[str, str | None, A.Pos]:
        return _name(name), (_name(alias) if alias is not None else None), _tokpos(name)

    def on_delete(self, meta: Any, children: list[Any]) -> A.OnStmt:
        _del, _from, name, alias, where = children
        w, a, wpos = self._window(name, alias)
        return A.OnStmt("delete", _NO_REF, w, a, where, window_pos=wpos)

    def on_select(self, meta: Any, children: list[Any]) -> A.OnStmt:
        insert, _sel, and_, _delete, items, _from, name, alias, where, order = children
        w, a, wpos = self._window(name, alias)
        into = None
        if insert is not None:
            into, which, columns = insert
            if columns is not None:
                raise self._unsupported(f"a column list on insert into {into} in an on-select", _pos(meta))
            if which != "istream":
                pos = _pos(meta)
                raise EPLError(f"unsupported construct: insert {which} into with an on-select (its rows "
                               "have no remove stream)", self.filename, pos.line or None, pos.column or None)
        return A.OnStmt("select-delete" if and_ is not None else "select", _NO_REF, w, a, where, items=items,
                        insert_into=into, window_pos=wpos, order_by=tuple(order or ()))

    def on_update(self, meta: Any, children: list[Any]) -> A.OnStmt:
        _upd, name, alias, _set, *rest = children
        where = rest.pop()
        w, a, wpos = self._window(name, alias)
        return A.OnStmt("update", _NO_REF, w, a, where, assignments=tuple(rest), window_pos=wpos)

    def on_merge(self, meta: Any, children: list[Any]) -> A.OnStmt:
        _merge, _into, name, alias, where, *whens = children
        w, a, wpos = self._window(name, alias)
        return A.OnStmt("merge", _NO_REF, w, a, where, whens=tuple(whens), window_pos=wpos)

    def on_merge_insert(self, meta: Any, children: list[Any]) -> A.OnStmt:
        """``merge W insert select ...`` (Esper's insert-only merge): every trigger inserts,
        as ``merge W where false when not matched then insert select ...`` would."""
        _merge, _into, name, alias, _ins, columns, _sel, items = children
        w, a, wpos = self._window(name, alias)
        action = A.MergeAction("insert", items=self._named_items(items, columns, meta), pos=_pos(meta))
        return A.OnStmt("merge", _NO_REF, w, a, A.Literal(False, pos=_pos(meta), text="false"),
                        whens=(A.MergeWhen(False, None, (action,), _pos(meta)),), window_pos=wpos)

    def assignment(self, meta: Any, children: list[Any]) -> A.Assignment:
        target, op, value = children
        if str(op) != "=":
            raise EPLError(f"expected '=' in a SET assignment, got {str(op)!r}", self.filename,
                           op.line, op.column)
        return A.Assignment(A.Prop(tuple(target), pos=_pos(meta), text=".".join(target)), value)

    def merge_when(self, meta: Any, children: list[Any]) -> A.MergeWhen:
        _when, negate, _matched, _and, cond, *actions = children
        return A.MergeWhen(negate is None, cond, tuple(actions), _pos(meta))

    def merge_update(self, meta: Any, children: list[Any]) -> A.MergeAction:
        _then, _upd, _set, *rest = children
        where = rest.pop()
        return A.MergeAction("update", assignments=tuple(rest), where=where, pos=_pos(meta))

    def merge_delete(self, meta: Any, children: list[Any]) -> A.MergeAction:
        _then, _del, where = children
        return A.MergeAction("delete", where=where, pos=_pos(meta))

    def merge_insert(self, meta: Any, children: list[Any]) -> A.MergeAction:
        _then, _ins, _into, into, columns, _sel, items, where = children
        return A.MergeAction("insert", items=self._named_items(items, columns, meta),
                             into=_name(into) if into is not None else None, where=where, pos=_pos(meta))

    def _named_items(self, items: tuple[A.SelectItem, ...] | None, columns: list[str] | None,
                     meta: Any) -> tuple[A.SelectItem, ...] | None:
        """``insert (c1, c2) select x, y``: the columns name the select list's values by position
        (Esper's merge insert with a column list, InfraNWTableOnMerge.InfraInsertOnly)."""
        if columns is None:
            return items
        if items is None or len(items) != len(columns):
            pos = _pos(meta)
            raise EPLError(f"insert ({', '.join(columns)}): the select list must give one value per column",
                           self.filename, pos.line or None, pos.column or None)
        return tuple(A.SelectItem(it.expr, c) for it, c in zip(items, columns, strict=True))

    def ctx_keyed(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        _create, _ctx, name, _as, _part, _by, *parts = children
        return A.CreateContextStmt(_name(name), "keyed", tuple(parts), pos=_pos(meta))

    def _ctx_refused(self, what: str, children: list[Any]) -> EPLError:
        """Context forms the engine does not run: named at the keyword that starts them."""
        tok = next(c for c in children if isinstance(c, Token) and c.type in ("TERMINATED", "START"))
        return self._unsupported(what, _tokpos(tok))

    def _ctx_distinct(self, ref: A.StreamRef) -> None:
        """``initiated by distinct(key) S``: the grammar reads ``distinct`` as a stream name."""
        if ref.stream.lower() == "distinct":
            raise self._unsupported("a context initiated by distinct(...) S", ref.pos)

    def ctx_keyed_term(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        raise self._ctx_refused("a keyed segmented context terminated by an event (partition by ... "
                                "terminated by)", children)

    def ctx_start_event(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        raise self._ctx_refused("a context started by an event (start <event> end ...; only start @now "
                                "end after a time period)", children)

    def ctx_initterm_event(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        self._ctx_distinct(children[6])
        raise self._ctx_refused("a context terminated by an event (initiated by ... terminated by <event>; "
                                "only terminated after a time period)", children)

    def ctx_part(self, meta: Any, children: list[Any]) -> tuple[tuple[A.Prop, ...], A.StreamRef]:
        *props, _from, ref = children
        return tuple(A.Prop(tuple(p), pos=ref.pos, text=".".join(p)) for p in props if isinstance(p, list)), ref

    def ctx_fixed(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        _create, _ctx, name, _as, _start, now, _end, _after, period = children
        if _name(now).lower() != "now":
            raise self._unsupported(f"context start @{_name(now)} (only start @now ... end after "
                                    "a time period)", _tokpos(now))
        return A.CreateContextStmt(_name(name), "fixed", period_ms=period.ms, pos=_pos(meta))

    def ctx_initterm(self, meta: Any, children: list[Any]) -> A.CreateContextStmt:
        _create, _ctx, name, _as, _init, _by, ref, _term, _by2, _after, period = children
        self._ctx_distinct(ref)
        return A.CreateContextStmt(_name(name), "initterm", (((), ref),), period_ms=period.ms, pos=_pos(meta))

    def context_select(self, meta: Any, children: list[Any]) -> A.ContextSelect:
        _ctx, name, select = children
        return A.ContextSelect(_name(name), select, pos=_pos(meta))
    # -- end named windows and contexts (h-named) ---------------------------------------------

    def or_(self, meta: Any, children: list[Any]) -> A.Expr:
        items = tuple(c for c in children if not isinstance(c, Token))
        if len(items) == 1:
            return cast(A.Expr, items[0])
        return A.BoolOp("or", items, pos=_pos(meta), text=self._src(meta))

    def and_(self, meta: Any, children: list[Any]) -> A.Expr:
        items = tuple(c for c in children if not isinstance(c, Token))
        if len(items) == 1:
            return cast(A.Expr, items[0])
        return A.BoolOp("and", items, pos=_pos(meta), text=self._src(meta))

    def not_(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Not(children[1], pos=_pos(meta), text=self._src(meta))

    def compare(self, meta: Any, children: list[Any]) -> A.Expr:
        left, op, right = children
        o = str(op)
        o = "!=" if o == "<>" else "==" if o == "=" else o
        return A.BinOp(o, left, right, pos=_pos(meta), text=self._src(meta))

    def like(self, meta: Any, children: list[Any]) -> A.Expr:
        item, neg, _kw, pattern = children
        return A.Like(item, pattern, neg is not None, pos=_pos(meta), text=self._src(meta))

    def regexp(self, meta: Any, children: list[Any]) -> A.Expr:
        item, neg, _kw, pattern = children
        return A.Like(item, pattern, neg is not None, True, pos=_pos(meta), text=self._src(meta))

    def in_(self, meta: Any, children: list[Any]) -> A.Expr:
        item, neg, _kw, *options = children
        return A.In(item, tuple(options), neg is not None, pos=_pos(meta), text=self._src(meta))

    def is_null(self, meta: Any, children: list[Any]) -> A.Expr:
        item, _is, neg, _null = children
        return A.IsNull(item, neg is not None, pos=_pos(meta), text=self._src(meta))

    def between(self, meta: Any, children: list[Any]) -> A.Expr:
        item, neg, _kw, low, _and, high = children
        return A.Between(item, low, high, neg is not None, pos=_pos(meta), text=self._src(meta))

    def arith(self, meta: Any, children: list[Any]) -> A.Expr:
        left = children[0]
        if len(children) == 1:
            return cast(A.Expr, left)
        for i in range(1, len(children), 2):
            op, right = str(children[i]), children[i + 1]
            left = A.BinOp(op, left, right, pos=left.pos, text="")
        # the outermost node keeps the source text; inner nodes get their own below
        return _retext(left, self._src(meta))

    def unary_op(self, meta: Any, children: list[Any]) -> A.Expr:
        op, item = children
        if str(op) == "+":
            return cast(A.Expr, item)
        if isinstance(item, A.Literal) and isinstance(item.value, (int, float)) and not isinstance(item.value, bool):
            return A.Literal(-item.value, pos=_pos(meta), text=self._src(meta))
        return A.Neg(item, pos=_pos(meta), text=self._src(meta))

    def prop(self, meta: Any, children: list[Any]) -> A.Expr:
        parts = children[0]
        return A.Prop(tuple(parts), pos=_pos(meta), text=".".join(parts))

    def dotted(self, meta: Any, children: list[Any]) -> list[str]:
        return [_name(c) for c in children]

    def case_when(self, meta: Any, children: list[Any]) -> tuple[A.Expr, A.Expr]:
        _w, cond, _t, value = children
        return (cond, value)

    def _case(self, meta: Any, operand: A.Expr | None, rest: list[Any]) -> A.Expr:
        whens = tuple(x for x in rest if isinstance(x, tuple))
        default = None
        tail = [x for x in rest if not isinstance(x, tuple)]
        # tail: [ELSE token or None, default expr or None, END token]
        for x in tail:
            if isinstance(x, A.Expr):
                default = x
        return A.Case(operand, whens, default, pos=_pos(meta), text=self._src(meta))

    def case_searched(self, meta: Any, children: list[Any]) -> A.Expr:
        return self._case(meta, None, children[1:])

    def case_simple(self, meta: Any, children: list[Any]) -> A.Expr:
        return self._case(meta, children[1], children[2:])

    def call(self, meta: Any, children: list[Any]) -> A.Expr:
        name, distinct, args = children
        pos, text = _pos(meta), self._src(meta)
        refused = ESPER_FUNCTIONS_REFUSED.get(_name(name).lower())
        if refused is not None:
            raise self._unsupported(refused, pos)
        if args is None:
            return A.Call(_name(name).lower(), (), distinct is not None, pos=pos, text=text)
        kind, items = args
        return A.Call(_name(name).lower(), tuple(items), distinct is not None, kind == "star",
                      pos=pos, text=text)

    def call_all(self, meta: Any, children: list[Any]) -> A.Expr:
        """``sum(all x)``: Esper's explicit opposite of ``distinct``, the same as ``sum(x)``."""
        name, quant, arg = children
        if str(quant).lower() != "all":
            raise EPLError(f"syntax error: unexpected '{quant}' in a call of {_name(name)}()", self.filename,
                           quant.line, quant.column)
        return A.Call(_name(name).lower(), (arg,), False, pos=_pos(meta), text=self._src(meta))

    def star_arg(self, meta: Any, children: list[Any]) -> tuple[str, list[Any]]:
        return ("star", [])

    def expr_args(self, meta: Any, children: list[Any]) -> tuple[str, list[Any]]:
        return ("exprs", children)

    def named_args(self, meta: Any, children: list[Any]) -> tuple[str, list[Any]]:
        """``sum(x, filter: c)``: Esper's named parameters (an aggregation's filter) are refused
        by name rather than read as positional arguments."""
        name = next(c for c in children if isinstance(c, lark.Tree)).children[0]
        assert isinstance(name, Token)
        raise EPLError(f"unsupported construct: named parameter '{name}:' of a function call (Esper's "
                       f"filtered aggregation)", self.filename, name.line, name.column)

    def number(self, meta: Any, children: list[Any]) -> A.Expr:
        # Java's literal types: a d/f suffix (2d, 1f), a point or an exponent make a double
        # (so 2d is 2.0 and tostring(2d) is '2.0', as in Esper); an l suffix or none an integer
        text = str(children[0])
        s = text.rstrip("lLdDfF")
        value: int | float = float(s) if any(c in text for c in ".eEdDfF") else int(s)
        return A.Literal(value, pos=_pos(meta), text=str(children[0]))

    def string(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Literal(_unquote(str(children[0])), pos=_pos(meta), text=str(children[0]))

    def true(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Literal(True, pos=_pos(meta), text="true")

    def false(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Literal(False, pos=_pos(meta), text="false")

    def null(self, meta: Any, children: list[Any]) -> A.Expr:
        return A.Literal(None, pos=_pos(meta), text="null")


#: placeholder trigger of an on-action before ``on_stmt`` fills it in (h-named)
_NO_REF = A.StreamRef("", None, (), None)


@dataclasses.dataclass(frozen=True)
class _FromMR:
    """h-mrec: the stream and its match_recognize clause, until select_stmt files them apart."""

    ref: A.StreamRef
    mr: A.MatchRecognize


def _retext(e: A.Expr, text: str) -> A.Expr:
    """Give a left-folded arithmetic chain's root the source text (used as column name)."""
    if isinstance(e, A.BinOp):
        return A.BinOp(e.op, e.left, e.right, pos=e.pos, text=text)
    return e
