"""Make AWS fail the way real AWS does, where moto can't: errors raised at botocore's API-call layer.

The error is built by the client's own error factory, so the code under test sees exactly the
exception class and response shape botocore gives for a real AWS error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from unittest import mock

from botocore.client import BaseClient


@dataclass
class Fault:
    service: str
    operation: str
    code: str
    message: str
    status: int
    when: Callable[[dict[str, Any]], bool] | None
    hits: int = 0
    exception: Exception | None = None  # raised as is: botocore's own network errors, for instance


class AwsFaults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.rewrites: list[tuple[str, str, Callable[[dict[str, Any], dict[str, Any]], None]]] = []
        self._original = BaseClient._make_api_call

    def rewrite(self, service: str, operation: str, fn: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
        """Change a successful response in place, e.g. to add what real AWS sends and moto doesn't."""
        self.rewrites.append((service, operation, fn))

    def charge_like_dynamodb(self, log: list[tuple[float, float]] | None = None) -> None:
        """moto charges a flat 1.0 per Scan; DynamoDB sums the page's item sizes and rounds up to 4 KB,
        at one RCU per 4 KB strongly consistent (half that eventually consistent)."""
        import math

        from ingest import clock
        from ingest.sizes import item_size

        def charge(params: dict[str, Any], response: dict[str, Any]) -> None:
            size = sum(item_size(item) for item in response.get("Items", []))
            units = max(1, math.ceil(size / 4096)) * (1.0 if params.get("ConsistentRead") else 0.5)
            response["ConsumedCapacity"] = {"TableName": params["TableName"], "CapacityUnits": units}
            if log is not None:
                log.append((clock.monotonic(), units))

        self.rewrite("dynamodb", "Scan", charge)

    def add(
        self,
        service: str,
        operation: str,
        code: str,
        message: str = "",
        *,
        status: int = 400,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        fault = Fault(service, operation, code, message or f"Injected {code}", status, when)
        self.faults.append(fault)
        return fault

    def network_error(
        self, service: str, operation: str, exception: Exception, when: Callable[[dict[str, Any]], bool] | None = None
    ) -> Fault:
        fault = self.add(service, operation, type(exception).__name__, when=when)
        fault.exception = exception
        return fault

    def slow(
        self, service: str, operation: str, seconds: float, *, during: Callable[[dict[str, Any]], None] | None = None
    ) -> list[dict[str, Any]]:
        """Every call to the operation takes `seconds` on the engine's clock before AWS answers (a busy
        machine, a slow network); `during` runs in the middle of the wait, to look at what the engine
        shows meanwhile. Returns the calls' parameters."""
        from ingest import clock

        calls: list[dict[str, Any]] = []

        def wait(params: dict[str, Any]) -> bool:
            calls.append(params)
            clock.sleep(seconds / 2)
            if during:
                during(params)
            clock.sleep(seconds / 2)
            return False

        self.add(service, operation, "Unused", when=wait)
        return calls

    def spy(self, service: str, operation: str) -> list[dict[str, Any]]:
        """Record the parameters of every call to an operation, letting each go through."""
        calls: list[dict[str, Any]] = []
        self.add(service, operation, "Unused", when=lambda params: calls.append(params) and False)
        return calls

    def access_denied(self, service: str, operation: str, action: str) -> Fault:
        message = (
            f"User: arn:aws:sts::123456789012:assumed-role/millrace-reader/s is not authorized to perform: {action}"
        )
        return self.add(
            service,
            operation,
            "AccessDeniedException" if service == "dynamodb" else "AccessDenied",
            message,
            status=403,
        )

    def __enter__(self) -> AwsFaults:
        faults, rewrites, original = self.faults, self.rewrites, self._original

        def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            for fault in faults:
                matches = fault.service == service and fault.operation == operation_name
                if matches and (fault.when is None or fault.when(api_params)):
                    fault.hits += 1
                    # botocore's own events, as a real failure fires them (the engine's metrics count them).
                    service_id = client.meta.service_model.service_id.hyphenize()
                    if fault.exception is not None:
                        client.meta.events.emit(
                            f"after-call-error.{service_id}.{operation_name}", exception=fault.exception, context={}
                        )
                        raise fault.exception
                    response = {
                        "Error": {"Code": fault.code, "Message": fault.message},
                        "ResponseMetadata": {"HTTPStatusCode": fault.status},
                    }
                    client.meta.events.emit(
                        f"after-call.{service_id}.{operation_name}",
                        http_response=SimpleNamespace(status_code=fault.status),
                        parsed=response,
                        model=client.meta.service_model.operation_model(operation_name),
                        context={},
                    )
                    raise client.exceptions.from_code(fault.code)(response, operation_name)
            response = original(client, operation_name, api_params)
            for rewrite_service, rewrite_operation, fn in rewrites:
                if rewrite_service == service and rewrite_operation == operation_name:
                    fn(api_params, response)
            return response

        self._patch = mock.patch.object(BaseClient, "_make_api_call", make_api_call)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()
