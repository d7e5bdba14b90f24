"""Events of a declared type that enter the engine from outside it (a level-2 monitor's input).

A level-1 run publishes the rows of an ``INSERT INTO Reports`` statement (``--output
kafka://...?stream=Reports`` or ``jsonl:PATH?stream=Reports``); a level-2 run reads them back
(``--input stream:PATH?type=Reports``, ``stream+kafka://...``) and a module that declares
``create schema Reports (src string, ports long)`` selects from them. Flows are trusted to
carry the types their decoder gave them, so schema types are documentation for flows; rows
that crossed a process boundary as JSON are not, so here the declaration is a contract:

* a declared property the row lacks is a drop (``stream-missing-field``): in the level-1 run
  every row of a stream has every select name, so a row without one is not such a row;
* a value of the wrong type is a drop (``stream-wrong-type``); null passes (an aggregate over
  nothing is null); ``double``/``float`` take integers as floats, as Esper widens them;
* the row keeps only the declared properties, so what the input adds (``flowcep.gateway``,
  the producer's clock key) reaches statements only when the schema declares it;
* ``create schema T ()`` (no properties) takes whatever columns the rows bring, unchecked.

Type names not listed in :data:`TYPES` (``object``, ``java.util.Map`` ...) accept any value.
Each drop comes with a one-line reason the host logs (the first few) and counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .plan import StreamDef
from .windows import Events

__all__ = ["FIELDS_COLUMN", "MISSING", "POSITION_COLUMN", "TYPES", "WRONG_TYPE", "conform"]

#: The column an input adds to say which fields each row really had (a tuple of names, or
#: None when unknown): a batch's columns cannot tell a missing field from a null one.
FIELDS_COLUMN = "flowcep.fields_present"
#: The column an input may add with each row's position (``file:line``,
#: ``topic[partition]@offset``): the drop messages name it.
POSITION_COLUMN = "flowcep.position"
_PRIVATE = (FIELDS_COLUMN, POSITION_COLUMN)
#: Drop reasons.
MISSING = "stream-missing-field"
WRONG_TYPE = "stream-wrong-type"


def _int(v: Any) -> tuple[bool, Any]:
    return isinstance(v, int) and not isinstance(v, bool), v


def _float(v: Any) -> tuple[bool, Any]:
    if isinstance(v, float):
        return True, v
    if isinstance(v, int) and not isinstance(v, bool):
        return True, float(v)
    return False, v


def _str(v: Any) -> tuple[bool, Any]:
    return isinstance(v, str), v


def _bool(v: Any) -> tuple[bool, Any]:
    return isinstance(v, bool), v


#: Declared type (lower case) -> check returning (passes, value as the engine keeps it).
TYPES: dict[str, Callable[[Any], tuple[bool, Any]]] = {
    **dict.fromkeys(("int", "integer", "long", "short", "byte", "biginteger"), _int),
    **dict.fromkeys(("double", "float", "bigdecimal", "number"), _float),
    **dict.fromkeys(("string", "java.lang.string"), _str),
    **dict.fromkeys(("boolean", "bool"), _bool),
}


#: Declared type -> (value types that pass as they are or widened, those widened to float):
#: a column holding only these needs no walk.
_FAST: dict[str, tuple[frozenset[type], frozenset[type]]] = {
    **dict.fromkeys(("int", "integer", "long", "short", "byte", "biginteger"), (frozenset({int}), frozenset())),
    **dict.fromkeys(("double", "float", "bigdecimal", "number"), (frozenset({int, float}), frozenset({int}))),
    **dict.fromkeys(("string", "java.lang.string"), (frozenset({str}), frozenset())),
    **dict.fromkeys(("boolean", "bool"), (frozenset({bool}), frozenset())),
}


def _check(typ: str) -> Callable[[Any], tuple[bool, Any]] | None:
    """The check of a declared type (``long[]``: a list of longs); None accepts anything."""
    t = typ.lower()
    if t.endswith("[]"):
        inner = _check(t[:-2])

        def array(v: Any) -> tuple[bool, Any]:
            if not isinstance(v, list):
                return False, v
            if inner is None:
                return True, v
            out: list[Any] = []
            for x in v:
                if x is None:
                    out.append(x)
                    continue
                ok, y = inner(x)
                if not ok:
                    return False, v
                out.append(y)
            return True, out

        return array
    return TYPES.get(t)


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def conform(sd: StreamDef, ev: Events) -> tuple[Events, list[tuple[int, str, str]]]:
    """The events that fit ``sd``'s declaration, keeping only its properties, and
    ``(position, drop reason, one-line message)`` for each that does not.

    Checked a column at a time: the types a column holds and the shapes (field-name tuples)
    the rows have are collected at C speed, and only a column or shape that fails is walked
    row by row to name the rows."""
    present = ev.cols.get(FIELDS_COLUMN)
    if sd.props is None:  # declared without properties: any columns, nothing to check
        if present is None and POSITION_COLUMN not in ev.cols:
            return ev, []
        return Events({k: v for k, v in ev.cols.items() if k not in _PRIVATE}, ev.n, ev.times), []
    types = sd.types or {}
    keys = [(sd.key(prop) or prop, types.get(prop, "")) for prop in sd.props]
    bad: dict[int, tuple[str, str]] = {}
    if present is not None:
        lacking: dict[Any, str] = {}
        for shape in set(present):
            if shape is None:
                continue
            gone = next((k for k, _t in keys if k not in shape), None)
            if gone is not None:
                lacking[shape] = gone
        if lacking:
            for i, shape in enumerate(present):
                gone = lacking.get(shape)
                if gone is not None:
                    bad[i] = (MISSING, f"{sd.name}: no property {gone!r}")
    cols: dict[str, list[Any]] = {}
    for key, typ in keys:
        col = ev.cols.get(key)
        if col is None:
            cols[key] = [None] * ev.n
            continue
        check = _check(typ) if typ else None
        if check is not None:
            kinds = set(map(type, col))
            kinds.discard(type(None))
            fast = _FAST.get(typ.lower())
            if fast is not None and kinds <= fast[0]:
                if fast[1] and kinds & fast[1]:  # widen: a long where a double is declared
                    col = [float(v) if type(v) in fast[1] else v for v in col]
            else:
                col = list(col)
                for i, v in enumerate(col):
                    if v is None or i in bad:
                        continue
                    ok, got = check(v)
                    if ok:
                        col[i] = got
                    else:
                        bad[i] = (WRONG_TYPE, f"{sd.name}.{key}: expected {typ}, got "
                                              f"{type(v).__name__} {_shown(v)}")
        cols[key] = col
    out = Events(cols, ev.n, ev.times)
    if not bad:
        return out, []
    keep = [i for i in range(ev.n) if i not in bad]
    where = ev.cols.get(POSITION_COLUMN)
    return out.take(keep), [(i, reason, f"{where[i]}: {msg}" if where is not None and where[i] else msg)
                            for i, (reason, msg) in sorted(bad.items())]
