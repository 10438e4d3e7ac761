"""A loopback webhook endpoint that records every delivery: for tests, and for users who want to
watch what a simulator sends."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Answers 200 to every POST and keeps (headers, raw body) in `deliveries`, in arrival order.
    A registration challenge (``x-front-challenge``) is echoed as ``{"challenge": …}``, as Front requires."""

    def __init__(self, path: str = "/hooks") -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.deliveries.append((dict(self.headers.items()), body))
                challenge = self.headers.get("x-front-challenge")
                reply = b'{"challenge": "%s"}' % challenge.encode() if challenge else b""
                self.send_response(200)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
