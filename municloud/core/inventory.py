"""The Ansible inventory, built from the topology plus the addresses a platform reports.

Both platforms report addresses in one shape, the "outputs" document:

    {"hosts": {"edge1": {"address": "10.70.1.11", "floating_address": null,
                         "network": "edge", "services": ["edge"]}},
     "virtual_address": {"address": "10.70.1.10", "floating_address": null}}

(`virtual_address`: the edge tier's shared address, where the topology declares one.)

The lab writes it when it starts its nodes; the Pulumi stack exports it and
`municloud inventory <env> --from-stack` saves it. `build()` is the one implementation
turning topology + outputs into the inventory; the Ansible inventory plugin
(`municloud/ansible_plugins/inventory/municloud_topology.py`) and
`municloud inventory` both call it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from municloud.core import admin_keys, backup_sets, edge_sites, needs, paths, services, yamlfile
from municloud.core import identity_declaration as declaration
from municloud.core.errors import UserError
from municloud.core.ports import host_rules, protocol_rules
from municloud.core.topology import Topology


def outputs_file(env: str) -> Path:
    return paths.env_state(env) / "outputs.json"


def ssh_config_file(env: str) -> Path:
    return paths.env_state(env) / "ssh" / "config"


def outputs_from_topology(topo: Topology) -> dict[str, Any]:
    """The outputs document for a platform whose addresses are the topology's (the lab)."""
    return {
        "hosts": {
            h.name: {
                "address": h.address,
                "floating_address": None,
                "network": h.network,
                "services": list(h.services),
            }
            for h in topo.hosts
        }
    }


def read_outputs(env: str) -> dict[str, Any] | None:
    f = outputs_file(env)
    if not f.exists():
        return None
    again = f"write it again with `municloud inventory {env} --from-stack`"
    try:
        data = json.loads(yamlfile.read_text(f, str(f)))
    except json.JSONDecodeError as exc:
        raise UserError(f"{f}: not valid JSON ({exc}); {again}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{f}: not a JSON object (a {type(data).__name__}); {again}")
    return data


def write_outputs(env: str, outputs: dict[str, Any]) -> Path:
    f = outputs_file(env)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    return f


def check_outputs(topo: Topology, outputs: dict[str, Any], origin: str) -> None:
    """Outputs must name exactly the topology's hosts, each with an address."""
    hosts = outputs.get("hosts")
    if not isinstance(hosts, dict):
        raise UserError(f"{origin}: field 'hosts' missing (allowed: a mapping of host name "
                        "to address, floating_address, network, services)")
    wanted = {h.name for h in topo.hosts}
    missing = sorted(wanted - set(hosts))
    extra = sorted(set(hosts) - wanted)
    if missing or extra:
        raise UserError(f"{origin}: hosts differ from inventories/{topo.environment}/topology.yml"
                        f" (missing: {', '.join(missing) or 'none'}; "
                        f"not in the topology: {', '.join(extra) or 'none'})")
    for name, entry in hosts.items():
        if not isinstance(entry, dict) or not entry.get("address"):
            raise UserError(f"{origin}: hosts.{name}.address missing (allowed: an IP address)")


