"""moto's server with a call counter in front: `python -m bench.moto_counting -p PORT`.

Why: the `shards` bench counts the AWS calls a real Celery worker makes, and the worker is another
process, so spying at botocore's layer (tests/aws_faults.py) can't see them. Every process's calls end
up here, so this WSGI middleware records each JSON-protocol call (DynamoDB, DynamoDB Streams) as
(time, operation, table): the operation from the `X-Amz-Target` header, the table from the request body
(`TableName`, a `StreamArn`, or the table ARN moto writes into its shard iterators). The bench reads
them back at `GET /__bench__/calls?since=<unix time>` (JSON) and clears them with `DELETE /__bench__/calls`.
Everything else (S3, moto's own API) passes through uncounted. moto itself runs unchanged.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PATH = "/__bench__/calls"
TABLE_IN_ARN = re.compile(r":table/([^/|]+)")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def table_of(body: dict[str, Any]) -> str:
    """The table a DynamoDB or DynamoDB Streams call is about, or "" (ListTables, ListStreams, …)."""
    if isinstance(body.get("TableName"), str):
        return body["TableName"]
    for field in ("StreamArn", "ShardIterator"):
        if isinstance(body.get(field), str) and (match := TABLE_IN_ARN.search(body[field])):
            return match.group(1)
    return ""


class CallCounter:
    """WSGI middleware: note each JSON-protocol AWS call, then hand the request to moto untouched."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.calls: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH:
            return self._answer(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(raw)  # moto reads the body again
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            call = (time.time(), target.rsplit(".", 1)[-1], table_of(body) if isinstance(body, dict) else "")
            with self.lock:
                self.calls.append(call)
        return self.app(environ, start_response)

    def _answer(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            if environ["REQUEST_METHOD"] == "DELETE":
                self.calls.clear()
                chosen: list[tuple[float, str, str]] = []
            else:
                since = float(parse_qs(environ.get("QUERY_STRING", "")).get("since", ["0"])[0])
                chosen = [c for c in self.calls if c[0] >= since]
        payload = json.dumps(chosen).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does: moto builds URLs with it
    from console.sandbox import moto_json

    moto_json.install()  # the fake AWS's own CPU is not what the benchmarks measure
    moto_app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, CallCounter(moto_app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
