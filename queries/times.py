"""Rockset's time types and functions, the same on both databases.

A timestamp, datetime or date is carried as whole microseconds since 1970-01-01 (UTC; a datetime and a
date read as if in UTC): an integer compares, adds and subtracts exactly on PostgreSQL and SQLite alike,
intervals are microseconds too, and the runner writes each kind out as Rockset does. Calendar work
(truncating to a month, months between two days, formatting) is PostgreSQL's own on PostgreSQL and a
Python function registered on the SQLite connection (queries/sqlite_functions.py) on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlglot import exp

from ingest import clock
from queries.errors import QueryError
from queries.sql import DATE, DOC, DT, IV, JSON, MI, NULL, NUM, TEXT, TIME, TIMES, TS, Sql, where_of

MICROS = {"microsecond": 1, "millisecond": 1_000, "second": 1_000_000, "minute": 60_000_000,
          "hour": 3_600_000_000, "day": 86_400_000_000, "week": 7 * 86_400_000_000}  # fmt: skip
CALENDAR = {"month": 1, "quarter": 3, "year": 12}
ISO8601 = r"^\s*\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?\s*$"
ISO_FORMATS = {TS: "%Y-%m-%dT%H:%M:%S.%fZ", DT: "%Y-%m-%dT%H:%M:%S.%f", DATE: "%Y-%m-%d"}
# strftime directives (Rockset's FORMAT_TIMESTAMP) → PostgreSQL's to_char patterns
TO_CHAR = {"Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "f": "US", "y": "YY",
           "b": "Mon", "h": "Mon", "B": "FMMonth", "a": "Dy", "A": "FMDay", "j": "DDD", "I": "HH12", "p": "AM",
           "F": "YYYY-MM-DD", "T": "HH24:MI:SS", "D": "MM/DD/YY", "R": "HH24:MI", "e": "FMDD", "u": "ID",
           "Z": '"UTC"', "z": '"+0000"', "%": "%"}  # fmt: skip
EPOCH_PG = "(TIMESTAMP 'epoch' + {} * INTERVAL '1 microsecond')"
EXTRACT_PG = {"MICROSECOND": "MICROSECONDS", "MILLISECOND": "MILLISECONDS", "SECOND": "SECOND", "MINUTE": "MINUTE",
              "HOUR": "HOUR", "DAY": "DAY", "DAYOFWEEK": "ISODOW", "DAYOFYEAR": "DOY", "WEEK": "WEEK",
              "MONTH": "MONTH", "QUARTER": "QUARTER", "YEAR": "YEAR"}  # fmt: skip
MICROS_PG = "CAST(EXTRACT(EPOCH FROM {}) * 1000000 AS bigint)"


def to_char_pattern(strftime: str) -> str:
    """A strftime format as PostgreSQL's to_char pattern: directives mapped, all other text quoted."""
    out, literal, chars = [], "", iter(strftime)
    for char in chars:
        if char != "%":
            literal += char
            continue
        directive = next(chars, "")
        if directive not in TO_CHAR:
            raise QueryError(f"FORMAT_TIMESTAMP: %{directive} is not supported by Millrace yet.")
        if directive == "%":
            literal += "%"
            continue
        if literal:
            out.append('"' + literal.replace("\\", "\\\\").replace('"', '\\"') + '"')
            literal = ""
        out.append(TO_CHAR[directive])
    if literal:
        out.append('"' + literal.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "".join(out)


class Times:
    """The time half of the expressions (see queries/expressions.py)."""

    pg: bool
    parameters: dict[str, Sql]
    repeatable: bool

    def micros(self, emitted: Sql, node: exp.Expression) -> Sql:
        """A time value as its microseconds; `_event_time` (the database's own timestamp) converted. A
        string (a field's, a literal's) is read as an ISO 8601 timestamp: DynamoDB has no time type, so
        what was a timestamp in Rockset is one in JSON, and `DATE_TRUNC('day', created_at)` means it."""
        if emitted.kind in (*TIMES, IV, MI, NULL):
            return emitted
        if emitted.kind == TIME:
            sql = MICROS_PG.format(emitted.sql) if self.pg else f"millrace_micros({emitted.sql})"
            return Sql(sql, TS, emitted.params)
        if emitted.kind in (TEXT, JSON, DOC):
            return self.parsed(self.text(emitted), TS)
        raise QueryError(
            f"A date or time is expected here, not a {emitted.kind}; a number of milliseconds becomes one "
            "with TIMESTAMP_MILLIS(n).",
            *where_of(node),
        )

    def times_compared(self, node: exp.Expression, a: Sql, b: Sql) -> tuple[Sql, Sql]:
        return self.micros(a, node), self.micros(b, node)

    def time_arithmetic(self, node: exp.Binary, a: Sql, operator: str, b: Sql) -> Sql:
        """time ± interval is a time of the same kind; time - time an interval; interval ± interval too."""
        a, b = self.micros(a, node.this), self.micros(b, node.expression)
        if MI in (a.kind, b.kind):
            return self.months_added(node, a, operator, b)
        if a.kind in TIMES and b.kind == IV:
            kind = a.kind
        elif a.kind == IV and b.kind in TIMES and operator == "+":
            kind = b.kind
        elif (a.kind in TIMES and b.kind in TIMES and operator == "-") or a.kind == b.kind == IV:
            kind = IV
        else:
            raise QueryError(f"`{node.sql()[:60]}` mixes a {a.kind} and a {b.kind}.", *where_of(node))
        return Sql(f"({a.sql} {operator} {b.sql})", kind, a.params + b.params)

    def months_added(self, node: exp.Binary, a: Sql, operator: str, b: Sql) -> Sql:
        """time ± months on the calendar (Jan 31 + 1 month is the last day of February), months ± months."""
        if a.kind == b.kind == MI:
            return Sql(f"({a.sql} {operator} {b.sql})", MI, a.params + b.params)
        if a.kind == MI and b.kind in TIMES and operator == "+":
            a, b = b, a
        if not (a.kind in TIMES and b.kind == MI):
            raise QueryError(f"`{node.sql()[:60]}` mixes a {a.kind} and a {b.kind}.", *where_of(node))
        sign = "-" if operator == "-" else ""
        if self.pg:
            moved = f"({EPOCH_PG.format(a.sql)} + {sign}{b.sql} * INTERVAL '1 month')"
            return Sql(MICROS_PG.format(moved), a.kind, a.params + b.params)
        return Sql(f"millrace_add_months({a.sql}, {sign}{b.sql})", a.kind, a.params + b.params)

    def constant_text(self, node: exp.Expression, what: str) -> str:
        """A literal or a parameter's value, needed while translating (a unit, a format)."""
        if isinstance(node, exp.Literal) and node.is_string:
            return node.this
        if isinstance(node, exp.Placeholder) and node.name in self.parameters:
            bound = self.parameters[node.name]
            if bound.kind == TEXT:
                return str(bound.params[0])
        raise QueryError(f"{what} must be a string literal or a string parameter.", *where_of(node))

    def unit(self, node: exp.Expression, place: exp.Expression | None = None) -> str:
        """A unit written as a string (or a string parameter); `place` locates it in errors (a literal
        carries no position of its own)."""
        name = (node.name if isinstance(node, exp.Var) else self.constant_text(node, "The unit")).lower()
        name = name.removesuffix("s") if name.removesuffix("s") in {*MICROS, *CALENDAR} else name
        if name not in MICROS and name not in CALENDAR:
            raise QueryError(f"Unknown time unit {name!r}; use one of {', '.join([*MICROS, *CALENDAR])}.",
                             *where_of(place or node))  # fmt: skip
        return name

    # Making time values

    def parsed(self, text: Sql, kind: str) -> Sql:
        """ISO 8601 text as a time value; NULL where it isn't one."""
        if self.pg:
            value = MICROS_PG.format(f"CAST({text.sql} AS timestamptz)")
            sql = f"CASE WHEN {text.sql} ~ %s THEN {value} END"
            params = text.params + (ISO8601,) + text.params
        else:
            sql, params = f"millrace_parse_iso({text.sql})", text.params
        if kind == DATE:
            return self.truncated(Sql(sql, kind, params), "day")
        return Sql(sql, kind, params)

    def fn_parse_timestamp_iso8601(self, node: exp.Anonymous) -> Sql:
        return self.parsed(self.text(self.value(self.arguments(node, 1)[0])), TS)

    def fn_parse_datetime_iso8601(self, node: exp.Anonymous) -> Sql:
        return self.parsed(self.text(self.value(self.arguments(node, 1)[0])), DT)

    def fn_parse_date_iso8601(self, node: exp.Anonymous) -> Sql:
        return self.parsed(self.text(self.value(self.arguments(node, 1)[0])), DATE)

    def scaled(self, node: exp.Anonymous, kind: str, factor: int) -> Sql:
        number = self.number(self.value(self.arguments(node, 1)[0]))
        cast = "bigint" if self.pg else "INTEGER"
        return Sql(f"CAST({number.sql} * {factor} AS {cast})", kind, number.params)

    def fn_timestamp_millis(self, node: exp.Anonymous) -> Sql:
        return self.scaled(node, TS, 1_000)

    def fn_timestamp_seconds(self, node: exp.Anonymous) -> Sql:
        return self.scaled(node, TS, 1_000_000)

    def fn_timestamp_micros(self, node: exp.Anonymous) -> Sql:
        return self.scaled(node, TS, 1)

    def since_epoch(self, argument: exp.Expression, divisor: int) -> Sql:
        moment = self.micros(self.value(argument), argument)
        floor = f"FLOOR({moment.sql} / {divisor}.0)" if divisor > 1 else moment.sql
        return Sql(f"CAST({floor} AS {'bigint' if self.pg else 'INTEGER'})", NUM, moment.params)

    def emit_unixmillis(self, node: exp.UnixMillis) -> Sql:
        return self.since_epoch(node.this, 1_000)

    def emit_unixseconds(self, node: exp.UnixSeconds) -> Sql:
        return self.since_epoch(node.this, 1_000_000)

    def fn_unix_micros(self, node: exp.Anonymous) -> Sql:
        return self.since_epoch(self.arguments(node, 1)[0], 1)

    def now(self, kind: str) -> Sql:
        """The engine's clock (virtual in tests), read once per query, bound like any value."""
        moment = clock.now().astimezone(UTC)
        self.repeatable = False
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // MICROS_DELTA
        sql = Sql("CAST(%s AS bigint)" if self.pg else "%s", kind, (micros,))
        return self.truncated(sql, "day") if kind == DATE else sql

    def emit_currenttimestamp(self, node: exp.CurrentTimestamp) -> Sql:
        return self.now(TS)

    def emit_currentdatetime(self, node: exp.CurrentDatetime) -> Sql:
        return self.now(DT)

    def emit_currentdate(self, node: exp.CurrentDate) -> Sql:
        return self.now(DATE)

    def interval(self, amount: Sql, unit: str, node: exp.Expression) -> Sql:
        amount = self.number(amount)
        cast = "bigint" if self.pg else "INTEGER"
        if unit in CALENDAR:  # Rockset's month_interval: whole months
            return Sql(f"CAST({amount.sql} * {CALENDAR[unit]} AS {cast})", MI, amount.params)
        return Sql(f"CAST({amount.sql} * {MICROS[unit]} AS {cast})", IV, amount.params)

    def emit_interval(self, node: exp.Interval) -> Sql:
        amount = node.this
        if isinstance(amount, exp.Literal) and amount.is_string:
            amount = exp.Literal.number(amount.this)
        return self.interval(self.value(amount), self.unit(node.args["unit"]), node)

    def fn_months(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "month", node)

    def fn_years(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "year", node)

    def fn_microseconds(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "microsecond", node)

    def fn_milliseconds(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "millisecond", node)

    def fn_seconds(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "second", node)

    def fn_minutes(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "minute", node)

    def fn_hours(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "hour", node)

    def fn_days(self, node: exp.Anonymous) -> Sql:
        return self.interval(self.value(self.arguments(node, 1)[0]), "day", node)

    # Calendar work

    def truncated(self, moment: Sql, unit: str) -> Sql:
        if self.pg:
            sql = MICROS_PG.format(f"date_trunc(%s, {EPOCH_PG.format(moment.sql)})")
            return Sql(sql, moment.kind, (unit, *moment.params))
        return Sql(f"millrace_date_trunc(%s, {moment.sql})", moment.kind, (unit, *moment.params))

    def emit_datetrunc(self, node: exp.DateTrunc) -> Sql:
        """DATE_TRUNC(unit, time[, zone]): a timestamp truncated in a zone is its local time's truncation."""
        unit = self.unit(node.args["unit"], node)
        moment = self.micros(self.value(node.this), node.this)
        if node.args.get("zone") is None or moment.kind != TS:
            return self.truncated(moment, unit)
        zone = self.zone(node.args["zone"])
        local = self.truncated(self.shifted(moment, zone, to_local=True), unit)
        return self.shifted(local, zone, to_local=False)

    def emit_extract(self, node: exp.Extract) -> Sql:
        """EXTRACT(part FROM time): a whole number; DAYOFWEEK counts from Monday = 1 (ISO 8601)."""
        part = node.this.name.upper() if isinstance(node.this, exp.Var | exp.Column) else ""
        if part not in EXTRACT_PG:
            raise QueryError(f"EXTRACT of {part or node.this.sql()!r} is not supported; use one of "
                             f"{', '.join(EXTRACT_PG)}.", *where_of(node))  # fmt: skip
        moment = self.micros(self.value(node.expression), node.expression)
        if self.pg:
            sql = f"CAST(FLOOR(EXTRACT({EXTRACT_PG[part]} FROM {EPOCH_PG.format(moment.sql)})) AS bigint)"
            if part == "MILLISECOND":  # PostgreSQL's milliseconds include the seconds
                sql = f"MOD(CAST(FLOOR(EXTRACT(MILLISECONDS FROM {EPOCH_PG.format(moment.sql)})) AS bigint), 1000)"
            elif part == "MICROSECOND":
                sql = f"MOD({moment.sql}, 1000000)"
            return Sql(sql, NUM, moment.params)
        return Sql(f"millrace_extract(%s, {moment.sql})", NUM, (part, *moment.params))

    # Time zones: a timestamp is an instant, a datetime a wall clock; AT TIME ZONE goes between them

    def zone(self, node: exp.Expression) -> str:
        name = self.constant_text(node, "The time zone")
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise QueryError(f"Unknown time zone {name[:60]!r}; use a name such as 'America/New_York'.",
                             *where_of(node)) from None  # fmt: skip
        return name

    def shifted(self, moment: Sql, zone: str, *, to_local: bool) -> Sql:
        """A timestamp as the datetime a clock in `zone` shows (to_local), or a datetime in `zone` as the
        timestamp it is."""
        kind = DT if to_local else TS
        if zone == "UTC":
            return Sql(moment.sql, kind, moment.params)
        if self.pg:
            base = "TIMESTAMPTZ 'epoch'" if to_local else "TIMESTAMP 'epoch'"
            sql = MICROS_PG.format(f"(({base} + {moment.sql} * INTERVAL '1 microsecond') AT TIME ZONE %s)")
            return Sql(sql, kind, (*moment.params, zone))
        function = "millrace_to_local" if to_local else "millrace_from_local"
        return Sql(f"{function}({moment.sql}, %s)", kind, (*moment.params, zone))

    def emit_attimezone(self, node: exp.AtTimeZone) -> Sql:
        moment = self.micros(self.value(node.this), node.this)
        return self.shifted(moment, self.zone(node.args["zone"]), to_local=moment.kind == TS)

    def fn_date_diff(self, node: exp.Anonymous) -> Sql:
        """DATE_DIFF(unit, start, end): whole units from start to end, truncated toward zero."""
        unit_node, start_node, end_node = self.arguments(node, 3)
        unit = self.unit(unit_node, node)
        start = self.micros(self.value(start_node), start_node)
        end = self.micros(self.value(end_node), end_node)
        params = start.params + end.params
        if unit in MICROS:
            return Sql(f"(({end.sql} - {start.sql}) / {MICROS[unit]})", NUM, end.params + start.params)
        if not self.pg:
            return Sql(f"millrace_date_diff(%s, {start.sql}, {end.sql})", NUM, (unit, *params))
        age = f"age({EPOCH_PG.format(end.sql)}, {EPOCH_PG.format(start.sql)})"
        months = f"(EXTRACT(YEAR FROM {age}) * 12 + EXTRACT(MONTH FROM {age}))"
        return Sql(f"TRUNC({months} / {CALENDAR[unit]})", NUM, (end.params + start.params) * 2)

    def formatted(self, moment: Sql, strftime: str) -> Sql:
        pattern = to_char_pattern(strftime)  # on SQLite too: the same formats are refused on both
        if self.pg:
            return Sql(f"to_char({EPOCH_PG.format(moment.sql)}, %s)", TEXT, (*moment.params, pattern))
        return Sql(f"millrace_strftime(%s, {moment.sql})", TEXT, (strftime, *moment.params))

    def fn_format_iso8601(self, node: exp.Anonymous) -> Sql:
        argument = self.arguments(node, 1)[0]
        moment = self.micros(self.value(argument), argument)
        return self.formatted(moment, ISO_FORMATS.get(moment.kind, ISO_FORMATS[TS]))

    def fn_format_timestamp(self, node: exp.Anonymous) -> Sql:
        arguments = self.arguments(node, 2, 3)
        moment = self.micros(self.value(arguments[1]), arguments[1])
        if len(arguments) == 3 and moment.kind == TS:  # the clock in that zone
            moment = self.shifted(moment, self.zone(arguments[2]), to_local=True)
        return self.formatted(moment, self.constant_text(arguments[0], "The format"))

    def fn_format_datetime(self, node: exp.Anonymous) -> Sql:
        return self.fn_format_timestamp(node)

    def fn_format_date(self, node: exp.Anonymous) -> Sql:
        return self.fn_format_timestamp(node)


MICROS_DELTA = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
