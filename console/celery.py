"""The Celery app: settings come from Django's, prefixed CELERY_."""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, worker_process_init

from console import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

# Before any broker connection: SQLite settings and fork safety for the embedded broker.
broker.install()
app = Celery("millrace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def quieter_task_lines(**kwargs: object) -> None:
    """Beat's supervisor tick runs every 5 s: one 'received' and one 'succeeded' line each would drown
    the console. Failures are still logged (at ERROR)."""
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    logging.getLogger("celery.worker.strategy").setLevel(logging.WARNING)
    logging.getLogger("celery.beat").setLevel(logging.WARNING)


# The worker's main process imports this module before it forks its pool.
_worker_main_pid = os.getpid()


@worker_process_init.connect
def die_with_the_worker(**kwargs: object) -> None:
    """Celery asks the kernel to kill each pool process when the worker dies (PR_SET_PDEATHSIG), but only
    once the pool process runs: a worker killed in between (a SIGKILLed launcher while the pool starts)
    would leave it running for good, holding database connections. Now it has asked, so check."""
    if os.getppid() != _worker_main_pid:
        os._exit(1)
