"""Where the controller's secrets must never appear, and how to look without showing them.

The secret store is `/var/lib/municloud/<env>/secrets` (paths.secrets_dir). A secret is
each file there that is not public by nature (certificates, requests, public keys): its
value, or for a PEM key each base64 line of its body. The scans report *which* secret
(its file name in the store) was found *where*, never the value: values travel to a
host's scanner on stdin, and nothing here prints or logs them.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from municloud.core import paths
from municloud.core.inventory import ssh_config_file

PUBLIC_SUFFIXES = (".crt", ".csr", ".pub", ".pem.pub", ".cert")
MIN_LENGTH = 12  # shorter values would match by chance
MASK = "********"
# Where world-readable files are looked at on a host (not /usr: packaged files).
READABLE_ROOTS = ("/etc", "/var", "/home", "/root", "/srv", "/opt", "/tmp", "/run")


@dataclass(frozen=True)
class Secret:
    name: str        # path in the store, e.g. db/webmail.password
    needles: tuple[str, ...]


@dataclass(frozen=True)
class Hit:
    secret: str      # the secret's name, never its value
    where: str       # a file, a log, a host's journal


def _needles(text: str) -> tuple[str, ...]:
    if "-----BEGIN" in text:
        body = [ln.strip() for ln in text.splitlines()
                if ln.strip() and not ln.startswith("-----") and ":" not in ln]
        return tuple(ln for ln in body if len(ln) >= MIN_LENGTH)
    value = text.strip()
    return (value,) if len(value) >= MIN_LENGTH and "\n" not in value else tuple(
        ln.strip() for ln in value.splitlines() if len(ln.strip()) >= MIN_LENGTH)


def load(env: str, store: Path | None = None) -> list[Secret]:
    root = store or paths.secrets_dir(env)
    if not root.is_dir():
        return []
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        if f.name.endswith(PUBLIC_SUFFIXES):
            continue
        try:
            text = f.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        needles = _needles(text)
        if needles:
            found.append(Secret(str(f.relative_to(root)), needles))
    # A line two secrets share is the format's, not a secret (every OpenSSH ed25519 key
    # begins with the same base64 of "openssh-key-v1", "none", "ssh-ed25519"...).
    seen: dict[str, int] = {}
    for sec in found:
        for n in set(sec.needles):
            seen[n] = seen.get(n, 0) + 1
    shared = {n for n, count in seen.items() if count > 1}
    return [Secret(sec.name, kept) for sec in found
            if (kept := tuple(n for n in sec.needles if n not in shared))]


def mask(text: str, secrets: list[Secret]) -> str:
    """`text` with every secret value replaced by a mask."""
    for s in secrets:
        for n in s.needles:
            if n in text:
                text = text.replace(n, MASK)
    return text


def in_text(text: str, secrets: list[Secret], where: str) -> list[Hit]:
    return [Hit(s.name, where) for s in secrets if any(n in text for n in s.needles)]


def _pattern_file(secrets: list[Secret]) -> tuple[Path, list[str]]:
    """A 0600 temporary file with one needle per line, and each line's secret name."""
    names: list[str] = []
    with tempfile.NamedTemporaryFile("w", prefix="municloud-needles-", delete=False) as tmp:
        for s in secrets:
            for n in s.needles:
                tmp.write(n + "\n")
                names.append(s.name)
    return Path(tmp.name), names


def in_git(secrets: list[Secret], repo: Path = paths.REPO) -> list[Hit]:
    """Secrets in the repository's tracked files (`git grep` of the working tree and of
    every commit's tree would be the same question asked wider; HEAD and the index are
    what can be pushed now)."""
    hits: list[Hit] = []
    for s in secrets:
        pattern, _ = _pattern_file([s])
        try:
            for rev in ([], ["HEAD"]):
                proc = subprocess.run(["git", "grep", "-l", "-I", "-F", "-f", str(pattern),
                                       *rev], cwd=repo, capture_output=True, text=True,
                                      timeout=60, check=False)
                hits += [Hit(s.name, f"git:{line.removeprefix('HEAD:')}")
                         for line in proc.stdout.splitlines() if line]
        finally:
            pattern.unlink()
    return sorted(set(hits), key=lambda h: (h.secret, h.where))


def in_file(path: Path, secrets: list[Secret]) -> list[Hit]:
    if not path.exists():
        return []
    return in_text(path.read_text(errors="replace"), secrets, str(path))


# Runs on a host with the needles on stdin; prints "<index> <where>" per hit, never a
# value. One grep over everything with all needles first; only what matched is looked at
# needle by needle, to name the secret. umask 077: the matched lines stay private.
_HOST_SCAN = r"""
set -u; umask 077
p=$(mktemp); m=$(mktemp); trap 'rm -f "$p" "$m"' EXIT; cat > "$p"
if [ "$1" = journal ]; then
  journalctl -q -o cat --no-pager 2>/dev/null | grep -F -f "$p" > "$m" || true
  [ -s "$m" ] && set -- journal || set --
else
  shift
  # World-readable means others can reach it too: folders they cannot enter are pruned.
  find "$@" -xdev \( -type d ! -perm -o=x -prune \) -o \
    \( -type f -perm -o=r -size -1024k -print0 \) 2>/dev/null \
    | xargs -0 -r grep -l -F -f "$p" -- 2>/dev/null > "$m" || true
  mapfile -t found < "$m"; set -- "${found[@]}"
fi
for f in "$@"; do
  src=$f; [ "$f" = journal ] && src=$m
  i=0
  while IFS= read -r n; do
    grep -q -F -e "$n" -- "$src" && echo "$i $f"
    i=$((i+1))
  done < "$p"
done
true
"""


def on_host(env: str, host: str, secrets: list[Secret], where: str,
            timeout: int = 120) -> list[Hit]:
    """Secrets on `host`: `where` is "journal" (the whole systemd journal) or "files"
    (world-readable files under READABLE_ROOTS)."""
    names = [s.name for s in secrets for _ in s.needles]
    needles = "".join(n + "\n" for s in secrets for n in s.needles)
    args = ["journal"] if where == "journal" else ["files", *READABLE_ROOTS]
    remote = shlex.join(["bash", "-c", _HOST_SCAN, "scan", *args])
    cmd = ["ssh", "-F", str(ssh_config_file(env)), host, remote]
    proc = subprocess.run(cmd, input=needles, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{host}: the {where} scan failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-300:]}")
    hits = set()
    for line in proc.stdout.splitlines():
        idx, _, place = line.partition(" ")
        if idx.isdigit() and int(idx) < len(names):
            hits.add(Hit(names[int(idx)], f"{host}:{place}"))
    return sorted(hits, key=lambda h: (h.secret, h.where))


