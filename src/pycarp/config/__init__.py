"""Validated daemon configuration, from ucarp-compatible flags or a TOML file.

Both front ends produce the same :class:`~pycarp.config.model.DaemonConfig`; every invalid value
raises :class:`~pycarp.config.model.ConfigError` naming the option (or TOML key), the value and
what is allowed, so the CLI can print one line and exit 2.
"""

from pycarp.config.model import (
    AddressMode,
    ConfigError,
    DaemonConfig,
    GroupConfig,
)

__all__ = ["AddressMode", "ConfigError", "DaemonConfig", "GroupConfig"]
