"""FlowBatch: the unit every stage works on.

Records are kept as columns (one list per information element) because decoding into
per-record dicts costs 5x the decode itself (see DESIGN.md). A dict is built only when a
consumer asks for one row: printing, an alert, a Python detector that wants rows.

Column values are plain Python values, the same ones `flowcep dump` prints as JSON:
integers, floats, booleans, IPv4/IPv6/MAC addresses as text, strings without padding,
octet arrays as ``bytes``, dateTime elements as integers in their element's own unit.
A record that lacks an element holds ``None`` in that column.

A column can be *lazy* (:meth:`FlowBatch.add_lazy_column`): an enricher whose column most runs
never read (Community ID is read by flow documents and by EPL that names it, not by the
shipped detectors) registers how to build it, and it is built for the whole batch on the
first read of its values, then kept. The column's name is in ``batch.columns`` from the start,
in the position an eager column would have had, so every reader sees the same names, order
and values as if it had been computed eagerly; only the cost moves.

``take``, ``slice`` and ``concat`` copy no column either: each column of the result is a *view*
(which records of which source columns, in which order) made into a list on the first read of
its values, once, and then kept. The clock reorders and joins every batch it releases, and a
run reads a few of the columns a decoder gives (module 11 reads 5 of data.ipfix's 15), so the
columns nobody reads are never copied. A view holds its sources until it is read or dropped: column lists are
never changed in place (every stage adds or replaces whole columns), so a view reads the
values its source had when it was taken.

A decoder can hand over columns the same way (:meth:`Columns.set_view`): the IPFIX decoder keeps
each column of a batch as a numpy array and makes the list on its first read, so the columns no
stage reads are never turned into Python objects; ``batch.columns[name]`` is still a list.
:meth:`Columns.set_arrays` says more: which numpy array each part of the column is and how its
values are encoded (the numbers themselves, or IPv4 addresses as text), so a stage that can
work on arrays (the sanitiser checks ranges with numpy comparisons) reads the column without
making its list. :meth:`FlowBatch.array` is the optional accessor for such stages: the numpy
array of a column held as arrays, or None (then read the list as usual). Take, slice and
concat keep such a column as arrays (a take's numpy pick deferred to the first read), so it is
still one after the clock. The arrays are kept when the list is made (the list and its arrays
side by side, until a stage replaces the column), so a stage reads arrays whichever stage made
the list first: converting the list back costs about 16 ns a value, the array's ``astype``
0.2 ns. A column in several parts (one per template) is one array when one dtype holds them
all (``array``), and ``array(name, fill=...)`` reads records lacking the element as ``fill``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

__all__ = ["FlowBatch", "Columns", "LazyBuild", "ArrayPart", "VALUES", "IPV4_TEXT", "IPV6_TEXT", "MAC_TEXT", "TEXT", "EVENT_TIME_FIELDS", "FLOW_STREAM", "OPTIONS_STREAM", "ALERT_STREAM",
           "METRIC_STREAM", "EVENT_STREAMS", "event_times",
           "EXPORT_VERSION", "EXPORT_TIME", "SYS_UPTIME", "HEADER_COLUMNS",
           "SAMPLING_APPLIED"]

#: The stream flow records travel on (the EPL input stream ``Flow``).
FLOW_STREAM = "Flow"
#: The stream of exporters' options records (RFC 7011 3.4.2.2, RFC 3954 6.1): exporter and
#: metering statistics, sampler and interface tables. They describe the exporter, not
#: traffic, so they never travel with flows: detectors see them only by asking for this
#: stream (EPL ``from Options``), outputs write them as ECS metric documents.
OPTIONS_STREAM = "Options"
#: Alert and metric documents of gateway-level runs, read back by a level-2 monitor
#: (inputs/ecs_events.py): they never pass for flows either. The host hands them only to
#: detectors whose ``streams`` name them (EPL ``from Alert`` / ``from Metric``).
ALERT_STREAM = "Alert"
METRIC_STREAM = "Metric"
EVENT_STREAMS = frozenset({ALERT_STREAM, METRIC_STREAM})

#: Elements that give a flow's end, in order of preference, with the factor to milliseconds.
EVENT_TIME_FIELDS: tuple[tuple[str, float], ...] = (
    ("flowEndMilliseconds", 1),
    ("flowEndSeconds", 1000),
    ("flowEndMicroseconds", 0.001),
    ("flowEndNanoseconds", 0.000001),
)


#: Message-header columns the decoders add to every flow record they decode (what Beats' netflow
#: converter writes as ``netflow.exporter.version``, ``.timestamp`` and ``.uptime_millis``): the
#: export format's version (5, 9, 10), the message's export time (epoch ms) and, for NetFlow
#: v5/v9, the exporter's sysUptime (ms).
EXPORT_VERSION = "flowcep.export_version"
EXPORT_TIME = "flowcep.export_time"
SYS_UPTIME = "flowcep.sys_uptime"
#: The three, in that order.
HEADER_COLUMNS = (EXPORT_VERSION, EXPORT_TIME, SYS_UPTIME)
#: True for each record whose packet and byte counters the input already multiplied by its
#: sampling rate (``apply_sampling``): ``sampling_column(batch, counters=True)`` reads it, so a
#: detector that estimates the traffic from sampled counts never multiplies twice.
SAMPLING_APPLIED = "flowcep.sampling_applied"


#: Builds a lazy column: (the batch's columns, the batch's length) -> one value per record.
#: It must read only other columns of the same batch, per record, so that the column of a
#: reordered, sliced or joined batch can be built from that batch's own columns.
LazyBuild = Callable[[Mapping[str, list[Any]], int], list[Any]]


class _Lazy:
    """The placeholder a lazy column holds in the dict until its values are first read."""

    __slots__ = ("build",)

    def __init__(self, build: LazyBuild) -> None:
        self.build = build

    def __repr__(self) -> str:
        return f"<lazy column {getattr(self.build, '__qualname__', self.build)!r}>"


class _View:
    """A column taken, sliced or joined from other columns, not read yet: ``make(sources)``
    gives its values, where ``sources`` is ``src`` with every view in it made first. The values
    are made once and kept (every batch holding this view shares them) and the sources are let
    go. ``src`` is a column (list), a view, or, for a join, :class:`_Parts`. ``parts`` is the
    column as :class:`ArrayPart` s when it is known so (a decoder's arrays, or their take,
    slice or join), whatever the list is made from: kept after the list is made, so array
    readers need not care which stage made it first."""

    __slots__ = ("src", "make", "value", "parts")

    def __init__(self, src: Any, make: Callable[[Any], list[Any]], parts: _ArrayParts | None = None) -> None:
        self.src = src
        self.make = make
        self.value: list[Any] | None = None
        self.parts = parts

    def get(self) -> list[Any]:
        v = self.value
        if v is not None:
            return v
        # read src before make; they are let go in the other order (make first), so a reader
        # racing a thread that just made the values finds make gone and takes those values
        src, make = self.src, self.make
        if make is None:
            return self.value
        if src.__class__ is _View:
            src = src.get()
        elif src.__class__ is _Parts:
            src = [p.get() if p.__class__ is _View else p for p in src]
        v = self.value = make(src)
        self.make = None  # type: ignore[assignment]
        self.src = None
        return v

    def __repr__(self) -> str:
        return "<column view>" if self.value is None else f"<column view {len(self.value)} values>"


#: :class:`ArrayPart` encodings: the list holds ``array.tolist()`` (numbers as Python numbers)
VALUES = "values"
#: ... or the dotted-quad text of each 32-bit unsigned number (any such number is an address)
IPV4_TEXT = "ipv4-text"
#: ... or text a decoder made of each value that is always what its name says, whatever the
#: bytes: an IPv6 address (``inet_ntop`` of 16 bytes), a MAC address (6 bytes as hex pairs),
#: a string (UTF-8 decoded with replacement). Readers may judge such a part valid for that
#: type without making it; they must not read the array as the values.
IPV6_TEXT = "ipv6-text"
MAC_TEXT = "mac-text"
TEXT = "text"


class ArrayPart(tuple[Any, ...]):
    """One part of a column held as numpy arrays (:meth:`Columns.set_arrays`):
    ``(values, make, encoding)``. ``values`` is a numpy array or an int (that many records
    lack the element: None each); ``make(values)`` gives the part's Python values;
    ``encoding`` is :data:`VALUES`, :data:`IPV4_TEXT`, one of the text encodings
    (:data:`IPV6_TEXT`, :data:`MAC_TEXT`, :data:`TEXT`) or None (another conversion: array
    readers must not interpret the array, only ``make`` it)."""

    __slots__ = ()

    def __new__(cls, values: Any, make: Callable[[Any], list[Any]], encoding: str | None) -> ArrayPart:
        return super().__new__(cls, (values, make, encoding))


class _ArrayParts(tuple[Any, ...]):
    """The source of a view made of :class:`ArrayPart` s."""

    __slots__ = ()


def array_values(arr: Any) -> list[Any]:
    """The values of a numpy array as Python objects (the :data:`VALUES` encoding)."""
    values: list[Any] = arr.tolist()
    return values


class _Deferred:
    """A numpy array not computed yet: a take's or a slice's pick of another array. The clock
    takes and slices every batch it releases; doing the numpy work at once would cost it for
    the columns no stage reads, so it is done on the first read (``get``), once. Its dtype and
    length are known without computing it, which is all take, slice and join need to know."""

    __slots__ = ("fn", "dtype", "size", "value")

    def __init__(self, fn: Callable[[], Any], dtype: Any, size: int) -> None:
        self.fn: Callable[[], Any] | None = fn
        self.dtype = dtype
        self.size = size
        self.value: Any = None

    def get(self) -> Any:
        fn = self.fn
        if fn is not None:
            self.value = fn()
            self.fn = None
        return self.value

    def __len__(self) -> int:
        return self.size


def _real(values: Any) -> Any:
    """The numpy array (or count) of a part, computing a deferred one."""
    return values.get() if values.__class__ is _Deferred else values


def _join_arrays(parts: _ArrayParts) -> list[Any]:
    """The values of a column held as array parts: each part made in turn, a count as None."""
    if len(parts) == 1 and parts[0][0].__class__ is not int:
        values, make, _enc = parts[0]
        made: list[Any] = make(_real(values))
        return made
    out: list[Any] = []
    for values, make, _enc in parts:
        out += [None] * values if values.__class__ is int else make(_real(values))
    return out


class _Parts(tuple[Any, ...]):
    """The parts of a joined column: columns, views, and ints (the length of a part that lacks
    the column: that many None values)."""

    __slots__ = ()


def _join_parts(parts: list[Any]) -> list[Any]:
    """The values of a joined column: the parts in order, an int part as that many None."""
    out: list[Any] = []
    for p in parts:
        out.extend([None] * p if p.__class__ is int else p)
    return out


class Columns(dict[str, list[Any]]):
    """The columns of a batch that has lazy columns or views: a dict whose lazy entries are
    built, and whose views made, on the first read of their values (``[]``, ``get``,
    ``items``, ``values``, ``pop``, ``==``).

    Names, ``in`` and ``len`` need no values and build nothing. ``dict(cols)``, ``{**cols}``
    and ``update(cols)`` go through ``keys``/``[]`` (``__iter__`` is overridden so CPython
    does not copy the storage directly), so they build what they copy. Pickling (worker
    processes) sends a plain dict with every column built. A C routine that reads a dict
    subclass's storage directly (orjson given the whole dict) would meet the placeholder and
    fail loudly rather than see different values.
    """

    __slots__ = ("length", "_kept")

    def __init__(self, columns: Mapping[str, list[Any]] | None = None, length: int = 0) -> None:
        super().__init__()
        #: name -> (the list made of a view of arrays, those arrays): the arrays still answer
        #: :meth:`arrays` while that very list is the column (replacing it forgets them)
        self._kept: dict[str, tuple[list[Any], _ArrayParts]] | None = None
        if columns is not None:
            raw = columns.raw_items() if isinstance(columns, Columns) else columns.items()
            for k, v in raw:
                dict.__setitem__(self, k, v)
            if isinstance(columns, Columns) and columns._kept:
                self._kept = dict(columns._kept)
        self.length = length

    # -- replacing a column forgets the arrays kept for its list ---------------------------
    def __setitem__(self, name: str, values: list[Any]) -> None:
        if self._kept:
            self._kept.pop(name, None)
        dict.__setitem__(self, name, values)

    def __delitem__(self, name: str) -> None:
        if self._kept:
            self._kept.pop(name, None)
        dict.__delitem__(self, name)

    # -- lazy entries -------------------------------------------------------------------
    def set_lazy(self, name: str, build: LazyBuild | _Lazy) -> None:
        lazy: Any = build if isinstance(build, _Lazy) else _Lazy(build)
        self[name] = lazy

    def set_view(self, name: str, src: Any, make: Callable[[Any], list[Any]]) -> None:
        """A column whose values are ``make(src)``, made on the first read of its values
        and then kept, like a view of a take: a decoder keeps a column as a numpy array
        (``src``) and a column no stage reads never becomes a list of Python objects. Names,
        order, ``in`` and ``len`` are the same as for a list column. ``make`` must give the
        same list whenever it is called and whichever thread calls it (it may run in the
        reader of the batch, not in the thread that made it), and ``src`` must not change."""
        view: Any = _View(src, make)
        self[name] = view

    def set_arrays(self, name: str, parts: Sequence[ArrayPart]) -> None:
        """A view (:meth:`set_view`) whose source is numpy arrays, each part encoded as
        :class:`ArrayPart` says, joined in order: what :meth:`arrays` and :meth:`array` give
        to stages that read arrays, before and after the list is made. The arrays must not
        change."""
        held = _ArrayParts(parts)
        view: Any = _View(held, _join_arrays, held)
        self[name] = view

    def _held(self, name: str) -> _ArrayParts | None:
        """The parts ``name`` is known to be (a view's, or those its made list was made
        from while that list is the column), computing nothing; None when not known."""
        v: Any = dict.get(self, name)
        if v.__class__ is _View:
            held: _ArrayParts | None = v.parts
            return held
        kept = self._kept
        if kept is None or v is None:
            return None
        k = kept.get(name)
        return k[1] if k is not None and k[0] is v else None

    def _hold(self, name: str, parts: _ArrayParts) -> None:
        """Keep ``parts`` (the same values, computed or joined) for the next reads of ``name``."""
        v: Any = dict.get(self, name)
        if v.__class__ is _View:
            v.parts = parts
        elif self._kept is not None and name in self._kept:
            self._kept[name] = (v, parts)

    def arrays(self, name: str) -> tuple[ArrayPart, ...] | None:
        """The :class:`ArrayPart` s of ``name`` when it is known as numpy arrays (a decoder's
        column, or a take, slice or join of such columns), whether its list is made or not;
        else None (absent, a list some stage built, a lazy column, a column replaced since):
        making no list. A stage that gets None reads the list."""
        held = self._held(name)
        if held is None:
            return None
        if any(p[0].__class__ is _Deferred for p in held):  # computed now, kept for later reads
            held = _ArrayParts(ArrayPart(_real(a), make, enc) for a, make, enc in held)
            self._hold(name, held)
        return tuple(held)

    def array(self, name: str, fill: int | None = None) -> Any:
        """The numpy array whose ``tolist()`` is the column ``name`` when it is held as
        arrays of :data:`VALUES` (:meth:`arrays`), whether its list is made or not; else
        None, making nothing. A column in several parts (a batch of several templates) is
        their concatenation, made once and kept, when one dtype holds every part's values
        exactly (no bool joined with numbers, no uint64 with signed). Records that lack the
        element (a part that is a count) give None, unless ``fill`` is given: then they hold
        ``fill`` (integers only), as ``int_column``'s ``default`` reads them."""
        parts = self.arrays(name)
        if not parts or any(p[2] != VALUES for p in parts):
            return None
        gaps = any(p[0].__class__ is int for p in parts)
        if len(parts) == 1 and not gaps:
            return parts[0][0]
        if gaps and fill is None:
            return None
        import numpy as np  # loaded already: these parts are numpy arrays

        arrs = [p[0] for p in parts if p[0].__class__ is not int]
        if any(a.ndim != 1 for a in arrs):
            return None
        kinds = {a.dtype.kind for a in arrs}
        dtypes = [a.dtype for a in arrs]
        if gaps and fill is not None:  # (gaps without fill returned None above)
            if not kinds <= {"u", "i"}:
                return None
            dtypes.append(np.min_scalar_type(fill))
        dtype = np.result_type(*dtypes)
        if len(kinds) > 1 or gaps:  # mixed integer kinds: the joined dtype must hold them all
            if not kinds <= {"u", "i"} or dtype.kind not in "ui":
                return None
        elif dtype.kind not in kinds:
            return None
        joined = np.concatenate([np.full(p[0], fill, dtype=dtype) if p[0].__class__ is int
                                 else p[0] for p in parts]).astype(dtype, copy=False)
        if not gaps:  # the same values in one part: later reads take it as it is
            self._hold(name, _ArrayParts((ArrayPart(joined, parts[0][1], VALUES),)))
        return joined

    def raw_items(self) -> Iterator[tuple[str, Any]]:
        """(name, values or placeholder), building nothing: what take/slice/concat carry over."""
        return iter(dict.items(self))

    def raw(self, name: str) -> Any:
        """The values or the placeholder of ``name`` (None when absent), building nothing."""
        return dict.get(self, name)

    def is_lazy(self, name: str) -> bool:
        """Whether ``name`` is a lazy column not built yet."""
        return isinstance(self.raw(name), _Lazy)

    def pending(self) -> list[str]:
        """Names of the lazy columns not built yet (views are not lazy columns: their values
        exist in their sources)."""
        return [k for k, v in self.raw_items() if v.__class__ is _Lazy]

    def is_view(self, name: str) -> bool:
        """Whether ``name`` is a view (of a take, slice or join) not made into a list yet."""
        v = self.raw(name)
        return v.__class__ is _View and v.value is None

    def _make(self, name: str, view: _View) -> list[Any]:
        values = view.get()
        dict.__setitem__(self, name, values)
        parts = view.parts
        if parts is not None:  # array readers keep reading the arrays (see arrays)
            kept = self._kept
            if kept is None:
                kept = self._kept = {}
            kept[name] = (values, parts)
        elif self._kept:
            self._kept.pop(name, None)
        return values

    def _build(self, name: str, lazy: _Lazy) -> list[Any]:
        values = lazy.build(self, self.length)
        if len(values) != self.length:
            raise ValueError(f"lazy column {name!r} built {len(values)} values for {self.length} records")
        dict.__setitem__(self, name, values)
        return values

    def build_all(self) -> None:
        for k, v in list(self.raw_items()):
            if v.__class__ is _View:
                self._make(k, v)
        for k in self.pending():
            v = self.raw(k)
            if isinstance(v, _Lazy):  # an earlier build may have read it
                self._build(k, v)

    # -- reads that need values ------------------------------------------------------------
    def __getitem__(self, name: str) -> list[Any]:
        v: Any = dict.__getitem__(self, name)
        cls = v.__class__
        if cls is _View:
            return self._make(name, v)
        return self._build(name, v) if cls is _Lazy else v

    def get(self, name: str, default: Any = None) -> Any:
        v: Any = dict.get(self, name, default)
        cls = v.__class__
        if cls is _View:
            return self._make(name, v)
        return self._build(name, v) if cls is _Lazy else v

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self)

    def items(self) -> Any:
        self.build_all()
        return dict.items(self)

    def values(self) -> Any:
        self.build_all()
        return dict.values(self)

    def pop(self, name: str, *default: Any) -> Any:
        if self.is_lazy(name) or self.is_view(name):
            self[name]
        if self._kept:
            self._kept.pop(name, None)
        return dict.pop(self, name, *default)

    def popitem(self) -> tuple[str, list[Any]]:
        self.build_all()
        return dict.popitem(self)

    def setdefault(self, name: str, default: Any = None) -> Any:
        if self.is_lazy(name) or self.is_view(name):
            return self[name]
        return dict.setdefault(self, name, default)

    def copy(self) -> Columns:
        return Columns(self, self.length)

    def __eq__(self, other: object) -> bool:
        self.build_all()
        if isinstance(other, Columns):
            other.build_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __reduce__(self) -> tuple[Any, ...]:
        self.build_all()
        return (dict, (dict(dict.items(self)),))


