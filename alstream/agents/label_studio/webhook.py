"""The optional webhook hint: Label Studio calls it when an annotation is saved, and the next poll starts
at once instead of after ``poll_interval_s``.

Only a hint: Label Studio sends each webhook once, with a short timeout and no retry, so a missed call
only delays the label until the regular poll. The request body is ignored (it is not authenticated).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from alstream.agents.label_studio import metrics as m


def serve_hints(*, host: str, port: int, wake: threading.Event) -> ThreadingHTTPServer:
    class Hint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the http.server API names it
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(max(0, min(length, 1 << 20)))
            m.WEBHOOK_HINTS.inc()
            wake.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:  # one line per annotation is noise
            return

    server = ThreadingHTTPServer((host, port), Hint)
    threading.Thread(target=server.serve_forever, name="label-studio-webhook", daemon=True).start()
    return server
