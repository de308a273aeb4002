"""The one typed event stream and its consumers (logs, ``--events`` JSON lines, metrics).

Every fact about a running daemon is published once, as a :mod:`~pycarp.observe.facts`
dataclass, on the daemon's :class:`~pycarp.observe.stream.EventStream`. Whoever wants to know
subscribes; nobody parses log text.
"""
