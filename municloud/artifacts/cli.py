"""`municloud artifacts show|fetch|verify|serve|stop|status`: vendor software from a
verified mirror (see README, "Vendor artifacts and air-gapped installs")."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from municloud.artifacts import mirror, serve
from municloud.core import artifact_manifest as mf
from municloud.core import console, paths
from municloud.core.errors import UserError

DEFAULT_ENV = os.environ.get("MUNICLOUD_ENV", "lab")
DEFAULT_PORT = 8443


def register(sub: Any) -> None:
    p = sub.add_parser("artifacts", help="vendor artifacts: pinned manifest, verified mirror")
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--env", default=DEFAULT_ENV, type=_known_env,
                       help=f"environment (policy, mirror, archive key); default {DEFAULT_ENV}")
        q.add_argument("--manifest", type=Path,
                       help="use this manifest file instead of inventories/[<env>/]artifacts.yml")

    s = asub.add_parser("show", help="the manifest in force for an environment")
    common(s)
    s.add_argument("--json", action="store_true", help="print the manifest as JSON")
    s.set_defaults(func=show)

    f = asub.add_parser("fetch", help="download, verify and lay out every artifact as a mirror")
    common(f)
    f.add_argument("--to", type=Path, help="mirror directory (default: the env's state dir)")
    f.add_argument("--timeout", type=float, default=15.0,
                   help="seconds to wait for a connection or for data (default 15)")
    f.add_argument("--deadline", type=float, default=1800.0,
                   help="seconds one artifact may take in all (default 1800)")
    f.set_defaults(func=fetch)

    v = asub.add_parser("verify", help="re-check a mirror against the manifest")
    common(v)
    v.add_argument("dir", type=Path, help="the mirror directory to check")
    v.add_argument("--archive-key", type=Path,
                   help="the archive public key the hosts trust (default: the env's)")
    v.set_defaults(func=verify)

    sv = asub.add_parser("serve", help="publish the mirror over HTTPS (background process)")
    common(sv)
    sv.add_argument("--dir", type=Path, help="mirror directory (default: the env's)")
    sv.add_argument("--bind", help="address (default: the host of the manifest's mirror URL)")
    sv.add_argument("--port", type=int, help="port (default: the mirror URL's, else 8443)")
    sv.add_argument("--cert", type=Path, help="TLS certificate (default: issued by the CA)")
    sv.add_argument("--key", type=Path, help="TLS key belonging to --cert")
    sv.set_defaults(func=serve_cmd)

    st = asub.add_parser("stop", help="stop the mirror server of an environment")
    st.add_argument("--env", default=DEFAULT_ENV, type=_known_env,
                    help=f"environment whose mirror server to stop; default {DEFAULT_ENV}")
    st.set_defaults(func=stop_cmd)

    ss = asub.add_parser("status", help="is the mirror server running?")
    ss.add_argument("--env", default=DEFAULT_ENV, type=_known_env,
                    help=f"environment whose mirror server to ask about; default {DEFAULT_ENV}")
    ss.set_defaults(func=status_cmd)


def _known_env(env: str) -> str:
    """An argparse type: an environment of the inventories in force, else exit 2."""
    known = paths.known_environments()
    if env not in known:
        raise argparse.ArgumentTypeError(
            f"unknown environment {env!r} (known environments in {paths.inventories()}: "
            f"{', '.join(known) or 'none'})")
    return env


def _manifest(args: argparse.Namespace) -> mf.Manifest:
    return mf.load(args.env, args.manifest)


def _rows(results: list[mirror.Result]) -> str:
    return console.table(["artifact", "kind", "version", "result", "detail"],
                         [[r.name, r.kind, r.version, r.status.upper(), r.detail]
                          for r in results])


def _summary(results: list[mirror.Result], what: str) -> int:
    failed = [r.name for r in results if r.status == "failed"]
    unpinned = [r.name for r in results if r.status == "unpinned"]
    console.info(_rows(results))
    if unpinned:
        console.warn(f"NOT VERIFIED against a pinned checksum: {', '.join(unpinned)}")
    if failed:
        console.warn(f"{what} FAILED for: {', '.join(failed)}")
        return 1
    return 0


def show(args: argparse.Namespace) -> int:
    m = _manifest(args)
    if args.json:
        console.info(json.dumps(m.model_dump(), indent=2))
        return 0
    console.info(f"policy: {m.policy}; mirror: {m.mirror or 'none (hosts use upstream URLs)'}")
    console.info(console.table(
        ["artifact", "kind", "component", "version", "pinned", "upstream"],
        [[a.name, a.kind, a.component, a.version, "yes" if a.pinned else "NO", a.url]
         for a in m.artifacts]))
    return 0


def fetch(args: argparse.Namespace) -> int:
    m = _manifest(args)
    dest = args.to or mirror.default_mirror(args.env)
    opts = mirror.Options(timeout=args.timeout, deadline=args.deadline)

    def report(r: mirror.Result) -> None:
        console.info(f"  {r.name}: {r.status.upper()} - {r.detail}")

    with console.step(f"fetch {len(m.artifacts)} artifacts into {dest} (policy {m.policy})"):
        results = mirror.fetch_all(m, dest, mirror.archive_dir(args.env) / "gnupg",
                                   mirror.archive_public_key(args.env), opts, report)
    code = _summary(results, "fetch")
    if code:
        console.info("Where there is no internet, fetch on a machine that has it and copy the "
                     f"directory here; then `municloud artifacts verify {dest}`.")
    return code


def verify(args: argparse.Namespace) -> int:
    m = _manifest(args)
    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such mirror directory")
    key_file: Path = args.archive_key or mirror.archive_public_key(args.env)
    if not key_file.exists():
        key_file = args.dir / mirror.ARCHIVE_KEY
        console.warn(f"no archive key for {args.env}: checking against the mirror's own "
                     f"{key_file} (consistency only)")
    archive_key = key_file.read_bytes() if key_file.exists() else b""
    return _summary(mirror.verify_all(m, args.dir, archive_key), "verify")


def _endpoint(args: argparse.Namespace, m: mf.Manifest) -> tuple[str, int]:
    url = urlsplit(m.mirror) if m.mirror else None
    host = args.bind or (url.hostname if url else None)
    if not host:
        raise UserError(f"no address to serve on: the manifest of {args.env} has no `mirror` "
                        "URL; pass --bind")
    return host, args.port or (url.port if url and url.port else DEFAULT_PORT)


def serve_cmd(args: argparse.Namespace) -> int:
    m = _manifest(args)
    host, port = _endpoint(args, m)
    cert, key = (args.cert, args.key) if args.cert else serve.default_cert(args.env)
    if args.cert is None and not cert.exists():
        with console.step(f"issue the mirror certificate for {host} (municipal CA)"):
            serve.issue_cert(args.env, host)
    mirror_dir = args.dir or mirror.default_mirror(args.env)
    state = serve.state(args.env)
    r = serve.start(state, mirror_dir, host, port, cert, key)
    console.info(f"serving {mirror_dir} at {r.url} (pid {r.pid}; log {serve.log_file(state)};"
                 f" stop with `municloud artifacts stop --env {args.env}`)")
    return 0


def stop_cmd(args: argparse.Namespace) -> int:
    r = serve.stop(serve.state(args.env))
    console.info(f"stopped the mirror server (pid {r.pid})" if r else "the mirror server was "
                 "not running")
    return 0


def status_cmd(args: argparse.Namespace) -> int:
    r = serve.running(serve.state(args.env))
    console.info(f"running: {r.url} (pid {r.pid})" if r else "not running")
    return 0 if r else 3