def build(topo: Topology, outputs: dict[str, Any] | None = None,
          ssh_config: Path | None = None) -> dict[str, Any]:
    """The inventory as Ansible's YAML structure: all.vars, hosts and a group per service."""
    if outputs is None:
        outputs = outputs_from_topology(topo)
    origin = "addresses"
    check_outputs(topo, outputs, origin)
    m = topo.municipality
    all_vars: dict[str, Any] = {
        "municloud_env": topo.environment,
        "municloud_platform": topo.platform,
        "municloud_municipality": m.name,
        "municloud_domain": m.domain,
        "municloud_timezone": m.timezone,
        "municloud_locales": list(m.locales),
        "municloud_default_locale": m.default_locale,
        "municloud_web_locale": m.ui_locale,
        "municloud_public_names": dict(topo.public_names),
        "municloud_admins": [admin_keys.admin_vars(topo.environment, a) for a in topo.admins],
        "municloud_time_servers": list(topo.time.servers),
        "municloud_apt": topo.packages.model_dump(),
        "municloud_networks": [n.model_dump() for n in topo.networks],
        "municloud_secrets_dir": str(paths.secrets_dir(topo.environment)),
        "municloud_ldap_base_dn": ",".join(f"dc={p}" for p in m.domain.split(".")),
        # Where each service runs, so roles find each other: {service: [{name, fqdn,
        # address}]}, in topology order.
        "municloud_service_hosts": {
            svc: [{"name": h.name, "fqdn": topo.fqdn(h.name),
                   "address": outputs["hosts"][h.name]["address"]}
                  for h in topo.hosts_running(svc)]
            for svc in topo.services()
        },
        "ansible_user": topo.access.ansible_user,
    }
    # The web sites the edge publishes, derived from public_names + the declarations
    # (municloud.core.edge_sites; read by the edge role).
    all_vars["municloud_published_sites"] = edge_sites.sites(
        topo, addresses={n: h["address"] for n, h in outputs["hosts"].items()})
    # Every declaration of a service in this topology ({service: dict}) and, per kind of
    # need (database, directory, mail_relay, oidc_client), the services that declared it:
    # providers read municloud_consumers[kind], consumers read their own values from
    # municloud_declarations[<service>] (municloud.core.needs).
    addresses = {n: h["address"] for n, h in outputs["hosts"].items()}
    all_vars["municloud_declarations"] = needs.declarations(topo)
    all_vars["municloud_consumers"] = needs.consumers(topo, addresses=addresses)
    # The edge tier's virtual address (topology networks[].virtual_address), or None.
    all_vars["municloud_virtual_address"] = topo.virtual_address()
    # Its public address where the platform reports one (the stack's floating IP of the
    # VIP port: outputs `virtual_address.floating_address`), or None (the lab).
    all_vars["municloud_virtual_floating_address"] = (
        outputs.get("virtual_address") or {}).get("floating_address")
    # Backup retention and the allowed age of the last backup (topology `backup:`), read
    # by the backup_client role and `municloud backup status`.
    all_vars["municloud_backup"] = topo.backup.model_dump()
    if ssh_config is not None:
        all_vars["ansible_ssh_common_args"] = f"-F {ssh_config}"
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    identity = _identity(topo)
    for h in topo.hosts:
        out = outputs["hosts"][h.name]
        hosts[h.name] = {
            "ansible_host": out["address"],
            "municloud_address": out["address"],
            "municloud_floating_address": out.get("floating_address"),
            "municloud_fqdn": topo.fqdn(h.name),
            "municloud_network": h.network,
            "municloud_services": list(h.services),
            "municloud_volumes": [v.model_dump() for v in h.volumes],
            "municloud_firewall_rules": [r.as_dict() for r in host_rules(topo, h)],
            # Port-less protocols from the host's peers (VRRP between the edge hosts).
            "municloud_firewall_protocols": [
                r.as_dict() for r in protocol_rules(topo, h, addresses)],
            # The declared long-running units here (municloud.core.services.host_units):
            # the baseline gives each a restart policy; BASE-SVC-01 checks them.
            "municloud_units": services.host_units(list(h.services)),
            # What their restart drop-ins also set (stop timeout, kill mode, PID file).
            "municloud_unit_settings": services.host_unit_settings(list(h.services)),
        }
        # What this host backs up, from its services' declarations (municloud.core.backup_sets).
        hosts[h.name]["municloud_backup_set"] = backup_sets.for_host(list(h.services))
        # The single sign-on declaration (inventories/<env>/identity.yml), on the hosts
        # that provide it (municloud.core.identity_declaration).
        # Names the host's certificate carries beyond its own (playbooks/pki.yml): the
        # identity host's administration name.
        hosts[h.name]["municloud_tls_names"] = []
        if identity is not None and "identity" in h.services:
            hosts[h.name]["municloud_identity"] = identity
            hosts[h.name]["municloud_tls_names"] = [identity["manager"]["name"]]
        for svc in h.services:
            groups.setdefault(svc, {"hosts": {}})["hosts"][h.name] = {}
    return {"all": {"vars": all_vars, "hosts": hosts, "children": groups}}


def _identity(topo: Topology) -> dict[str, Any] | None:
    ident = declaration.load(topo)
    if ident is None:
        return None
    return declaration.export(ident, topo, declaration.oidc_consumers(topo),
                              paths.secrets_dir(topo.environment))


def for_env(env: str) -> dict[str, Any]:
    """The inventory of an environment as the playbooks see it."""
    from municloud.core.topology import load

    topo = load(env)
    outputs = read_outputs(env)
    if outputs is not None:
        check_outputs(topo, outputs, str(outputs_file(env)))
    elif any(h.address is None for h in topo.hosts):
        raise UserError(f"no addresses for environment '{env}': run `municloud inventory {env} "
                        f"--from-stack` after `pulumi up`, or give every host an address")
    ssh = ssh_config_file(env)
    return build(topo, outputs, ssh if ssh.exists() else None)


def stack_outputs(source: str, env: str) -> dict[str, Any]:
    """Read the stack's `inventory` output, from a file or from the Pulumi CLI."""
    if source == "-":
        if shutil.which("pulumi") is None:
            raise UserError("the Pulumi CLI is not installed here: save `pulumi stack output "
                            "--json` on a machine that has it and pass the file to --from-stack")
        run = subprocess.run(["pulumi", "stack", "output", "--json", "--stack", env],
                             cwd=paths.REPO / "stacks", capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            raise UserError(f"pulumi stack output failed: {run.stderr.strip()}")
        text, origin = run.stdout, f"pulumi stack output ({env})"
    else:
        text, origin = yamlfile.read_text(Path(source), source), source
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{origin}: not valid JSON ({exc})") from exc
    outputs = data.get("inventory", data) if isinstance(data, dict) else None
    if not isinstance(outputs, dict):
        raise UserError(f"{origin}: expected a JSON object with an 'inventory' output")
    return outputs
