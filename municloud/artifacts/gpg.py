"""OpenPGP with Debian's gnupg: key fingerprints, detached-signature checks (gpgv, as apt
does them) and the municipal archive key that re-signs the mirror's apt repositories.

Every call that only reads keys runs in a throw-away GNUPGHOME, so the caller's keyrings
are never touched. The tools are installed with apt-get when missing (CI starts fresh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from municloud.core.errors import UserError

PACKAGES = {"gpg": "gnupg", "gpgv": "gpgv", "gpgconf": "gnupg",
            "apt-ftparchive": "apt-utils"}


class SignatureError(Exception):
    """A signature is missing, invalid, or made by a key other than the pinned one."""


def ensure_tools(*commands: str) -> None:
    """Install the Debian packages providing `commands` when they are missing."""
    missing = sorted({PACKAGES[c] for c in commands if shutil.which(c) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise UserError(f"missing tools {', '.join(commands)}: install the Debian packages "
                        f"{' '.join(missing)} (apt-get install {' '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise UserError(f"apt-get install {' '.join(missing)} failed: "
                            f"{run.stderr.strip()[-500:]}")


def _gpg(home: Path, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--no-tty", *args],
                          input=data, capture_output=True, check=False)


@contextmanager
def scratch_home() -> Iterator[Path]:
    ensure_tools("gpg", "gpgconf")
    with tempfile.TemporaryDirectory(prefix="municloud-gpg-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        try:
            yield home
        finally:
            stop_agent(home)


def stop_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                   capture_output=True, check=False)


def fingerprints(key: bytes) -> list[str]:
    """Fingerprints of the primary keys in an (armored or binary) OpenPGP key file."""
    with scratch_home() as home:
        run = _gpg(home, "--with-colons", "--import-options", "show-only", "--import", data=key)
    out: list[str] = []
    primary = False
    for line in run.stdout.decode(errors="replace").splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub"):
            primary = fields[0] == "pub"
        elif fields[0] == "fpr" and primary:
            out.append(fields[9])
            primary = False
    return out


def binary_keyring(key: bytes) -> bytes:
    """The key as a binary keyring (what apt's `signed-by` and gpgv read best)."""
    if b"-----BEGIN PGP" not in key:
        return key
    with scratch_home() as home:
        run = _gpg(home, "--dearmor", data=key)
    if run.returncode != 0 or not run.stdout:
        raise SignatureError(f"not an OpenPGP key: {run.stderr.decode(errors='replace')}")
    return run.stdout


def verify_detached(key: bytes, signature: Path, data: Path,
                    allowed: Sequence[str]) -> str:
    """Check `signature` over `data` with gpgv; return the signer's primary fingerprint,
    which must be one of `allowed`."""
    ensure_tools("gpgv")
    with tempfile.TemporaryDirectory(prefix="municloud-gpgv-") as tmp:
        ring = Path(tmp) / "keyring.gpg"
        ring.write_bytes(binary_keyring(key))
        run = subprocess.run(["gpgv", "--status-fd", "1", "--keyring", str(ring),
                              str(signature), str(data)], capture_output=True, check=False)
    status = run.stdout.decode(errors="replace")
    for line in status.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[:2] == ["[GNUPG:]", "VALIDSIG"]:
            signer = parts[-1]
            if run.returncode == 0 and signer in allowed:
                return signer
            raise SignatureError(f"{data.name}: signed by {signer}, not by the pinned key "
                                 f"{', '.join(allowed)}")
    err = run.stderr.decode(errors="replace").strip().splitlines()
    raise SignatureError(f"{data.name}: no valid signature in {signature.name} "
                         f"({err[-1] if err else 'gpgv failed'})")


@contextmanager
def agent_home(home: Path) -> Iterator[Path]:
    """`home`, or a short copy of it synced back afterwards: gpg-agent's socket lives in
    the home directory and a Unix socket path is limited to 107 bytes."""
    if len(str(home)) < 70:
        try:
            yield home
        finally:
            stop_agent(home)
        return
    with tempfile.TemporaryDirectory(prefix="mcgpg-") as tmp:
        short = Path(tmp) / "h"
        shutil.copytree(home, short, ignore=shutil.ignore_patterns("S.*"))
        short.chmod(0o700)
        try:
            yield short
        finally:
            stop_agent(short)
        shutil.copytree(short, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns("S.*"))


def ensure_signing_key(home: Path, uid: str) -> str:
    """The fingerprint of the signing key in `home`, generating one (ed25519, no
    passphrase: the directory is the secret, 0700) when there is none."""
    ensure_tools("gpg", "gpgconf")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    with agent_home(home) as h:
        fpr = _secret_fingerprint(h)
        if fpr is None:
            run = _gpg(h, "--pinentry-mode", "loopback", "--passphrase", "",
                       "--quick-gen-key", uid, "ed25519", "sign", "0")
            if run.returncode != 0:
                raise UserError(f"cannot create the archive signing key in {home}: "
                                f"{run.stderr.decode(errors='replace').strip()}")
            fpr = _secret_fingerprint(h)
    if fpr is None:
        raise UserError(f"no secret signing key in {home}")
    return fpr


def _secret_fingerprint(home: Path) -> str | None:
    run = _gpg(home, "--with-colons", "--list-secret-keys")
    for line in run.stdout.decode(errors="replace").splitlines():
        fields = line.split(":")
        if fields[0] == "fpr":
            return fields[9]
    return None


def export_public(home: Path, fpr: str) -> bytes:
    run = _gpg(home, "--export", fpr)
    if run.returncode != 0 or not run.stdout:
        raise UserError(f"cannot export key {fpr} from {home}")
    return run.stdout


def sign_release(home: Path, fpr: str, release: Path) -> None:
    """Write Release.gpg (detached) and InRelease (clear-signed) beside `release`."""
    with agent_home(home) as h:
        for args, out in ((["--detach-sign", "--armor"], release.with_name("Release.gpg")),
                          (["--clearsign"], release.with_name("InRelease"))):
            out.unlink(missing_ok=True)
            run = _gpg(h, "--pinentry-mode", "loopback", "--passphrase", "", "--local-user",
                       fpr, "--digest-algo", "SHA512", *args, "--output", str(out),
                       str(release))
            if run.returncode != 0:
                raise UserError(f"signing {release} failed: "
                                f"{run.stderr.decode(errors='replace').strip()}")
