"""WHERE/SELECT expressions (three-valued logic as in Esper) and compile-time errors."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness, values
from flowcep_plugin.errors import EPLError

RECORDS = [
    (0, {"url": "/wp-login.php", "n": 5, "host": "A.example"}),
    (1, {"url": "", "n": 20, "host": "b.example"}),
    (2, {"n": 1}),  # no url, no host
    (3, {"url": "/index_1.html", "n": None, "host": "c"}),
]


def where(cond: str) -> list[int]:
    h = Harness(f"@Name('Out') select n as n, url from Flow where {cond}")
    h.batch(RECORDS)
    return [r.time_ms for r in h.rows]


@pytest.mark.parametrize("cond, expected", [
    ('url like "%login%"', [0]),
    ("url not like ''", [0, 3]),            # null url is neither like nor not like
    ('url NOT LIKE ""', [0, 3]),
    ("url like '/index__.html'", [3]),
    ("url like '/index_.html'", []),
    ("url is null", [2]),
    ("url is not null", [0, 1, 3]),
    ("n < 10", [0, 2]),
    ("not (n < 10)", [1]),                  # n null: NOT(null) is null
    ("n in (1, 20)", [1, 2]),
    ("n not in (1, 20)", [0]),
    ("n between 2 and 20", [0, 1]),
    ("n * 2 + 1 > 11", [1]),
    ("n % 2 = 1", [0, 2]),
    ("n < 10 or url like '%index%'", [0, 2, 3]),
    ("n < 10 and url is not null", [0]),
    ("lower(host) = 'a.example'", [0]),
    ("upper(host) = 'B.EXAMPLE'", [1]),
    ("length(url) = 13", [0, 3]),
    ("substring(url, 1, 3) = 'wp'", [0]),
    ("contains(url, 'index')", [3]),
    ("coalesce(url, 'none') = 'none'", [2]),
    ("url regexp '/wp-.*'", [0]),
    ("url regexp 'wp-'", []),                 # Esper: the whole string must match
    ("url not regexp '/wp-.*'", [1, 3]),      # null stays null (row 2 is not selected)
    ("host regexp lower(host)", [1, 3]),      # a computed pattern, also whole-string
    ("url regexp substring(url, 1, 3)", [1]),  # 'wp' is inside '/wp-login.php' but not all of it
    ("n != 5", [1, 2]),
    ("n <> 5", [1, 2]),
    ("n = 'text'", []),                       # mixed types compare as unequal, no error
    ("n > 'text'", []),                       # an impossible comparison is null, not an error
])
def test_where(cond: str, expected: list[int]) -> None:
    assert where(cond) == expected


def test_select_names_are_alias_or_esper_rendering() -> None:
    m = compile_module("""@Name('S') insert into X
        select ipfix.sourceIPv4Address, COUNT( * ), count( distinct  b ) as d, sum(b) + 1
        from Flow#time_batch(1 min) group by ipfix.sourceIPv4Address""")
    st = m.statement("S")
    assert st.select_names == ["ipfix.sourceIPv4Address", "count(*)", "d", "(sum(b))+1"]
    assert st.insert_into == "X" and st.stream == "X"
    assert m.input_stream == "Flow"


def test_params_are_substituted_before_parsing() -> None:
    h = Harness("@Name('Out') select n from Flow where n > ${min} and url like '${pat}'",
                {"min": 4, "pat": "%login%"})
    h.batch(RECORDS)
    assert values(h.rows, "n") == [(5,)]


def test_schema_with_timestamp_tag_is_the_input_stream_and_names_the_time() -> None:
    m = compile_module("""@Name('Schema') @Tag(name='timestamp', value='ipfix.flowStartMilliseconds')
        create map schema IPFIX(ipfix.flowStartMilliseconds long, ipfix.n int);
        @Name('Out') select count(*) as c from IPFIX#time_batch(10 sec)""")
    assert m.input_stream == "IPFIX"
    assert [s.name for s in m.statements] == ["Out"] and [s.name for s in m.schemas] == ["Schema"]
    rt = m.runtime()
    from flowcep_plugin.engine.harness import flows

    batch = flows((99_000, {"flowStartMilliseconds": 0, "n": 1}),
                  (99_000, {"flowStartMilliseconds": 10_000, "n": 1}))
    rows = rt.on_batch(batch) + rt.flush()
    assert [(r.time_ms, r.values["c"]) for r in rows][:2] == [(10_000, 1), (20_000, 1)]


def error(text: str) -> EPLError:
    with pytest.raises(EPLError) as exc:
        compile_module(text, "m.epl")
    return exc.value


def test_syntax_error_has_line_column_and_expected_tokens() -> None:
    e = error("@Name('A')\nselect a,\n  from Flow")
    assert (e.line, e.column) == (3, 8)
    assert "expected one of" in str(e) and str(e).startswith("m.epl:3:8: syntax error")
    e = error("select a from Flow where a = ")
    assert e.line == 1 and "end of input" in str(e) and "a number" in str(e)
    e = error("select a from Flow.win:time_batch(1 minute\n")
    assert e.line == 2 and "')'" in str(e)


def test_unknown_stream_is_rejected_with_position() -> None:
    e = error("@Name('A') select a from Flow;\n@Name('B') select x from Nowhere#length(2)")
    assert (e.line, e.column) == (2, 26)
    assert "unknown stream 'Nowhere'" in str(e) and "Flow" in str(e)


def test_unknown_property_when_the_schema_declares_properties() -> None:
    e = error("""@Tag(name='timestamp', value='ipfix.flowEndMilliseconds')
        create map schema IPFIX(ipfix.flowEndMilliseconds long, ipfix.a string);
        select ipfix.b from IPFIX""")
    assert e.line == 3 and "unknown property 'ipfix.b'" in str(e)
    e = error("""insert into D select a as x from Flow;
        select D.y from D""")
    assert e.line == 2 and "unknown property 'y' of stream D" in str(e)


@pytest.mark.parametrize("text, needle", [
    ("select a from Flow limit 2.5", "LIMIT expects a whole number"),
    ("select * from pattern [a=Flow] order by a.x", "ORDER BY with SELECT *"),
    ("select a from Flow.win:time_accum(1 sec)", "view win:time_accum"),
    ("select a from Flow#time_batch(1 min)#length(3)", "these data windows together"),
    ("select frobnicate(a) from Flow", "unknown function frobnicate"),
    ("select a from Flow where count(*) > 1", "not allowed in WHERE"),
    ("select * from pattern [not a=Flow]", "NOT outside an AND"),
    ("select count(*) from Flow output snapshot every 5 events", "output rate by events"),
    ("select a from Flow as x left outer join Flow as y", "needs an ON condition"),
    ("select a from Flow where a > ${missing}", "unknown parameter ${missing}"),
])
def test_unsupported_constructs_are_rejected_before_data(text: str, needle: str) -> None:
    e = error(text)
    assert needle in str(e) and e.line == 1 and e.column


def test_stream_filter_and_where_combine() -> None:
    h = Harness("@Name('Out') select n from Flow(n > 1)#length(10) where url is not null")
    h.batch(RECORDS)
    assert values(h.rows, "n") == [(5,), (20,)]


def test_insert_into_loops_are_rejected() -> None:
    e = error("@Name('A') insert into X select a from Flow;\n"
              "@Name('B') insert into Y select a from X;\n"
              "@Name('C') insert into X select a from Y")
    assert "INSERT INTO loop: X -> Y -> X" in str(e) or "INSERT INTO loop: Y -> X -> Y" in str(e)
    assert e.line in (2, 3)
