"""``pycarp watch``: every CARP and VRRP speaker on a segment, and what is wrong with them.

Sans-I/O like the core: :class:`~pycarp.watch.watcher.Watcher` is fed timestamps and bytes
(from a pcap file or a live packet socket, both outside this package) and answers with a
report: per-group sender tables, changes of master, and typed findings with advice.
"""
