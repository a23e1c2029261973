"""municloud: infrastructure as code for a municipality's private cloud."""

__version__ = "0.1.0"