def _carry(columns: dict[str, list[Any]], length: int,
           pick: Callable[[list[Any]], list[Any]],
           pick_arrays: Callable[[_ArrayParts], _ArrayParts | None] | None = None) -> Columns:
    """Every column as a view of ``pick`` applied to it (made on its first read); lazy ones
    stay lazy (built later from the picked columns, which gives the same values per record).
    A column known as numpy arrays (:meth:`Columns.arrays`: its list made or not) stays arrays
    when ``pick_arrays`` can pick them (the same records, made into the same values on the
    first read), so ``array`` keeps working after the clock's take, slice and join. Its list
    is made from the picked arrays while the source list is not made, else picked from that
    list (the cheaper of the two)."""
    out = Columns(None, length)
    put: Callable[[Columns, str, Any], None] = dict.__setitem__
    held_of: Callable[[str], _ArrayParts | None] | None = None
    raw: Iterable[tuple[str, Any]]
    if isinstance(columns, Columns):
        raw, held_of = columns.raw_items(), columns._held
    else:
        raw = columns.items()
    for k, v in raw:
        cls = v.__class__
        if cls is _Lazy:
            put(out, k, v)
            continue
        held = held_of(k) if held_of is not None else None
        picked = pick_arrays(held) if held is not None and pick_arrays is not None else None
        if cls is _View:
            made = v.value  # type: ignore[union-attr]
            if made is not None:
                put(out, k, _View(made, pick, picked))
            elif picked is not None:
                put(out, k, _View(picked, _join_arrays, picked))
            else:
                put(out, k, _View(v, pick))
        else:
            put(out, k, _View(v, pick, picked))
    return out


