"""A real XMPP client (slixmpp) against the lab's prosody, from the controller.

Prosody listens for clients on meet1's loopback only (browsers come through nginx's BOSH
and websocket proxy), so the client reaches it through an SSH exec channel (the hosts'
sshd forwards no ports): the TLS session (StartTLS, certificate of the municipal CA for
the XMPP domain) is end to end between this process and prosody.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.util.sasl.client import Mech, sasl_mech

TIMEOUT = 20.0


@sasl_mech(60)
class OAUTHBEARER(Mech):
    """SASL OAUTHBEARER (RFC 7628), which slixmpp lacks: the GS2 header names the bare JID
    as authorization identity, the token goes as `auth=Bearer <token>`."""

    name = "OAUTHBEARER"
    required_credentials = {"email", "access_token"}  # noqa: RUF012 (Mech declares it)

    def process(self, challenge: bytes = b"") -> bytes:
        if challenge:
            # The server's error challenge (JSON): answer with the dummy response ^A.
            return b"\x01"
        email: bytes = self.credentials["email"]
        token: bytes = self.credentials["access_token"]
        return b"n,a=" + email + b",\x01auth=Bearer " + token + b"\x01\x01"


# Runs on the meeting host: relays stdin/stdout to a loopback port. The hosts' sshd allows
# no port forwarding (role common), so each connection is an SSH exec channel instead.
_BRIDGE = (
    "import os, socket, sys, threading\n"
    "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
    "def up():\n"
    "    while True:\n"
    "        d = os.read(0, 65536)\n"
    "        if not d:\n"
    "            s.shutdown(socket.SHUT_WR)\n"
    "            return\n"
    "        s.sendall(d)\n"
    "threading.Thread(target=up, daemon=True).start()\n"
    "while True:\n"
    "    d = s.recv(65536)\n"
    "    if not d:\n"
    "        break\n"
    "    os.write(1, d)\n"
)


def _pump(src: Any, dst: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        while True:
            data = src.recv(65536) if hasattr(src, "recv") else os.read(src.fileno(), 65536)
            if not data:
                break
            if hasattr(dst, "sendall"):
                dst.sendall(data)
            else:
                dst.write(data)
                dst.flush()
    with contextlib.suppress(OSError, ValueError):
        if hasattr(dst, "shutdown"):
            dst.shutdown(socket.SHUT_WR)
        else:
            dst.close()


def _serve(listener: socket.socket, ssh_config: str, host: str, remote_port: int) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        proc = subprocess.Popen(["ssh", "-F", ssh_config, host, "python3", "-c",
                                 shlex.quote(_BRIDGE), str(remote_port)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        threading.Thread(target=_pump, args=(conn, proc.stdin), daemon=True).start()
        threading.Thread(target=_pump, args=(proc.stdout, conn), daemon=True).start()


@contextlib.contextmanager
def tunnel(ssh_config: str, host: str, remote_port: int) -> Iterator[int]:
    """A local port whose connections reach `host`'s loopback `remote_port` (through an
    SSH exec channel each) while the block runs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=_serve, args=(listener, ssh_config, host, remote_port),
                     daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@dataclass
class Outcome:
    """How a session went: `authenticated`, the SASL failure, and what the block said."""

    authenticated: bool = False
    failure: str = ""
    mechanisms: tuple[str, ...] = ()
    results: dict[str, str] | None = None


class _Client(slixmpp.ClientXMPP):
    def __init__(self, jid: str, password: str, ca: Path, token: str | None = None) -> None:
        super().__init__(jid, password)
        if token is not None:
            self.credentials["access_token"] = token
        self.ca_certs = ca
        # StartTLS only (prosody offers no direct TLS), never plaintext.
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self["feature_mechanisms"].unencrypted_plain = False
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0045")
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.outcome = Outcome(results={})
        self.done: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("failed_all_auth", self._failed)
        self.add_event_handler("failed_auth", self._failed_one)
        self.add_event_handler("disconnected", self._gone)
        self.add_event_handler("stream:features", self._features)
        self.actions: list[Any] = []

    def _features(self, features: Any) -> None:
        mechs = features["mechanisms"]["mechanisms"] if "mechanisms" in features else []
        if mechs:
            self.outcome.mechanisms = tuple(mechs)

    def _failed_one(self, stanza: Any) -> None:
        with contextlib.suppress(Exception):
            self.outcome.failure = stanza["condition"] or str(stanza)

    def _failed(self, _: Any) -> None:
        if not self.outcome.failure:
            self.outcome.failure = "no usable mechanism"
        self._finish()

    def _gone(self, _: Any) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    async def _started(self, _: Any) -> None:
        self.outcome.authenticated = True
        self.send_presence()
        try:
            for action in self.actions:
                await action(self)
        finally:
            self.disconnect()
            self._finish()


def session(port: int, jid: str, password: str, ca: Path, *actions: Any,
            timeout: float = TIMEOUT, token: str | None = None) -> Outcome:
    """Connect to 127.0.0.1:`port` as `jid` (a bare domain: anonymous), StartTLS
    required, log in (with `token`: SASL OAUTHBEARER), run `actions` (async callables
    taking the client), disconnect."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        client = _Client(jid, password, ca, token)
        client.actions = list(actions)
        client.connect("127.0.0.1", port)
        with contextlib.suppress(asyncio.TimeoutError):
            loop.run_until_complete(asyncio.wait_for(client.done, timeout))
        if not client.done.done():
            client.outcome.failure = client.outcome.failure or f"no outcome within {timeout}s"
        client.disconnect()
        loop.run_until_complete(asyncio.sleep(0.2))
        return client.outcome
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def join(room: str, nick: str, key: str, configure: bool = False) -> Any:
    """An action: join (creating if absent) `room`; result under `key`: "joined", "created"
    or the error condition (e.g. not-allowed). `configure`: submit the instant-room form
    when created. The room's answer is the first presence from room/nick (an error one
    included, which slixmpp's join_muc_wait does not report)."""

    async def act(c: _Client) -> None:
        assert c.outcome.results is not None
        answer: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

        def seen(pres: Any) -> None:
            if pres["from"].bare == room and pres["from"].resource == nick \
                    and not answer.done():
                answer.set_result(pres)

        c.add_event_handler("presence", seen)
        try:
            pres = c.make_presence(pto=f"{room}/{nick}")
            pres.enable("muc_join")  # <x xmlns='http://jabber.org/protocol/muc'/>
            pres.send()
            pres = await asyncio.wait_for(answer, 15)
            if pres["type"] == "error":
                c.outcome.results[key] = pres["error"]["condition"]
                return
            created = 201 in {int(x) for x in pres["muc"]["status_codes"]}
            if created and configure:
                iq = c.make_iq_set(ito=room)
                iq.enable("mucowner_query")
                form = c.plugin["xep_0004"].make_form(ftype="submit")
                iq["mucowner_query"].append(form)
                await iq.send(timeout=10)
            c.outcome.results[key] = "created" if created else "joined"
        except (IqError, IqTimeout, TimeoutError) as exc:
            c.outcome.results[key] = f"error: {exc!r}"
        finally:
            c.del_event_handler("presence", seen)

    return act


def hold(seconds: float) -> Any:
    async def act(_: _Client) -> None:
        await asyncio.sleep(seconds)

    return act
