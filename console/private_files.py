"""Files in var/ that hold keys or sessions: created readable by their owner only (0600), and put back to
0600 at every start, so an install made before this rule, or a copy made with a loose umask, is fixed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PRIVATE = 0o600


def make_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if it is missing, else set its mode to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))
    except FileExistsError:
        if path.stat().st_mode & 0o777 != PRIVATE:
            path.chmod(PRIVATE)


def generated_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, written the first time it is needed: into a 0600 file of this process's
    own, then linked into place, so it is never readable by others, and of web, worker and beat starting
    together exactly one secret wins (os.link fails if the name exists) and all read that one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.draft")
        with os.fdopen(os.open(draft, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, PRIVATE), "w") as file:
            file.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    make_private(path)
    return path.read_text().strip()
