"""Starting a source's initial load. The Scan and export loaders are built in their own modules."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def start(source_id: int) -> None:
    log.info("source %s is waiting for the initial load engine", source_id)
