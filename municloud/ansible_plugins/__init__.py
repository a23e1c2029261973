"""Ansible plugins of municloud (loaded by Ansible through ansible.cfg, not imported)."""
