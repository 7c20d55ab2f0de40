"""Rockset's SQL dialect, as far as sqlglot's parser needs telling.

Rockset SQL is ANSI-flavoured with Presto's habits: double-quoted identifiers, single-quoted strings,
`:name` parameters, `a.b.c` paths into documents. sqlglot's base dialect already reads all of that, so the
subclass is where Rockset-only syntax goes as it is added (`HINT(...)`, `* EXCEPT`, `UNNEST ... AS t(x)`).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from queries.errors import QueryError


class Rockset(Dialect):
    """Identifiers are case-sensitive in Rockset (field names are JSON keys), so nothing is normalised."""

    NORMALIZATION_STRATEGY = Dialect.NORMALIZATION_STRATEGY.CASE_SENSITIVE


def parse(sql: str) -> exp.Expression:
    """One statement, or a QueryError that says where the parser stopped."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=Rockset) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        description = str(first.get("description") or error).split("<Token")[0].strip()
        raise QueryError(f"Syntax error: {description}", first.get("line"), first.get("col")) from None
    except TokenError as error:
        raise QueryError(f"Syntax error: {error}") from None
    if not statements:
        raise QueryError("The query is empty.")
    if len(statements) > 1:
        raise QueryError("Only one statement may be sent at a time; remove the `;` and what follows it.")
    return statements[0]
