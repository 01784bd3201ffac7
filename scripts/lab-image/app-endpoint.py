#!/usr/bin/python3
"""The HIS interface endpoint of a lab application host: a tiny JSON health service.

Why: the inspection runbooks probe an application's HTTP interface; this gives them a real
socket on 127.0.0.1 that answers like one (GET /health, GET /interface/status) with the
standard library only.
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.time()


def make_handler(host: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path in ("/health", "/"):
                body = {"status": "ok", "host": host, "service": "his-interface",
                        "uptime_s": round(time.time() - STARTED, 1)}
                code = 200
            elif self.path == "/interface/status":
                body = {"status": "ok", "host": host, "queues": {"hl7_inbound": 0, "lis": 0}}
                code = 200
            else:
                body = {"status": "not found", "path": self.path}
                code = 404
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.host)).serve_forever()


if __name__ == "__main__":
    main()
