"""The Lambda invoke endpoint, compatible with `sam local start-lambda`.

`POST /2015-03-31/functions/{FunctionName}/invocations`, the function named by its logical id (or
an ARN ending in it). As AWS answers:
- RequestResponse: 200 with the handler's JSON result; a handler that raised: 200, header
  `X-Amz-Function-Error: Unhandled`, body `{errorMessage, errorType, requestId, stackTrace}`;
- Event: 202 at once, the handler runs in the background; DryRun: 204;
- an unknown function: 404 `ResourceNotFoundException`; a payload that is not JSON: 400
  `InvalidRequestContentException`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import traceback
import uuid
from typing import Any
from urllib.parse import unquote

from infra.local.aws import function_arn
from infra.local.functions import FunctionHost, FunctionNotFound, FunctionUnavailable
from infra.local.serving import Request, Response

log = logging.getLogger("seats-local")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


def _function_name(raw: str) -> str:
    name = unquote(raw)
    if name.startswith("arn:"):  # arn:aws:lambda:region:account:function:Name[:qualifier]
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    return name.split(":", 1)[0]  # Name[:qualifier]


def _aws_error(status: int, error_type: str, message: str, request_id: str) -> Response:
    return Response.json(status, {"Type": "User", "Message": message}, headers=[
        ("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", request_id)])


def _unhandled(error_type: str, message: str, request_id: str, stack: list[str]) -> Response:
    return Response.json(200, {"errorMessage": message, "errorType": error_type, "requestId": request_id,
                               "stackTrace": stack},
                         headers=[("X-Amz-Function-Error", "Unhandled"), ("x-amzn-RequestId", request_id),
                                  ("X-Amz-Executed-Version", "$LATEST")])


class LambdaEndpoint:
    def __init__(self, host: FunctionHost, ready: threading.Event) -> None:
        self.host = host
        self.ready = ready
        self._background: list[threading.Thread] = []

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        found = INVOKE_PATH.match(request.path)
        if request.method != "POST" or found is None:
            return _aws_error(404, "UnknownOperationException", f"No such operation: {request.method} {request.path}",
                              request_id)
        if not self.ready.is_set():
            return _aws_error(503, "ServiceException", "The local runtime is starting", request_id)
        name = _function_name(found.group("name"))
        if name not in self.host.functions:
            return _aws_error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}",
                              request_id)
        try:
            event = json.loads(request.body) if request.body.strip() else {}
        except ValueError as error:
            return _aws_error(400, "InvalidRequestContentException",
                              f"Could not parse request body into json: {error}", request_id)
        invocation_type = request.header("X-Amz-Invocation-Type") or "RequestResponse"
        if invocation_type == "DryRun":
            return Response(204, headers=[("x-amzn-RequestId", request_id)])
        if invocation_type == "Event":
            thread = threading.Thread(target=self._invoke, args=(name, event, request_id),
                                      name=f"seats-local-event-{name}", daemon=True)
            self._background = [t for t in self._background if t.is_alive()] + [thread]
            thread.start()
            return Response(202, headers=[("x-amzn-RequestId", request_id)])
        return self._invoke(name, event, request_id)

    def _invoke(self, name: str, event: Any, request_id: str) -> Response:
        try:
            result = self.host.invoke(name, event, request_id)
        except FunctionNotFound:
            return _aws_error(404, "ResourceNotFoundException", f"Function not found: {function_arn(name)}",
                              request_id)
        except FunctionUnavailable as error:
            return _unhandled("Runtime.ImportModuleError", str(error), request_id, [])
        except Exception as error:  # reported to the caller as Lambda does
            log.exception("%s raised (request %s)", name, request_id)
            stack = traceback.format_list(traceback.extract_tb(error.__traceback__))
            return _unhandled(type(error).__name__, str(error), request_id, [line.rstrip() for line in stack])
        log.info("invoked %s (request %s)", name, request_id)
        return Response(200, json.dumps(result, default=str).encode(), [
            ("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
            ("X-Amz-Executed-Version", "$LATEST")])

    def join(self, timeout: float = 5.0) -> None:
        for thread in self._background:
            thread.join(timeout)
