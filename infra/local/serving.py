"""A small HTTP front for the local emulators: `http.server` plumbing around `app.handle(Request)`.

The emulators (API Gateway, Lambda invoke endpoint) take a `Request` and return a `Response`, so
they hold no socket code and read like the services they stand in for.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("seats-local")


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query string, as sent
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query_string(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json",
             headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), [("Content-Type", content_type), *(headers or [])])


Handler = Callable[[Request], Response]


def _handler_class(handle: Handler) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "seats-local"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
            try:
                response = handle(request)
            except Exception:  # the emulator itself failed; say so and keep serving
                log.exception("local runtime error on %s %s", self.command, request.path)
                response = Response.json(500, {"message": "Internal Server Error"})
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers}
            for name, value in response.headers:
                self.send_header(name, value)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:  # the stdlib's signature
            log.debug("%s - %s", self.address_string(), format % args)

    return _Handler


class Server:
    """A threading HTTP server bound at construction (so a busy port fails fast), served in a thread."""

    def __init__(self, name: str, host: str, port: int, handle: Handler) -> None:
        self.name = name
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler_class(handle))
        except OSError as error:
            raise OSError(error.errno, f"cannot listen on {host}:{port} for the {name} ({error.strerror})") from None
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"seats-local-{name}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()
