"""Test doubles of the upstream identity providers (Google, Facebook, GSIS): started by the
tests on the lab controller, never shipped or deployed."""
