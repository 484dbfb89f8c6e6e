"""A server on 127.0.0.1 that answers every request with one chosen failure shape, for the remote tests.

Shapes: an HTTP status with a JSON body that echoes the request's credentials (401, 403, 404, 409, 500,
503), a 200 whose body is cut-off JSON, bytes that are not UTF-8, an HTML page or nothing at all, and a
server that never answers (the client's timeout must end the call).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "hunter2-password-value"
"""Credential-shaped text the server echoes besides the token: it must be redacted too."""

STATUS_SHAPES = ("401", "403", "404", "409", "500", "503")
BODY_SHAPES = ("garbage-json", "not-utf8", "html-200", "empty-200")
SHAPES = ("refused", "timeout", *STATUS_SHAPES, *BODY_SHAPES)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        shape: str = self.server.shape
        if shape == "timeout":
            time.sleep(self.server.hang)
            return
        auth = self.headers.get("Authorization", "")
        if shape in STATUS_SHAPES:
            text = f"denied for {auth}; password={SECRET}; token: {auth.split()[-1] if auth else ''}"
            self._send(int(shape), json.dumps({"error": text, "message": text, "code": int(shape)}).encode())
        elif shape == "garbage-json":
            self._send(200, b'{"run_id": "r-1", "pipeline_id": ')
        elif shape == "not-utf8":
            self._send(200, b"\xff\xfe\xfa not text at all \x80\x81")
        elif shape == "html-200":
            self._send(200, b"<html><body>Sign in " + auth.encode() + b"</body></html>", "text/html")
        else:
            self._send(200, b"")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class HostileServer:
    """One failure shape on a free port of 127.0.0.1 (``refused``: a port nothing listens on)."""

    def __init__(self, shape: str, hang: float = 5.0) -> None:
        self.shape = shape
        self._server: ThreadingHTTPServer | None = None
        if shape == "refused":
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            return
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.shape = shape  # type: ignore[attr-defined]
        server.hang = hang  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
