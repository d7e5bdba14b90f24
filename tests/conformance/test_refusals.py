"""Every Esper construct FlowCEP does not run is a compile-time error that names it, at its line
and column, never a plain syntax error and never a statement that runs with another meaning
(issue 16). One case per construct, from the inventory in docs/epl-inventory.md; each cites
the EPL Reference chapter (espertechinc/esper, "EPL Reference") that defines the construct.

Each case checks three things that could each fail: the error is an EPLError starting with the
module name, line and column of the construct (not of the statement's start, unless the
construct starts it); it says ``unsupported construct``; and it names the construct (``needle``).
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.errors import EPLError

STREAMS = """insert into SB select theString, intPrimitive, intBoxed, doublePrimitive from Flow(kind = 'sb');
insert into S0 select id, p00 from Flow(kind = 's0');
create window W#keepall as SB;
"""
#: the statement under test starts on this line of the module
LINE = 4

REF = "espertechinc/esper EPL Reference: {}"


def case(chapter: str, epl: str, at: str, needle: str, nth: int = 0) -> Any:
    """``at``: the text the error must point at (its ``nth`` occurrence in ``epl``)."""
    col = -1
    for _ in range(nth + 1 if at else 0):
        col = epl.index(at, col + 1)
    return pytest.param(epl, col + 1, needle, id=needle[:40] + "|" + epl[:30],
                        marks=pytest.mark.esper("unsupported-is-an-error",
                                                cite=REF.format(chapter) + ": refused by name at its line and column"))


CASES = [
    # statements
    case("Event Representations, create schema", "create objectarray schema T (a string)", "objectarray",
         "create objectarray/avro/variant"),
    case("Event Representations, create schema", "create avro schema T (a string)", "avro", "create objectarray/avro"),
    case("Event Representations, variant streams", "create variant schema V as SB, S0", "variant", "variant"),
    case("Event Representations, create schema", "create schema T as com.foo.Bar", "as", "create schema T as <class"),
    case("Event Representations, create schema", "create schema T (a string) inherits Base", "inherits", "inherits"),
    case("Named Windows and Tables, tables", "create table T (k string primary key, c count(*))", "table", "tables"),
    case("Variables and Constants", "create variable int v = 1", "variable", "variables (create variable)"),
    case("Variables and Constants", "create constant variable int v = 1", "constant", "variables"),
    case("Named Windows and Tables, explicit indexes", "create index I on W (theString)", "index", "create index"),
    case("Named Windows and Tables, explicit indexes", "create unique index I on W (theString)", "unique",
         "create index"),
    case("Declared expressions", "create expression e { x => x * 2 }", "expression", "create expression"),
    case("Script Support", "create expression double js:f(a) [ return a; ]", "expression", "create expression"),
    case("EPL Reference: Data Flow", "create dataflow D BeaconSource -> s {}", "dataflow", "create dataflow"),
    case("Named Windows and Tables, populating a named window", "create window W2#keepall as SB insert",
         "insert", "create window ... insert"),
    case("Named Windows and Tables, on-set", "on S0 set v = 1", "v = 1", "on-set"),
    case("Splitting and duplicating streams", "on SB insert into A select * where intPrimitive > 0 "
         "insert into B select *", "where", "split-stream"),
    case("Named Windows and Tables, triggering on a pattern", "on pattern [every S0] delete from W", "[",
         "a pattern as the trigger"),
    case("Named Windows and Tables, on-select", "on S0 select count(*) from W group by theString", "by",
         "GROUP BY or HAVING in an on-select"),
    case("Update istream", "update istream SB set intPrimitive = 1", "update", "update istream"),
    case("Fire-and-forget queries, delete", "delete from W", "delete", "fire-and-forget delete"),
    case("Fire-and-forget queries, insert", "insert into W select 'a' as theString", "", "select without FROM"),
    case("Declared expressions", "expression twice { x => x * 2 } select twice(intPrimitive) from SB",
         "expression", "expression declarations"),
    case("Insert Into, event precedence", "insert into X event-precedence(1) select theString from SB", "event",
         "event-precedence"),
    case("Named Windows and Tables, insert into table", "insert into table T select theString from SB", "T",
         "tables (insert into table)"),
    case("Named Windows and Tables, into table", "select count(*) as c into table T from SB", "into",
         "tables (select ... into table)"),
    case("Named Windows and Tables, table access", "select T['a'].c from SB", "'a'", "table access"),
    # contexts
    case("Context, hash segmented", "create context C coalesce by consistent_hash_crc32(theString) from SB "
         "granularity 16", "coalesce", "hash segmented contexts"),
    case("Context, category segmented", "create context C group by intPrimitive < 0 as neg, group by "
         "intPrimitive > 0 as pos from SB", "group", "category segmented contexts"),
    case("Context, nesting contexts", "create context C context A partition by theString from SB, context B "
         "start @now end after 1 min", "context", "nested contexts", 1),
    case("Context, non-overlapping context", "create context C start after 1 min end after 1 min", "1",
         "started after a time period"),
    case("Context, crontab condition", "create context C start (*, *, *, *, *) end after 1 min", "(",
         "a crontab as a context"),
    case("Context, crontab condition", "create context C initiated by SB terminated (*, *, *, *, *)", "(",
         "a crontab as a context"),
    case("Context, pattern condition", "create context C start pattern [SB] end after 1 min", "[",
         "a pattern as a context"),
    case("Context, pattern condition", "create context C start @now end pattern [SB]", "pattern",
         "a pattern as a context"),
    case("Context, pattern condition", "create context C initiated by pattern [every SB] terminated after 1 min",
         "[", "a pattern as a context"),
    case("Context, distinct initiating events", "create context C initiated by distinct(theString) SB "
         "terminated after 1 min", "distinct", "initiated by distinct"),
    case("Context, keyed segmented with initiation", "create context C partition by theString from SB "
         "initiated by SB", "by", "initiated by an event", 1),
    case("Context, time period expressions", "create context C start @now end after 1 * 60 seconds", "*",
         "a time period computed"),
    case("Context, output when terminated", "create context C start @now end after 1 min; context C select "
         "count(*) from SB output first when terminated", "output", "output first when terminated"),
    case("Context, output when terminated", "select count(*) from SB output snapshot when terminated", "output",
         "output when terminated outside a context"),
    case("Context, output when terminated", "create context C start @now end after 1 min; context C select "
         "count(*) from SB output snapshot when terminated and count(*) > 1", "and", "when terminated and"),
    # output
    case("Output, output when", "select count(*) from SB output when count_insert > 1", "when",
         "output when <condition>"),
    case("Output, output after", "select count(*) from SB output after 10 sec snapshot every 1 sec", "output",
         "output after ... snapshot every"),
    case("Output, crontab", "select count(*) from SB output at (*, *, *, *, *)", "at", "output at a crontab"),
    case("Output, variable rate", "select count(*) from SB output every v seconds", "v sec", "an output rate from"),
    case("Output, time periods", "select count(*) from SB output every 2 * 3 seconds", "* 3",
         "a time period computed"),
    case("Output, and when terminated", "select count(*) from SB output every 1 sec and when terminated", "and",
         "and when terminated"),
    case("Clauses, for grouped_delivery", "select theString from SB for grouped_delivery (theString)",
         "grouped_delivery", "FOR grouped_delivery"),
    case("Clauses, for discrete_delivery", "select theString from SB for discrete_delivery",
         "discrete_delivery", "FOR grouped_delivery/discrete_delivery"),
    case("Clauses, limit with variables", "select * from SB#keepall order by theString limit v", "v",
         "LIMIT or OFFSET from"),
    # from clause
    case("Contained-event selection", "select * from SB[select * from arr]", "[", "contained-event selection"),
    case("Joining method invocation results", "select * from SB#keepall, method:Foo.bar(theString)", ":",
         "method joins"),
    case("Joining relational data via SQL", "select * from SB#keepall, sql:db ['select * from t']", ":",
         "SQL joins"),
    case("Patterns in the from clause, joins", "select * from pattern [every a=SB] as p, S0#keepall", ",",
         "a pattern joined with streams"),
    case("Patterns in the from clause, views", "select * from pattern [every a=SB]#time(1 sec)", "#",
         "a data window on a pattern"),
    case("Patterns, filter expressions", "select * from pattern [every a=SB#length(2)]", "#",
         "a data window on a pattern filter"),
    case("Patterns, contained-event selection", "select * from pattern [a=SB[select * from arr]]", "[s",
         "contained-event selection"),
    case("Event types, qualified names", "select * from com.foo.SB", ".", "a qualified event type name", 1),
    case("Filter expressions, comma-separated", "select * from SB(theString = 'a', intPrimitive = 1)", ",",
         "comma-separated filter expressions"),
    case("Patterns, filter expressions", "select * from pattern [every a=SB(theString = 'a', intPrimitive = 1)]",
         ",", "comma-separated filter expressions"),
    case("Operators, any/some/all with values", "select * from SB where intPrimitive = any (1, 2)", "1",
         "any/some/all over a list of values"),
    case("Operators, any/some/all with values", "select * from SB where intPrimitive > all (1, 2)", "1",
         "any/some/all over a list of values"),
    # patterns
    case("Patterns, time periods", "select * from pattern [timer:interval(2 * 60 seconds)]", "seconds",
         "a time period computed"),
    case("Patterns, time periods", "select * from pattern [a=SB -> timer:interval(a.intPrimitive)]", "timer",
         "a time period computed"),
    # views
    case("Views, expression parameters", "select * from SB#time(2 * 3 seconds)", "seconds",
         "a time period computed"),
    case("Views, expression parameters", "select * from SB#time(intPrimitive)", "#", "a time period computed"),
    case("Views, expression parameters", "select * from SB#length(1 + 2)", "#", "a size computed"),
    case("Time periods (months and years are calendar-based)", "select * from SB#time(1 month)", "month",
         "a time period in months or years"),
    case("Time periods (months and years are calendar-based)", "select * from pattern [timer:interval(1 year "
         "2 days)]", "year", "a time period in months or years"),
    case("Views, length_batch flow control", "select * from SB#length_batch(3, 'FORCE_UPDATE')", "#",
         "length_batch flow control"),
    case("Views, time_batch flow control", "select * from SB#time_batch(1 sec, 0L, 'START_EAGER')", "#",
         "time_batch flow control"),
    # expressions
    case("Operators, string concatenation", "select theString || 'x' as s from SB", "||", "string concatenation"),
    case("Operators, binary operators", "select intPrimitive & 1 from SB", "&", "bitwise operators"),
    case("Operators, binary operators", "select intPrimitive ^ 1 from SB", "^", "bitwise operators"),
    case("Operators, in with ranges", "select * from SB where intPrimitive in [1:3]", "[", "in with a range"),
    case("Operators, in with ranges", "select * from SB where intPrimitive in (1:3]", ":", "in with a range"),
    case("Operators, like escape", "select * from SB where theString like 'a!%' escape '!'", "escape",
         "LIKE ... ESCAPE"),
    case("Operators, array definition", "select {1, 2, 3} as arr from SB", "{", "array literals"),
    case("Operators, the new keyword", "select new { a = theString } as n from SB", "{", "the new operator"),
    case("Operators, the new keyword", "select new java.util.Date() as d from SB", "java", "the new operator"),
    case("Event properties, dynamic properties", "select theString? as s from SB", "?", "dynamic properties"),
    case("Single-row functions, exists", "select exists(theString?) as e from SB", "theString", "exists(property?)"),
    case("Single-row functions, instanceof", "select instanceof(theString, string) as i from SB", "instanceof",
         "instanceof()"),
    case("Single-row functions, typeof", "select typeof(theString) as t from SB", "typeof", "typeof()"),
    case("Single-row functions, current_timestamp", "select current_timestamp() as t from SB", "current",
         "current_timestamp()"),
    case("Single-row functions, istream", "select istream() as i from SB", ")", "the istream() function"),
    case("Enumeration methods", "select prevwindow(s).where(x => x.intPrimitive > 0) as w from SB#length(3) as s",
         ".", "a method call on a value"),
    case("Enumeration methods", "select theString.anyOf(x => x = 'a') as a from SB", "(", "enumeration methods"),
    case("Enumeration methods, lambda", "select (a, b) => a as l from SB", ",", "lambda expressions"),
    case("Date-time methods", "select current_timestamp().getMinuteOfHour() as m from SB", ".",
         "a method call on a value"),
    case("Single-row functions, Java static methods", "select Math.max(1, 2) as m from SB", "(",
         "a method call"),
    case("Single-row functions, instance methods", "select theString.toUpperCase() as u from SB", "(",
         "a method call"),
    case("Event properties, indexed properties (Flow is an open stream: arr[1] was read as a property "
         "named 'arr[1]', null, where Esper gives the element)", "select arr[1] as x from Flow", "arr",
         "indexed property arr[1]"),
    case("Select clause, stream wildcard", "select s.* from SB as s", "*", "alias.* in the select list"),
    case("Select clause, wildcard and expressions", "select *, intPrimitive * 2 as d from SB", ",",
         "select * with more expressions"),
    case("Literals, hexadecimal", "select 0x10 as h from SB", "x10", "hexadecimal literals"),
    case("Literals, string escapes", "select 'it''s' as s from SB", "'s'", "doubled-quote escapes"),
    # aggregation
    case("Aggregation functions, first", "select first(theString) as f from SB#length(3)", "first",
         "the aggregation function first()"),
    case("Aggregation functions, window", "select window(*) as w from SB#length(3)", "window",
         "the aggregation function window()"),
    case("Aggregation functions, countever", "select countever(*) as c from SB", "countever",
         "the aggregation function countever()"),
    case("Aggregation functions, maxby", "select maxby(intPrimitive) as m from SB#keepall", "maxby",
         "the aggregation function maxby()"),
    case("Aggregation functions, rate", "select rate(10) as r from SB", "rate", "the aggregation function rate()"),
    case("Group by, rollup", "select theString, sum(intPrimitive) as s from SB group by rollup(theString)",
         "rollup", "rollup"),
    case("Group by, cube", "select theString, sum(intPrimitive) as s from SB group by cube(theString, "
         "intPrimitive)", "cube", "cube"),
    case("Group by, grouping sets", "select theString, sum(intPrimitive) as s from SB group by grouping "
         "sets(theString, intPrimitive)", "sets", "grouping sets"),
    case("Group by, grouping function", "select theString, grouping(theString) as g, sum(intPrimitive) as s "
         "from SB group by theString", "grouping", "grouping()"),
    # annotations that change how a statement runs
    case("Annotations, @Hint (retain-union)", "@Hint('retain-union') select * from SB#time(1 sec)#length(3)",
         "@", "@Hint"),
    case("Annotations, @Hint (reclaim_group_aged)", "@Hint('reclaim_group_aged=10') select theString, count(*) "
         "as c from SB group by theString", "@", "@Hint"),
    case("Annotations, @Priority", "@Priority(10) select * from SB", "@", "@Priority"),
    case("Annotations, @Drop", "@Drop select * from SB", "@", "@Drop"),
    case("Annotations, enumeration values", "@EventRepresentation(objectarray) create schema T (a string)", ")",
         "this annotation value"),
]


@pytest.mark.parametrize(("epl", "column", "needle"), CASES)
def test_unsupported_construct_is_refused_by_name(epl: str, column: int, needle: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module(STREAMS + epl, "<t>")
    msg = str(err.value)
    assert "unsupported construct" in msg and needle in msg, msg
    if column > 0:
        assert msg.startswith(f"<t>:{LINE}:{column}:"), msg
    else:  # at the end of the statement (a select without FROM)
        assert msg.startswith(f"<t>:{LINE}:"), msg


SUPPORTED_NEIGHBOURS = [
    "@Name('x') @Description('d') @Tag(name='a', value='b') select * from SB",
    "select * from SB where intPrimitive in (1, 2) and theString like 'a%'",
    "select * from pattern [every a=SB -> timer:interval(10)]",
    "create context C2 start @now end after 1 min",
    "select count(*) as c from SB output last every 1 sec",
    "select * from SB#keepall order by theString limit 2 offset 1",
    "select * from SB#time(1 min 30 sec)",
]


@pytest.mark.esper("unsupported-is-an-error", cite=REF.format("Clauses, Annotations, Patterns, Output") +
                   ": the supported neighbours of the refused constructs still compile")
@pytest.mark.parametrize("epl", SUPPORTED_NEIGHBOURS)
def test_supported_neighbours_still_compile(epl: str) -> None:
    compile_module(STREAMS + epl, "<t>")
