"""Make AWS fail the way real AWS does, where moto can't: errors raised at botocore's API-call layer.

The error is built by the client's own error factory, so the code under test sees exactly the
exception class and response shape botocore gives for a real AWS error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


class AwsFaults:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._original = BaseClient._make_api_call

    def add(self, service: str, operation: str, code: str, message: str = "", *, status: int = 400,
            when: Callable[[dict[str, Any]], bool] | None = None) -> Fault:  # fmt: skip
        fault = Fault(service, operation, code, message or f"Injected {code}", status, when)
        self.faults.append(fault)
        return fault

    def spy(self, service: str, operation: str) -> list[dict[str, Any]]:
        """Record the parameters of every call to an operation, letting each go through."""
        calls: list[dict[str, Any]] = []
        self.add(service, operation, "Unused", when=lambda params: calls.append(params) and False)
        return calls

    def access_denied(self, service: str, operation: str, action: str) -> Fault:
        message = (
            f"User: arn:aws:sts::123456789012:assumed-role/millrace-reader/s is not authorized to perform: {action}"
        )
        return self.add(service, operation, "AccessDeniedException" if service == "dynamodb" else "AccessDenied",
                        message, status=403)  # fmt: skip

    def __enter__(self) -> AwsFaults:
        faults, original = self.faults, self._original

        def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            service = client.meta.service_model.service_name
            for fault in faults:
                matches = fault.service == service and fault.operation == operation_name
                if matches and (fault.when is None or fault.when(api_params)):
                    fault.hits += 1
                    response = {
                        "Error": {"Code": fault.code, "Message": fault.message},
                        "ResponseMetadata": {"HTTPStatusCode": fault.status},
                    }
                    raise client.exceptions.from_code(fault.code)(response, operation_name)
            return original(client, operation_name, api_params)

        self._patch = mock.patch.object(BaseClient, "_make_api_call", make_api_call)
        self._patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.stop()
