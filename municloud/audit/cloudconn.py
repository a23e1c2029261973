"""Connect to an OpenStack cloud by its clouds.yaml name, turning every way it can fail
(no such entry, wrong password, nothing listening, a broken endpoint) into one clear
`UserError` line instead of a traceback."""

from __future__ import annotations

import logging
import os
from typing import Any

from municloud.core.errors import UserError


def _where() -> str:
    f = os.environ.get("OS_CLIENT_CONFIG_FILE")
    return f or "clouds.yaml (./, ~/.config/openstack/, /etc/openstack/)"


def connect(cloud: str, timeout: float = 20) -> Any:
    """An authenticated openstacksdk connection to `cloud`."""
    import openstack
    from keystoneauth1 import exceptions as ka

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=timeout)
    except openstack.exceptions.ConfigException as exc:
        raise UserError(f"cloud '{cloud}': no such entry in {_where()} ({exc}); "
                        f"for devcloud run: eval \"$(municloud devcloud env)\"") from exc
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
        raise UserError(f"cloud '{cloud}': {type(exc).__name__}: {exc}") from exc
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
