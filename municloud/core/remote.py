"""The one way municloud runs a command on a host over SSH.

Always non-interactive (`BatchMode=yes`: a missing key or an unknown host key fails at
once instead of waiting for a password prompt), with a connect timeout, through the
environment's generated SSH configuration when there is one (ControlMaster, pinned host
keys), and with a bounded run time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CONNECT_TIMEOUT = 10


def command(host: str, argv: list[str], ssh_config: Path | None = None,
            connect_timeout: int = CONNECT_TIMEOUT) -> list[str]:
    """The ssh command line running `argv` on `host` (ssh joins the words with spaces for
    the remote shell: quote what the remote shell must not split)."""
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={connect_timeout}"]
    if ssh_config is not None:
        cmd += ["-F", str(ssh_config)]
    return [*cmd, "--", host, *argv]


def run(host: str, argv: list[str], ssh_config: Path | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `argv` on `host`; raises subprocess.TimeoutExpired after `timeout` seconds."""
    return subprocess.run(command(host, argv, ssh_config), capture_output=True, text=True,
                          timeout=timeout, check=False)