#: concat: the batch lacks the column (a made view's src is None, so None cannot say that)
_ABSENT = object()

#: encodings whose ``make`` converts value by value: picking records before or after it is the same
_ELEMENTWISE = (VALUES, IPV4_TEXT)


def _take_arrays(idx: Callable[[], Any], size: int) -> Callable[[_ArrayParts], _ArrayParts | None]:
    """Picks ``idx()`` (a numpy index, built once for the whole take) from a column's parts:
    parts of one dtype and one element-wise conversion are joined and indexed; a part of
    absent records (None) or another conversion cannot be, and the column stays a list view."""

    def pick(parts: _ArrayParts) -> _ArrayParts | None:
        if not parts:
            return None
        first, make, enc = parts[0]
        if enc not in _ELEMENTWISE or first.__class__ is int:
            return None
        for values, m, e in parts[1:]:
            if values.__class__ is int or e != enc or m != make or values.dtype != first.dtype:
                return None
        sources = [p[0] for p in parts]

        def compute() -> Any:
            if len(sources) == 1:
                return _real(sources[0])[idx()]
            import numpy as np  # loaded already: these parts are numpy arrays

            return np.concatenate([_real(a) for a in sources])[idx()]

        return _ArrayParts((ArrayPart(_Deferred(compute, first.dtype, size), make, enc),))

    return pick


