"""A network-namespace lab: a switch namespace with a bridge and one namespace per host.

One implementation for the demo, the namespace/interop tests and the benchmarks. All traffic
stays inside namespaces the lab creates; addresses come only from 198.51.100.0/24 and
2001:db8::/64. See :class:`~pycarp.lab.lab.Lab`.
"""

from pycarp.lab.lab import Lab
from pycarp.lab.naming import CLIENT, HOST_INTERFACE, LAB_PREFIX, LabError
from pycarp.lab.programs import MissingProgram

__all__ = ["CLIENT", "HOST_INTERFACE", "LAB_PREFIX", "Lab", "LabError", "MissingProgram"]
