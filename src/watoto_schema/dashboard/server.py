"""The dashboard's HTTP server: the page, its sections for the refresh, their JSON, and (from
``health serve``) the Prometheus metrics, in one process.

Only ``GET`` and ``HEAD`` are answered (405 otherwise): no endpoint changes anything. With a
token, every request must carry it: ``Authorization: Bearer <token>``, or the cookie the
server sets when a browser first opens ``/?token=<token>`` (the token then leaves the
address bar). Without one the server refuses to listen beyond loopback. Every page carries
a Content-Security-Policy that runs only the page's own script (a per-process nonce), so
even a name that slipped an escape could not run. A failure inside a request is one line in
the server's log and a one-line 500: never a traceback on the page.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import BadConfig, Refused
from .render import Renderer
from .state import Dashboard

COOKIE = "watoto_dashboard"


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def read_token_file(path: Path) -> str:
    """The token in ``path``; refused when others may read the file (like ssh's keys)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BadConfig(f"cannot read the token file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise Refused(f"the token file {path} may be read by others (mode "
                      f"{mode & 0o777:o}); chmod 600 it")
    if len(text) < 16:
        raise BadConfig(f"the token in {path} is shorter than 16 characters")
    return text


def check_access(address: str, token: str | None) -> None:
    if token is None and not is_loopback(address):
        raise Refused(f"listening on {address} needs --token or --token-file: anyone who can "
                      "reach the port could read the dashboard")
    if token is not None and len(token) < 16:
        raise BadConfig("the token must be at least 16 characters")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


@dataclass
class Endpoint:
    """What the server answers with."""

    dashboard: Dashboard
    renderer: Renderer
    token: str | None = None
    metrics: Callable[[], bytes] | None = None  # Prometheus text, for health serve
    # one line per failed request; the CLI passes its note sink
    log: Callable[[str], None] = logging.getLogger("watoto_schema.dashboard").warning
    first_wait: float = 0.8  # a first view waits this long for the first collection


class _Handler(BaseHTTPRequestHandler):
    server_version = "watoto-schema"
    sys_version = ""
    endpoint: Endpoint  # set on the class the server makes

    # -- plumbing ----------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # no access log: the token may ride in a first request's query string

    def _send(self, status: HTTPStatus, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: HTTPStatus, line: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, (line + "\n").encode(), "text/plain; charset=utf-8", headers)

    def _refuse_method(self) -> None:
        self._text(HTTPStatus.METHOD_NOT_ALLOWED,
                   "read-only: this dashboard answers GET and HEAD only", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method  # noqa: N815

    def _authorised(self, query: dict[str, list[str]]) -> bool | str:
        """True, False, or the token a browser brought in the query string."""
        token = self.endpoint.token
        if token is None:
            return True
        offered = []
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            offered.append(header[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        if COOKIE in cookie:
            offered.append(cookie[COOKIE].value)
        if any(hmac.compare_digest(o.encode(), token.encode()) for o in offered):
            return True
        from_query = query.get("token", [""])[0]
        if from_query and hmac.compare_digest(from_query.encode(), token.encode()):
            return from_query
        return False

    # -- routes ------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug or an unexpected state: one line, never a traceback
            from ..target import one_line, redact

            self.endpoint.log(f"dashboard: {self.command} {urlsplit(self.path).path} failed: "
                              f"{redact(one_line(exc))}")
            with contextlib.suppress(OSError):
                self._text(HTTPStatus.INTERNAL_SERVER_ERROR,
                           "internal error: the dashboard's log says what went wrong")

    def _route(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        allowed = self._authorised(query)
        if allowed is False:
            self._text(HTTPStatus.UNAUTHORIZED,
                       "unauthorised: send the token (Authorization: Bearer, or ?token= once)",
                       {"WWW-Authenticate": 'Bearer realm="watoto-schema"'})
            return
        if isinstance(allowed, str):  # a browser's first visit: keep it in a cookie
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain",
                       {"Location": url.path or "/",
                        "Set-Cookie": f"{COOKIE}={allowed}; HttpOnly; SameSite=Strict; "
                                      "Path=/"})
            return
        endpoint = self.endpoint
        path = url.path.rstrip("/") or "/"
        if path == "/":
            view = endpoint.dashboard.view(wait=endpoint.first_wait)
            nonce = secrets.token_urlsafe(16)
            body = endpoint.renderer.page(view, nonce=nonce).encode()
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8",
                       {"Content-Security-Policy": _csp(nonce)})
        elif path == "/sections":
            view = endpoint.dashboard.view(wait=endpoint.first_wait)
            body = endpoint.renderer.sections(view).encode()
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8",
                       {"Content-Security-Policy": _csp(None)})
        elif path == "/dashboard.json":
            view = endpoint.dashboard.view(wait=endpoint.first_wait)
            body = json.dumps(endpoint.renderer.document(view), default=_json_default,
                              indent=1).encode()
            self._send(HTTPStatus.OK, body, "application/json")
        elif path == "/metrics" and endpoint.metrics is not None:
            from prometheus_client import CONTENT_TYPE_LATEST

            self._send(HTTPStatus.OK, endpoint.metrics(), CONTENT_TYPE_LATEST)
        else:
            self._text(HTTPStatus.NOT_FOUND, "not found: / (the dashboard), /sections, "
                       "/dashboard.json" + (", /metrics" if endpoint.metrics else ""))


def _csp(nonce: str | None) -> str:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return (f"default-src 'none'; script-src {script}; style-src 'unsafe-inline'; "
            "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, handler)


def start(endpoint: Endpoint, address: str, port: int) -> tuple[ThreadingHTTPServer,
                                                                   threading.Thread]:
    """Listen on ``address:port`` in a thread; ``BadConfig`` when the port is taken."""
    check_access(address, endpoint.token)
    handler = type("Handler", (_Handler,), {"endpoint": endpoint})
    try:
        server = _Server((address, port), handler)
    except OSError as exc:
        raise BadConfig(f"cannot listen on {address}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(target=server.serve_forever, name="watoto-dashboard",
                              daemon=True)
    thread.start()
    return server, thread
