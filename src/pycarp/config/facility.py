"""The syslog facility a daemon logs to: one list and one check for flags and TOML alike.

Both front ends (``--facility`` and ``[daemon].facility``) validate against this, so neither
imports the other for it (they used to, in a cycle).
"""

from __future__ import annotations

from pycarp.config.model import ConfigError

SYSLOG_FACILITIES = (
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "ftp",
    "kern",
    "lpr",
    "mail",
    "news",
    "syslog",
    "user",
    "uucp",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)


def parse_facility(field: str, value: object) -> str | None:
    """``value`` if it names a syslog facility; None (log to stderr) if not given."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in SYSLOG_FACILITIES:
        raise ConfigError(field, value, "one of " + ", ".join(SYSLOG_FACILITIES))
    return value
