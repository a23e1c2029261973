"""Connect to an OpenStack cloud by its clouds.yaml name, turning every way it can fail
(no such entry, wrong password, nothing listening, a broken endpoint) into one clear
`UserError` line instead of a traceback."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from municloud.core import yamlfile
from municloud.core.errors import UserError

DEVCLOUD_HINT = 'for devcloud run: eval "$(municloud devcloud env)"'


class BadCloudConfig(UserError):
    """clouds.yaml is missing, unreadable or wrong: bad input (exit 2)."""

    exit_code = 2


def _where() -> str:
    f = os.environ.get("OS_CLIENT_CONFIG_FILE")
    return f or "clouds.yaml (./, ~/.config/openstack/, /etc/openstack/)"


def config_files() -> list[Path]:
    """Where openstacksdk looks for clouds.yaml, in its order (OS_CLIENT_CONFIG_FILE first)."""
    from openstack.config import loader

    explicit = os.environ.get("OS_CLIENT_CONFIG_FILE")
    return ([Path(explicit)] if explicit else []) + [Path(p) for p in loader.CONFIG_FILES]


def entry(cloud: str) -> tuple[Path, dict[str, Any]]:
    """The clouds.yaml file that defines `cloud` and its entry; BadCloudConfig saying what
    is wrong: no file, a file that is not YAML or has no `clouds`, no such entry, an
    auth_url that is no URL."""
    explicit = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if explicit and not Path(explicit).is_file():
        raise BadCloudConfig(f"cloud '{cloud}': OS_CLIENT_CONFIG_FILE={explicit}: no such "
                             f"file; {DEVCLOUD_HINT}")
    files = [f for f in config_files() if f.is_file()]
    if not files:
        raise BadCloudConfig(f"cloud '{cloud}': no clouds.yaml found (looked in {_where()}); "
                             f"{DEVCLOUD_HINT}")
    names: list[str] = []
    for f in dict.fromkeys(files):
        if f.suffix == ".json":
            continue
        data = yamlfile.load(f, str(f))
        clouds = data.get("clouds") if isinstance(data, dict) else None
        if not isinstance(clouds, dict):
            raise BadCloudConfig(f"{f}: not a clouds.yaml (allowed: a mapping with `clouds:`, "
                                 "one entry per cloud)")
        if cloud in clouds:
            found = clouds[cloud]
            if not isinstance(found, dict):
                raise BadCloudConfig(f"{f}: clouds.{cloud}: must be a mapping (auth, "
                                     "region_name, ...)")
            _check_auth_url(f, cloud, found)
            return f, found
        names += [str(n) for n in clouds]
    raise BadCloudConfig(f"cloud '{cloud}': no such entry in {', '.join(map(str, files))} "
                         f"(entries: {', '.join(names) or 'none'}); {DEVCLOUD_HINT}")


def _check_auth_url(f: Path, cloud: str, found: dict[str, Any]) -> None:
    auth = found.get("auth")
    url = auth.get("auth_url") if isinstance(auth, dict) else None
    if url is None:
        return  # openstacksdk may take it from the profile or OS_AUTH_URL
    try:
        parts = urlsplit(str(url))
        ok = (parts.scheme in ("http", "https") and bool(parts.hostname)
              and parts.port != 0 and not any(c.isspace() for c in str(url)))
    except ValueError:
        ok = False
    if not isinstance(url, str) or not ok:
        raise BadCloudConfig(f"{f}: clouds.{cloud}.auth.auth_url: invalid URL {url!r} "
                             "(allowed: an http(s) URL such as https://keystone.example:5000/v3)")


def connect(cloud: str, timeout: float = 20) -> Any:
    """An authenticated openstacksdk connection to `cloud`."""
    import openstack
    from keystoneauth1 import exceptions as ka

    entry(cloud)
    try:
        conn = openstack.connect(cloud=cloud, api_timeout=timeout)
    except openstack.exceptions.ConfigException as exc:
        raise BadCloudConfig(f"cloud '{cloud}': {_where()}: {exc}") from exc
    auth_url = (conn.config.config.get("auth") or {}).get("auth_url", "?")
    # keystoneauth warns on stderr before it fails; the one line below says it all.
    logging.getLogger("keystoneauth").setLevel(logging.ERROR)
    try:
        try:
            conn.authorize()
        except openstack.exceptions.SDKException as exc:
            raise _cause(exc, ka.ClientException) or exc from None
    except ka.Unauthorized as exc:
        raise UserError(f"cloud '{cloud}': authentication refused by {auth_url} "
                        "(wrong user name, password or project in clouds.yaml)") from exc
    except (ka.ConnectFailure, ka.ConnectTimeout, ka.DiscoveryFailure) as exc:
        raise UserError(f"cloud '{cloud}': identity endpoint {auth_url} unreachable "
                        f"({type(exc).__name__}); is the cloud up?") from exc
    except (ka.ClientException, openstack.exceptions.SDKException) as exc:
        raise UserError(f"cloud '{cloud}': identity endpoint {auth_url}: "
                        f"{type(exc).__name__}: {exc}") from exc
    return conn


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain of causes of `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def call_errors() -> tuple[type[BaseException], ...]:
    """Exceptions an API call may raise once connected (for one-line reports)."""
    import openstack
    from keystoneauth1 import exceptions as ka

    return (ka.ClientException, openstack.exceptions.SDKException)
