"""The configuration files of every devcloud service, rendered under `<devcloud>/etc/`.

The settings are those docs/devcloud.md explains: everything bound to
127.0.0.1, one worker each, nova's fake driver without VIF plugging, cinder's fake
driver, glance's file store, neutron's ML2 with the agentless binding driver.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from municloud.devcloud import PORTS, REGION, Secrets, etc, root

# Paste files come from the Debian packages; copied so the state directory is complete.
PASTE_FILES = {
    "nova/api-paste.ini": "/etc/nova/api-paste.ini",
    "glance/glance-api-paste.ini": "/etc/glance/glance-api-paste.ini",
    "neutron/api-paste.ini": "/etc/neutron/api-paste.ini",
    "cinder/api-paste.ini": "/etc/cinder/api-paste.ini",
}

DATABASES = ("keystone", "glance", "placement", "neutron", "cinder", "nova_api", "nova",
             "nova_cell0")


def db_url(s: Secrets, name: str) -> str:
    return f"mysql+pymysql://municloud:{s.db}@127.0.0.1:{PORTS['mariadb']}/{name}"


def transport_url() -> str:
    return f"rabbit://guest:guest@127.0.0.1:{PORTS['rabbitmq']}/"


def keystone_url() -> str:
    return f"http://127.0.0.1:{PORTS['keystone']}/v3"


def _auth(s: Secrets, user: str, section: str = "keystone_authtoken") -> str:
    extra = ("www_authenticate_uri = {ks}\nservice_token_roles_required = false\n"
             if section == "keystone_authtoken" else "")
    return f"""[{section}]
{extra}auth_url = {keystone_url()}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = {user}
password = {s.service}
region_name = {REGION}
""".replace("{ks}", keystone_url())


def _common(s: Secrets, svc: str, db_section: str = "database") -> str:
    return f"""[DEFAULT]
transport_url = {transport_url()}
state_path = {root() / svc}
use_stderr = true

[{db_section}]
connection = {db_url(s, svc)}
max_pool_size = 5
max_overflow = 10

[oslo_concurrency]
lock_path = {root() / svc / 'lock'}

{_auth(s, svc)}
"""


def keystone(s: Secrets) -> str:
    k = root() / "keystone"
    return f"""[DEFAULT]
use_stderr = true

[database]
connection = {db_url(s, 'keystone')}

[token]
provider = fernet

[fernet_tokens]
key_repository = {k / 'fernet-keys'}

[credential]
key_repository = {k / 'credential-keys'}
"""


def placement(s: Secrets) -> str:
    return _common(s, "placement", "placement_database") + "[api]\nauth_strategy = keystone\n"


def glance(s: Secrets) -> str:
    g = root() / "glance"
    return _common(s, "glance") + f"""
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {PORTS['glance']}
workers = 1
enabled_backends = file:file

[glance_store]
default_backend = file

[file]
filesystem_store_datadir = {g / 'images'}

[os_glance_staging_store]
filesystem_store_datadir = {g / 'staging'}

[os_glance_tasks_store]
filesystem_store_datadir = {g / 'tasks'}

[paste_deploy]
flavor = keystone
config_file = {etc() / 'glance/glance-api-paste.ini'}
"""


def neutron(s: Secrets) -> str:
    return _common(s, "neutron") + f"""
[DEFAULT]
bind_host = 127.0.0.1
bind_port = {PORTS['neutron']}
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
allow_overlapping_ips = true
dhcp_agent_notification = false
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = {etc() / 'neutron/api-paste.ini'}

[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers = municloud_fakebind
extension_drivers = port_security

[ml2_type_flat]
flat_networks = physnet1

[ml2_type_vxlan]
vni_ranges = 1:10000

[quotas]
quota_network = 100
quota_subnet = 100
quota_port = 1000
quota_router = 20
quota_floatingip = 100
quota_security_group = 100
quota_security_group_rule = 1000
"""


def nova(s: Secrets) -> str:
    n = root() / "nova"
    return f"""[DEFAULT]
transport_url = {transport_url()}
state_path = {n}
use_stderr = true
host = devcloud
my_ip = 127.0.0.1
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = {PORTS['nova-api']}
osapi_compute_workers = 1
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
instances_path = {n / 'instances'}

[api]
auth_strategy = keystone

[api_database]
connection = {db_url(s, 'nova_api')}

[database]
connection = {db_url(s, 'nova')}

[wsgi]
api_paste_config = {etc() / 'nova/api-paste.ini'}

[conductor]
workers = 1

[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5

[oslo_concurrency]
lock_path = {n / 'lock'}

[glance]
region_name = {REGION}

[cinder]
os_region_name = {REGION}

{_auth(s, 'nova')}
{_auth(s, 'nova', 'service_user')}send_service_user_token = true

{_auth(s, 'placement', 'placement')}
{_auth(s, 'neutron', 'neutron')}
"""


def cinder(s: Secrets) -> str:
    return _common(s, "cinder") + f"""
[DEFAULT]
host = devcloud
my_ip = 127.0.0.1
auth_strategy = keystone
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = {PORTS['cinder-api']}
osapi_volume_workers = 1
api_paste_config = {etc() / 'cinder/api-paste.ini'}
enabled_backends = fake
default_volume_type = __DEFAULT__
quota_volumes = 200
quota_gigabytes = 100000
quota_snapshots = 100

[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
"""


FILES = {
    "keystone/keystone.conf": keystone,
    "placement/placement.conf": placement,
    "glance/glance-api.conf": glance,
    "neutron/neutron.conf": neutron,
    "nova/nova.conf": nova,
    "cinder/cinder.conf": cinder,
}


# Services that run as their own system user (under uWSGI, see processes.UWSGI_USERS):
# their configuration is root:<user> 0640 in a 0750 directory, their state directory is
# theirs. Keystone's key repositories are 0700 (keystone warns when they are readable by
# others, and whoever reads them can forge tokens).
OWN_USER_SERVICES = ("keystone", "placement")
KEY_REPOSITORIES = ("keystone/fernet-keys", "keystone/credential-keys")


def write(s: Secrets) -> Path:
    """Write every configuration file (idempotent); returns the etc directory."""
    for rel, render in FILES.items():
        f = etc() / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(render(s))
        f.chmod(0o600)
    for rel, src in PASTE_FILES.items():
        shutil.copyfile(src, etc() / rel)
    for d in ("glance/images", "glance/staging", "glance/tasks", "nova/instances",
              "nova/lock", "neutron/lock", "cinder/lock", "glance/lock", "placement/lock",
              "rabbitmq", "run"):
        (root() / d).mkdir(parents=True, exist_ok=True)
    for svc in OWN_USER_SERVICES:
        own(svc)
    return etc()


def own(svc: str) -> None:
    """Hand `svc` its configuration (readable, not writable) and its state directory."""
    user = svc  # the Debian package's system user has the service's name
    for d in (etc() / svc, root() / svc):
        d.mkdir(parents=True, exist_ok=True)
    (etc() / svc).chmod(0o750)
    shutil.chown(etc() / svc, "root", user)
    for f in (etc() / svc).iterdir():
        f.chmod(0o640)
        shutil.chown(f, "root", user)
    for rel in KEY_REPOSITORIES:
        if rel.startswith(f"{svc}/"):
            (root() / rel).mkdir(exist_ok=True)
    state = root() / svc
    for entry in [state, *state.rglob("*")]:
        shutil.chown(entry, user, user)
        if entry.is_dir():
            entry.chmod(0o700 if str(entry.relative_to(root())) in KEY_REPOSITORIES else 0o750)
        else:
            entry.chmod(0o600)
