"""Run the local AWS sandbox: a moto server with sample tables and a gentle traffic generator."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import boto3
from django.core.management.base import BaseCommand
from moto.server import ThreadedMotoServer

from console.processes import SignalFlag
from console.sandbox import moto_exports, moto_json, moto_shards
from console.sandbox.seed import seed
from console.sandbox.traffic import run_traffic

STOP_SECONDS = 2.0


class Command(BaseCommand):
    help = "Start the local AWS sandbox (moto) with sample tables; Ctrl-C stops it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=5055)
        parser.add_argument("--region", default="us-east-1")
        parser.add_argument("--orders", type=int, default=int(os.environ.get("MILLRACE_SANDBOX_ORDERS", 5000)))
        parser.add_argument(
            "--records-per-shard",
            type=int,
            default=int(os.environ.get("MILLRACE_SANDBOX_RECORDS_PER_SHARD", 1000)),
            help="close a stream shard and open its child every N records, as DynamoDB rolls shards over",
        )
        parser.add_argument(
            "--export-seconds",
            type=float,
            default=float(os.environ.get("MILLRACE_SANDBOX_EXPORT_SECONDS", 20)),
            help="how long an export stays IN_PROGRESS (DynamoDB takes five minutes or more)",
        )
        parser.add_argument("--export-items-per-file", type=int, default=1000)
        parser.add_argument(
            "--writes-per-second",
            type=float,
            default=float(os.environ.get("MILLRACE_SANDBOX_WRITES_PER_SECOND", 3)),
            help="the traffic generator's pace on `orders`; 0 turns the traffic off",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the console
        moto_json.install()
        moto_shards.install(records_per_shard=options["records_per_shard"])
        moto_exports.install(items_per_file=options["export_items_per_file"], seconds=options["export_seconds"])
        server = ThreadedMotoServer(ip_address=options["host"], port=options["port"], verbose=False)
        server.start()
        endpoint = f"http://{options['host']}:{options['port']}"
        session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
        for line in seed(session, endpoint, options["region"], orders=options["orders"]):
            self.stdout.write(f"sandbox: created {line}")
        self.stdout.write(self.style.SUCCESS(f"sandbox: AWS sandbox ready at {endpoint}"))

        # Until here SIGTERM and Ctrl-C have their default effect (stop at once, mid-seed). From here on they
        # ask for a clean stop, bounded: the launcher SIGKILLs what is still there after a few seconds.
        stop = threading.Event()  # the traffic generator's
        asked = SignalFlag()

        def on_signal(signum: int, frame: object) -> None:
            if asked.is_set():  # asked twice: no more waiting
                os._exit(1)
            asked.set(signum, frame)

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)
        if options["writes_per_second"] > 0:
            dynamodb = session.client("dynamodb", region_name=options["region"], endpoint_url=endpoint)
            traffic = threading.Thread(
                target=run_traffic,
                args=(dynamodb, stop),
                kwargs={"writes_per_second": options["writes_per_second"], "seeded_orders": options["orders"]},
                daemon=True,
            )
            traffic.start()
            self.stdout.write(f"sandbox: traffic generator on, about {options['writes_per_second']:g} writes/s")
        asked.wait()
        stop.set()
        # A request in flight must not hold the stop (and the port) hostage: the server thread is a daemon,
        # so returning ends the process, which closes the listening socket.
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=STOP_SECONDS)
        self.stdout.write("sandbox: stopped" if not stopper.is_alive() else "sandbox: stopped (server still busy)")
        # moto leaves non-daemon threads behind (seen: the process lived on after "stopped" until the
        # launcher killed it 5 s later): nothing of the sandbox needs saving, so end the process now.
        self.stdout.flush()
        os._exit(0)
