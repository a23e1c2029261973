"""The model every feature reads: topology, service declarations, ports, inventory."""
