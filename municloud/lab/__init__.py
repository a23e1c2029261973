"""The local lab: one Podman container with systemd per topology host, on an internal
bridge that carries the topology's tier networks, with the controller serving packages
(apt-cacher-ng), names (dnsmasq) and time (chronyd) on the bridge, like an air-gapped
datacenter's infrastructure services.
"""