def _cut(values: Any, lo: int, hi: int) -> Any:
    """``values[lo:hi]``: a numpy slice (a view, no copy) or, of a deferred array, a deferred one."""
    if values.__class__ is _Deferred:
        return _Deferred(lambda: values.get()[lo:hi], values.dtype, hi - lo)
    return values[lo:hi]


def _slice_arrays(start: int, stop: int) -> Callable[[_ArrayParts], _ArrayParts | None]:
    """Cuts records ``start:stop`` out of a column's parts: numpy slices (no copy) and counts."""

    def pick(parts: _ArrayParts) -> _ArrayParts | None:
        out: list[ArrayPart] = []
        pos = 0
        for values, make, enc in parts:
            size = values if values.__class__ is int else len(values)
            lo, hi = max(start - pos, 0), min(stop - pos, size)
            if lo < hi:
                out.append(ArrayPart(hi - lo if values.__class__ is int else _cut(values, lo, hi), make, enc))
            pos += size
        return _ArrayParts(out)

    return pick


class FlowBatch:
    """A batch of flow records held as columns keyed by IPFIX element name.

    ``source`` names the input address the records came from (for stats and errors);
    ``exporter`` identifies the exporting process (``host:port/odid``) when known.
    ``stream`` is :data:`FLOW_STREAM` for flow records; a batch of another stream
    (:data:`OPTIONS_STREAM`) is routed by the host only to what asked for that stream.
    """

    __slots__ = ("columns", "length", "source", "exporter", "stream", "_times", "_times_array", "_derived")

    def __init__(
        self,
        columns: dict[str, list[Any]],
        length: int | None = None,
        source: str = "",
        exporter: str | None = None,
        stream: str = FLOW_STREAM,
    ) -> None:
        if length is None:
            length = len(next(iter(columns.values()))) if columns else 0
        self.columns = columns
        self.length = length
        self.source = source
        self.exporter = exporter
        self.stream = stream
        self._times: list[int] | None = None
        self._times_array: Any = None  # the numpy array _times was made from, if it was one
        self._derived: dict[Hashable, tuple[tuple[object, ...], Any]] | None = None

    # a batch crossing to a worker process carries its records, not the per-batch caches
    # detectors filled (they are rebuilt on demand and can be larger than the columns)
    def __getstate__(self) -> tuple[Any, ...]:
        return (self.columns, self.length, self.source, self.exporter, self.stream, self._times)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.columns, self.length, self.source, self.exporter, self.stream, self._times = state
        self._times_array = None
        self._derived = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls, rows: Sequence[Mapping[str, Any]], source: str = "", exporter: str | None = None
    ) -> FlowBatch:
        """Build a batch from dict rows (tests, JSON input); missing keys become None."""
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = {name: [row.get(name) for row in rows] for name in names}
        return cls(columns, len(rows), source, exporter)

    @classmethod
    def concat(cls, batches: Sequence[FlowBatch], source: str = "") -> FlowBatch:
        """Join batches of possibly different shapes; absent columns are filled with None."""
        if len(batches) == 1:
            return batches[0]
        streams = {b.stream for b in batches}
        if len(streams) > 1:  # options records must never pass for flows
            raise ValueError(f"cannot join batches of different streams: {', '.join(sorted(streams))}")
        names: dict[str, None] = {}
        for b in batches:
            names.update(dict.fromkeys(b.columns))
        total = sum(b.length for b in batches)
        lazy = _shared_lazy(batches, names)
        joined = Columns(None, total)
        put: Callable[[Columns, str, Any], None] = dict.__setitem__
        raws = [b.columns.raw if isinstance(b.columns, Columns) else b.columns.get for b in batches]
        for name in names:
            if name in lazy:
                joined.set_lazy(name, lazy[name])
                continue
            # arrays (or absent) in every batch: the joined column too, its list made from
            # them unless some batch made its list already (then joined from the lists)
            entries: list[Any] = [raw(name) for raw in raws]
            helds = [_ABSENT if e is None else b.columns._held(name) if isinstance(b.columns, Columns)
                     else None for b, e in zip(batches, entries, strict=True)]
            chained: _ArrayParts | None = None
            if all(h is not None for h in helds) and any(h is not _ABSENT for h in helds):
                links: list[ArrayPart] = []
                for b, h in zip(batches, helds, strict=True):
                    if h is _ABSENT:
                        links.append(ArrayPart(b.length, array_values, VALUES))
                    else:
                        links.extend(h)  # type: ignore[arg-type]
                chained = _ArrayParts(links)
                if all(e is None or (e.__class__ is _View and e.value is None) for e in entries):
                    put(joined, name, _View(chained, _join_arrays, chained))
                    continue
            parts: list[Any] = []
            for b, raw in zip(batches, raws, strict=True):
                v = raw(name)
                if v is None:
                    parts.append(b.length)
                elif v.__class__ is _Lazy:  # lazy here, not in every batch: built, as before
                    parts.append(b.columns[name])
                else:
                    parts.append(v)
            put(joined, name, _View(_Parts(parts), _join_parts, chained))
        columns: dict[str, list[Any]] = joined
        exporters = {b.exporter for b in batches}
        out = cls(columns, total, source or (batches[0].source if batches else ""),
                  exporters.pop() if len(exporters) == 1 else None, streams.pop() if streams else FLOW_STREAM)
        if all(b._times is not None for b in batches):
            times: list[int] = []
            for b in batches:
                times.extend(b._times or ())
            out._times = times
        return out

    # -- access ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        kind = "" if self.stream == FLOW_STREAM else f", stream={self.stream!r}"
        return f"FlowBatch({self.length} records, {len(self.columns)} columns, source={self.source!r}{kind})"

    def get(self, name: str) -> list[Any]:
        """The column for ``name``, or a column of None when no record has that element."""
        col = self.columns.get(name)
        return col if col is not None else [None] * self.length

    def row(self, index: int) -> dict[str, Any]:
        """One record as a dict, without the None placeholders of absent elements."""
        return {k: v[index] for k, v in self.columns.items() if v[index] is not None}

    def rows(self) -> Iterator[dict[str, Any]]:
        for i in range(self.length):
            yield self.row(i)

    def array(self, name: str, fill: int | None = None) -> Any:
        """The column ``name`` as a numpy array, when it is held as arrays (a decoder's
        column, its list made or not, until a stage replaces it; see :meth:`Columns.array`
        for several parts and ``fill``), else None. Optional, for stages that can work on
        arrays; ``batch.columns[name]`` stays the list every stage may read, and reading the
        array makes no list. The array must not be changed."""
        cols = self.columns
        return cols.array(name, fill) if isinstance(cols, Columns) else None

    def add_column(self, name: str, values: list[Any]) -> None:
        """Add or replace a column (enrichers); the length must match."""
        if len(values) != self.length:
            raise ValueError(f"column {name!r} has {len(values)} values for {self.length} records")
        self.columns[name] = values

    def add_lazy_column(self, name: str, build: LazyBuild) -> None:
        """Add or replace a column built by ``build(columns, length)`` on its first read.

        ``build`` must derive each record's value from other columns of the same record
        only (see :data:`LazyBuild`): the batch may be reordered, sliced or joined before the
        column is read, and the column is then built from the resulting batch.
        """
        cols = self.columns
        if not isinstance(cols, Columns):
            cols = self.columns = Columns(cols, self.length)
        cols.set_lazy(name, build)

    def derived(self, key: Hashable, build: Callable[[], Any], *sources: object) -> Any:
        """``build()``, computed once per batch for ``key`` while its ``sources`` are unchanged.

        Every detector reads the same batch object and converts the same columns (addresses,
        ports, counters); the first one's result serves the others. ``sources`` are the columns
        the value derives from: replacing one (``add_column`` or assignment into ``columns``)
        makes the cached value stale, so it is rebuilt. Callers must not mutate what they get.
        """
        cache = self._derived
        if cache is None:
            cache = self._derived = {}
        hit = cache.get(key)
        if hit is not None and len(hit[0]) == len(sources) and all(
                a is b for a, b in zip(hit[0], sources, strict=True)):
            return hit[1]
        value = build()
        cache[key] = (sources, value)
        return value

    def take(self, indices: Iterable[int]) -> FlowBatch:
        """A new batch with the records at ``indices``, in that order."""
        idx = list(indices)
        pick = picker(idx)
        index: list[Any] = []

        def np_index() -> Any:  # built once, on the first column held as arrays
            if not index:
                import numpy as np

                index.append(np.array(idx, dtype=np.intp))
            return index[0]

        cols = _carry(self.columns, len(idx), pick, _take_arrays(np_index, len(idx)))
        out = FlowBatch(cols, len(idx), self.source, self.exporter, self.stream)
        if self._times is not None:
            out._times = pick(self._times)
        return out

    def slice(self, start: int, stop: int) -> FlowBatch:
        n = max(0, min(stop, self.length) - start)
        cols = _carry(self.columns, n, lambda v: v[start:stop], _slice_arrays(max(0, start), max(0, start) + n))
        out = FlowBatch(cols, n, self.source, self.exporter, self.stream)
        if self._times is not None:
            out._times = self._times[start:stop]
        return out

    # -- time ------------------------------------------------------------------------------
    def event_times(self) -> list[int]:
        """Event time of each record in epoch milliseconds: the flow's end.

        Cached; records with no end time get -1 and are counted as malformed by the clock.
        """
        if self._times is None:
            arr = _times_array(self.columns)
            if arr is not None:  # a decoder's array: one tolist, the column's list not made
                self._times_array = arr
                self._times = arr.tolist()
            else:
                self._times = event_times(self.columns, self.length)
        return self._times

    def event_times_array(self) -> Any:
        """The event times as the numpy integer array they were read from (a decoder's
        ``flowEndMilliseconds`` not made into a list), or None; the same values as
        :meth:`event_times`, for stages that sort or compare them with numpy. Must not be changed."""
        if self._times is None:
            self.event_times()
        return self._times_array

    def set_event_times(self, times: list[int]) -> None:
        """Override event times (a config-chosen timestamp field, or retimed replays)."""
        if len(times) != self.length:
            raise ValueError("event times must match the batch length")
        self._times = times
        self._times_array = None


