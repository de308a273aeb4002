"""pycarp: a userland CARP (Common Address Redundancy Protocol) implementation."""

__version__ = "0.1.0"
