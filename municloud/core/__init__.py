"""The model every feature reads: topology, service declarations, ports, inventory, the
artifact manifest and the identity declaration. Core imports nothing above it."""
