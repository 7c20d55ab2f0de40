"""The one failure the query layer reports: what went wrong, and where in the user's SQL when we know."""

from __future__ import annotations


class QueryError(Exception):
    """A query Millrace refuses or could not run; `line` and `column` (1-based) point into the user's SQL,
    because Rockset's error body carries them and the editor puts the cursor there."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, type_: str = "INVALIDINPUT"):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.type = type_
