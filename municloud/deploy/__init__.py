"""Converge and verify: Ansible runs, the testinfra verification, the summary."""