def _shared_lazy(batches: Sequence[FlowBatch], names: Iterable[str]) -> dict[str, _Lazy]:
    """The columns lazy and not yet built in every one of ``batches``, with the same build:
    those the joined batch can keep lazy (a batch without the column, or with it built,
    makes the joined column a built one, None where it was absent, as before)."""
    out: dict[str, _Lazy] = {}
    if not all(isinstance(b.columns, Columns) for b in batches):
        return out
    for name in names:
        first = batches[0].columns.raw(name)  # type: ignore[attr-defined]
        if not isinstance(first, _Lazy):
            continue
        build = first.build
        if all(isinstance(v := b.columns.raw(name), _Lazy) and v.build == build  # type: ignore[attr-defined]
               for b in batches[1:]):
            out[name] = first
    return out


def picker(idx: list[int]) -> Callable[[list[Any]], list[Any]]:
    """A function list -> list of the items at ``idx``; itemgetter keeps the loop in C (a
    batch's take, and the rows the workers' main process sends each worker)."""
    if not idx:
        return lambda col: []
    if len(idx) == 1:
        i = idx[0]
        return lambda col: [col[i]]
    getter = itemgetter(*idx)
    return lambda col: list(getter(col))


def _times_array(columns: Mapping[str, list[Any]]) -> Any:
    """The event-time array when the only flowEnd* element present is ``flowEndMilliseconds``
    held as an integer numpy array (``Columns.array``): what :func:`event_times` would give,
    ``list(column)``, is its ``tolist()``. Else None."""
    if not isinstance(columns, Columns):
        return None
    present = [n for n, _f in EVENT_TIME_FIELDS if n in columns]
    if present != ["flowEndMilliseconds"]:
        return None
    arr = columns.array("flowEndMilliseconds")
    return arr if arr is not None and arr.dtype.kind in "ui" else None


def event_times(columns: Mapping[str, list[Any]], length: int) -> list[int]:
    """Event times from whichever flowEnd* elements are present, per record."""
    present = [(columns[n], f) for n, f in EVENT_TIME_FIELDS if n in columns]
    if not present:
        return [-1] * length
    first, factor = present[0]
    if len(present) == 1 and factor == 1 and None not in first:
        return list(first)
    out: list[int] = []
    for i in range(length):
        for col, f in present:
            v = col[i]
            if v is not None:
                out.append(int(v * f) if f != 1 else int(v))
                break
        else:
            out.append(-1)
    return out
