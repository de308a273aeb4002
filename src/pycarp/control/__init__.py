"""The control socket: see and steer a running daemon (``pycarp status``, ``maintenance``,
``demote``, ``state``). Protocol: docs/control.md."""
