"""The HTTPS server process behind `municloud artifacts serve` (stdlib http.server + ssl).

Run as `python -m municloud.artifacts.server --dir D --bind A --port P --cert C --key K`;
`municloud.artifacts.serve` starts it in the background and stops it by its pid file.
Read-only: GET and HEAD of files under the mirror directory, one log line per request.
"""

from __future__ import annotations

import argparse
import functools
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any


class Handler(SimpleHTTPRequestHandler):
    server_version = "municloud-artifacts"
    sys_version = ""

    def list_directory(self, path: Any) -> None:  # no directory listings
        self.send_error(404, "Not found")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")
        sys.stderr.flush()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="municloud.artifacts.server")
    p.add_argument("--dir", required=True)
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    args = p.parse_args(argv)
    ctx = tls_context(args.cert, args.key)  # before listening: a bad key never looks "up"
    handler = functools.partial(Handler, directory=args.dir)
    httpd = ThreadingHTTPServer((args.bind, args.port), handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {args.dir} on https://{args.bind}:{args.port}/", file=sys.stderr, flush=True)
    httpd.serve_forever()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
