"""API documentation on the local runtime, offline: `GET /openapi.json` and Swagger UI at `GET /docs`.

The document is built from the code (`infra.openapi.build`) once per process, with its server set
to the origin the browser used, so "Try it out" calls this very runtime. Swagger UI's script and
stylesheet are served from `static/` (swagger-ui-dist, Apache-2.0; see static/README.md): the page
loads nothing from the network. The gateway calls `routes()` (no token needed on these paths).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra import openapi

log = logging.getLogger("seats-local")

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "application/javascript; charset=utf-8"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
}
DOC_PATHS = ("/docs", "/docs/")
OPENAPI_PATH = "/openapi.json"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>seats API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
      deepLinking: true,
      filter: true,
      displayOperationId: true,
      displayRequestDuration: true,
      persistAuthorization: true,
    });
  </script>
</body>
</html>
"""

Answer = tuple[int, str, bytes]

_lock = threading.Lock()
_document: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    """The OpenAPI document, built once; a build that left a function out is tried again next time."""
    global _document
    with _lock:
        if _document is not None:
            return _document
        built = openapi.build(skip_unavailable=True)
        if "x-unavailable-functions" in built:
            for reason in built["x-unavailable-functions"]:
                log.warning("API docs: %s", reason)
        else:
            _document = built
        return built


def _served_document(host: str | None) -> bytes:
    served = dict(document())
    served["servers"] = [{"url": f"http://{host}" if host else "/", "description": "This local runtime"}]
    return json.dumps(served, indent=2, sort_keys=True).encode()


def handle(path: str, host: str | None = None) -> Answer | None:
    """(status, content type, body) for a documentation path, or None when `path` is not one.

    `host` is the request's Host header: the served document names it as its server."""
    if path == OPENAPI_PATH:
        try:
            return 200, "application/json", _served_document(host)
        except openapi.OpenApiError as error:
            log.error("API docs: %s", error)
            return 500, "application/json", json.dumps({"message": str(error)}).encode()
    if path in DOC_PATHS:
        return 200, "text/html; charset=utf-8", PAGE.encode()
    if path in ASSETS:
        name, content_type = ASSETS[path]
        return 200, content_type, (STATIC / name).read_bytes()
    return None


def routes() -> dict[tuple[str, str], Callable[[Any], Any]]:
    """The gateway's hook (`infra.local.gateway.extra_routes`): {(method, path): Request -> Response}."""
    from infra.local.serving import Response

    def serve(request: Any) -> Response:
        answer = handle(request.path, request.header("host"))
        if answer is None:  # pragma: no cover - only paths of `handle` are registered
            return Response.json(404, {"message": "Not Found"})
        status, content_type, body = answer
        return Response(status, body, [("Content-Type", content_type), ("Cache-Control", "no-cache")])

    return {("GET", path): serve for path in (OPENAPI_PATH, *DOC_PATHS, *ASSETS)}
