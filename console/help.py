"""The console's Help: the README's sections as pages, so the answer a new user needs is one click away and
never drifts from the document the repository keeps."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import markdown
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    html: SafeString


@functools.cache
def sections() -> dict[str, Section]:
    """Each `## ` section of README.md, in order (read once per process: the file ships with the code)."""
    text = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    found: dict[str, Section] = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        title = title.strip().replace("`", "")
        # The README is the project's own text, not a visitor's: its HTML (if any) is trusted.
        html = markdown.markdown(body, extensions=["fenced_code", "tables"])
        found[slugify(title)] = Section(slugify(title), title, mark_safe(html))  # noqa: S308
    return found
