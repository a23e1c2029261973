"""Vendor artifacts: software not in Debian, pinned in a manifest, fetched once where there
is internet, laid out as a verified mirror and served to the hosts.

- `resolve`: one artifact as a host obtains it (mirror or upstream); the pinned list itself
  (`inventories/artifacts.yml`, overridden per environment) is `municloud.core.artifact_manifest`.
- `download`: HTTP(S) downloads with timeouts and checksums.
- `gpg`, `debrepo`: OpenPGP keys and signatures, Debian repository indexes.
- `mirror`: `fetch` (build a mirror) and `verify` (re-check one).
- `serve`: publish a mirror over HTTPS as a background process.
"""
