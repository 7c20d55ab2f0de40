"""Checks every text a person or a script sends goes through, whichever app stores it."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# C0 controls and DEL, but tab, line feed and carriage return: PostgreSQL refuses NUL in text, and the
# others end up in e-mail headers, logs and terminals, where they split lines or move the cursor.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAK_RE = re.compile(r"[\r\n\t\x85\u2028\u2029]")


def control_character_error(value: str, *, single_line: bool = False) -> str:
    """The reason `value` can't be stored, or "" when it can."""
    if CONTROL_RE.search(value):
        return "Remove the control characters (such as NUL or escape) from this text."
    if single_line and LINE_BREAK_RE.search(value):
        return "This must be a single line, without line breaks or tabs."
    return ""


def reject_control_characters(value: str) -> None:
    """A form field validator for multi-line text such as descriptions."""
    if message := control_character_error(value):
        raise ValidationError(message)


def reject_control_characters_single_line(value: str) -> None:
    """A form field validator for one-line text such as an organisation's name."""
    if message := control_character_error(value, single_line=True):
        raise ValidationError(message)
