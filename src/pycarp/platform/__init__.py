"""Thin adapters to the operating system, behind the small Protocols in :mod:`.ports`.

Only these modules touch sockets and netlink; the runtime sees the Protocols, tests swap in
fakes. pyroute2 is imported by :mod:`.netlink` and nowhere else.
"""
