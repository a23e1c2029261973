"""A TCP relay through a lab host, so that tests on the controller (management tier)
reach a service from the network position of a real consumer.

`relay(ssh_config, via, address, port)` listens on 127.0.0.1:<ephemeral> on the
controller; each connection accepted there is carried over SSH to `via`, where a small
Python program opens address:port. The service therefore sees the connection coming
from `via`'s address, through the firewall rules that apply to it. Nothing is installed
on `via` (python3 is there for Ansible); SSH TCP forwarding stays off on the hosts.
"""

from __future__ import annotations

import io
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import cast

_REMOTE = r"""
import os, socket, sys, threading
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=15)
s.settimeout(None)
def up():
    while True:
        d = os.read(0, 65536)
        if not d:
            break
        s.sendall(d)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=up, daemon=True).start()
while True:
    d = s.recv(65536)
    if not d:
        break
    os.write(1, d)
"""


def _pump_in(conn: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    try:
        while data := conn.recv(65536):
            proc.stdin.write(data)
            proc.stdin.flush()
    except OSError:
        pass
    finally:
        with suppress(OSError):
            proc.stdin.close()


def _pump_out(conn: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    out = cast(io.BufferedReader, proc.stdout)  # a PIPE with the default buffering
    try:
        while data := out.read1(65536):
            conn.sendall(data)
    except OSError:
        pass
    finally:
        with suppress(OSError):
            conn.shutdown(socket.SHUT_WR)


@contextmanager
def relay(ssh_config: str, via: str, address: str, port: int) -> Iterator[int]:
    """Yield a local port whose connections reach address:port from host `via`."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    procs: list[subprocess.Popen[bytes]] = []
    conns: list[socket.socket] = []
    stop = threading.Event()
    remote = f"python3 -c {shlex.quote(_REMOTE)} {shlex.quote(address)} {port}"

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            proc = subprocess.Popen(["ssh", "-F", ssh_config, via, remote],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            procs.append(proc)
            conns.append(conn)
            threading.Thread(target=_pump_in, args=(conn, proc), daemon=True).start()
            threading.Thread(target=_pump_out, args=(conn, proc), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        for conn in conns:
            conn.close()
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
