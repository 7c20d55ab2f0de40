"""Rockset's SQL dialect, as far as sqlglot's parser needs telling.

Rockset SQL is ANSI-flavoured with Presto's habits: double-quoted identifiers, single-quoted strings,
`:name` parameters, `a.b.c` paths into documents. sqlglot's base dialect already reads all of that, so the
subclass is where Rockset-only syntax goes as it is added (`HINT(...)`, `* EXCEPT`, `UNNEST ... AS t(x)`).
"""

from __future__ import annotations

import difflib
from functools import lru_cache

from sqlglot import exp, parser
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.helper import seq_get
from sqlglot.tokens import Token, TokenType

from queries.errors import QueryError


class Rockset(Dialect):
    """Identifiers are case-sensitive in Rockset (field names are JSON keys), so nothing is normalised."""

    NORMALIZATION_STRATEGY = Dialect.NORMALIZATION_STRATEGY.CASE_SENSITIVE

    class Parser(parser.Parser):
        """Rockset's argument orders where they differ from sqlglot's defaults."""

        FUNCTIONS = {
            **parser.Parser.FUNCTIONS,
            "DATE_DIFF": lambda args: exp.Anonymous(this="DATE_DIFF", expressions=args),  # (unit, start, end)
            "REGEXP_EXTRACT": lambda args: exp.RegexpExtract(  # (string, pattern[, group])
                this=seq_get(args, 0), expression=seq_get(args, 1), group=seq_get(args, 2)
            ),
        }

        def _parse_unnest(self, with_alias: bool = True) -> exp.Unnest | None:
            """Rockset names the element inside the parentheses, `UNNEST(o.tags AS tag [WITH ORDINALITY AS
            i])`, as well as Presto's way outside, `UNNEST(o.tags) [WITH ORDINALITY] AS t(tag[, i])`; both
            become the second's tree (inner names as the alias's columns)."""
            if not self._match_pair(TokenType.UNNEST, TokenType.L_PAREN):
                return None
            value = self._parse_equality()
            names = []
            if self._match(TokenType.ALIAS):
                names.append(self._parse_id_var(any_token=False))
            ordinality = self._match_pair(TokenType.WITH, TokenType.ORDINALITY)
            if ordinality and self._match(TokenType.ALIAS):
                names.append(self._parse_id_var(any_token=False))
            self._match_r_paren()
            ordinality = self._match_pair(TokenType.WITH, TokenType.ORDINALITY) or ordinality
            alias = self._parse_table_alias() if with_alias else None
            if names:
                if alias is not None and alias.args.get("columns"):
                    self.raise_error("Name the elements of UNNEST once, inside or after its parentheses")
                alias = alias or exp.TableAlias()
                alias.set("columns", names)
            return self.expression(exp.Unnest(expressions=[value], alias=alias, offset=bool(ordinality)))


def without_hints(tokens: list[Token]) -> list[Token]:
    """Rockset's `HINT(access_path=column_scan)` (after a collection, a join or the query) tells its
    planner what to do; ours decides alone, so hints are accepted and dropped before parsing. Working on
    tokens keeps every other token's line and column for error messages."""
    kept: list[Token] = []
    depth = 0  # inside a hint: how many of its parentheses are open
    for token in tokens:
        if depth:
            depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
            continue
        follows_hint = bool(kept) and kept[-1].token_type == TokenType.VAR and kept[-1].text.upper() == "HINT"
        if follows_hint and token.token_type == TokenType.L_PAREN:
            kept.pop()
            depth = 1
            continue
        kept.append(token)
    return kept


# The keywords a misspelling is measured against (a word the parser couldn't place that is close to one of
# these is most likely it, mistyped: SELEC, FORM, WHER, GRUOP).
KEYWORDS = ("SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "HAVING", "LIMIT", "OFFSET", "JOIN", "LEFT",
            "RIGHT", "INNER", "OUTER", "CROSS", "FULL", "UNION", "DISTINCT", "BETWEEN", "LIKE", "CASE", "WHEN",
            "THEN", "ELSE", "END", "WITH", "UNNEST", "EXCEPT", "NULL", "ASC", "DESC", "NULLS", "WINDOW", "OVER",
            "PARTITION", "INTERVAL", "ESCAPE", "DESCRIBE")  # fmt: skip


NAME_BEFORE = {TokenType.FROM, TokenType.JOIN, TokenType.DOT, TokenType.ALIAS}


def _start(token: Token) -> int:
    """The column where a token starts (sqlglot keeps where it ends)."""
    return max(token.col - len(token.text) + 1, 1)


def _misspelled(tokens: list[Token], line: int | None, column: int | None) -> tuple[Token, str] | None:
    """The last word at or before where the parser stopped that reads as a misspelled keyword, and that
    keyword; a syntax error points there rather than where the parser gave up."""
    stop = (line or 10**9, column or 10**9)
    found = None
    for i, token in enumerate(tokens):
        if (token.line, token.col) > stop:
            break
        word = token.text.upper()
        if token.token_type != TokenType.VAR or word in KEYWORDS or len(word) < 2:
            continue
        before = tokens[i - 1].token_type if i else None
        after = tokens[i + 1].token_type if i + 1 < len(tokens) else None
        if before in NAME_BEFORE or after == TokenType.DOT:  # a name where names go: FROM orders, o.order
            continue
        close = difflib.get_close_matches(word, KEYWORDS, n=1, cutoff=0.75)
        if close:
            found = (token, close[0])
    return found


def parse(sql: str) -> exp.Expression:
    """One statement, or a QueryError that says where the parser stopped. Dashboards and Query Lambdas
    send the same text again and again, and parsing is most of a translation's time: the trees of recent
    texts are kept and shared, so a translation only reads its tree (it builds no node around one of the
    tree's, which would set that node's parent; tests/queries/test_translation.py checks it)."""
    return _parsed(sql)


@lru_cache(maxsize=256)
def _parsed(sql: str) -> exp.Expression:
    dialect = Rockset()
    try:
        tokens = without_hints(dialect.tokenize(sql))
        statements = [s for s in dialect.parser().parse(tokens, sql) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line, column = first.get("line"), first.get("col")
        if (misspelled := _misspelled(tokens, line, column)) is not None:
            token, keyword = misspelled
            raise QueryError(f"Syntax error: `{token.text}` is not SQL here; did you mean {keyword}?",
                             token.line, _start(token)) from None  # fmt: skip
        description = str(first.get("description") or error).split("<Token")[0].strip()
        description = description.removesuffix(" but got").strip()
        if description.startswith("Required keyword"):  # sqlglot's words for a node it couldn't complete
            description = "an expression is incomplete"
        stopped = next((t for t in tokens if (t.line, t.col) == (line, column)), None)
        raise QueryError(f"Syntax error: {description}", line, _start(stopped) if stopped else column) from None
    except TokenError as error:
        raise QueryError(f"Syntax error: {error} (is a quote or a comment left open?)") from None
    if not statements:
        raise QueryError("The query is empty.")
    if len(statements) > 1:
        raise QueryError("Only one statement may be sent at a time; remove the `;` and what follows it.")
    return statements[0]
