"""`serve`/`stop`: the mirror over HTTPS as a background process with a pid file."""

from __future__ import annotations

import os
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from municloud.artifacts import serve


def make_cert(d: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "srv.crt", "-days", "1", "-extfile", "ext")
    return d / "ca.crt", d / "srv.crt", d / "srv.key"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.control("ART-02")
def test_serve_publishes_over_tls_in_background_and_stops(tmp_path: Path) -> None:
    ca, cert, key = make_cert(tmp_path)
    mirror = tmp_path / "mirror"
    (mirror / "files/x/1").mkdir(parents=True)
    (mirror / "files/x/1/x.bin").write_bytes(b"payload")
    state, port = tmp_path / "state", free_port()
    r = serve.start(state, mirror, "127.0.0.1", port, cert, key)
    try:
        assert serve.pid_file(state).read_text().split() == [str(r.pid), r.url]
        assert serve.start(state, mirror, "127.0.0.1", port, cert, key) == r  # idempotent
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"{r.url}files/x/1/x.bin", context=ctx, timeout=5) as resp:
            assert resp.read() == b"payload"
        with pytest.raises(urllib.error.HTTPError) as exc:  # no directory listings
            urllib.request.urlopen(f"{r.url}files/", context=ctx, timeout=5)
        assert exc.value.code == 404
        with pytest.raises(urllib.error.URLError):  # only TLS, with a certificate we trust
            urllib.request.urlopen(f"{r.url}files/x/1/x.bin",
                                   context=ssl.create_default_context(), timeout=5)
    finally:
        stopped = serve.stop(state)
    assert stopped == r
    assert not serve.pid_file(state).exists() and serve.running(state) is None
    assert not Path(f"/proc/{r.pid}/cmdline").exists() or \
        not Path(f"/proc/{r.pid}/cmdline").read_bytes()
    assert serve.stop(state) is None  # stopping twice is fine


def test_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    serve.pid_file(state).write_text(f"{os.getpid()} https://127.0.0.1:1/\n")  # not a server
    assert serve.running(state) is None
    assert serve.stop(state) is None and not serve.pid_file(state).exists()
    assert os.getpid()  # we are still alive: stop never signals a pid that is not ours


def test_start_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    _, cert, _ = make_cert(tmp_path)
    (tmp_path / "mirror").mkdir()
    from municloud.core.errors import UserError

    with pytest.raises(UserError, match="did not start"):
        serve.start(tmp_path / "state", tmp_path / "mirror", "127.0.0.1", free_port(), cert,
                    cert)  # the certificate is not a key
