"""What the daemon itself needs from the kernel: CAP_NET_RAW and CAP_NET_ADMIN, effective.

Not "root": under systemd pycarp runs as its own user with just these two capabilities
(``AmbientCapabilities=``), and root in a container without CAP_NET_ADMIN could not move an
address anyway. So the check is on the capabilities themselves, before anything is opened: a
missing one is one line naming it, instead of a refusal from deep inside the first socket.

What hooks get is another question, answered in :mod:`pycarp.runtime.hooks`.
"""

from __future__ import annotations

from pycarp.runtime.hooks import CAP_NET_ADMIN, CAP_NET_RAW, Capabilities

# capability -> (its name, what the daemon does with it)
NEEDED = {
    CAP_NET_RAW: ("CAP_NET_RAW", "raw sockets for adverts and announcements"),
    CAP_NET_ADMIN: ("CAP_NET_ADMIN", "adding and removing addresses"),
}


def missing_capabilities(own: Capabilities | None = None) -> list[str]:
    """The names of the needed capabilities this process does not hold as effective."""
    held = (own or Capabilities.of_this_process()).effective
    return [name for bit, (name, _) in NEEDED.items() if not held & (1 << bit)]


def daemon_privilege_problem(own: Capabilities | None = None) -> str | None:
    """Why this process cannot run the daemon (one line), or None when it can."""
    missing = missing_capabilities(own)
    if not missing:
        return None
    uses = ", ".join(f"{name} ({why})" for name, why in NEEDED.values() if name in missing)
    noun = "capability" if len(missing) == 1 else "capabilities"
    return (
        f"missing {noun} {uses}: run as root, or as a user holding CAP_NET_RAW and "
        "CAP_NET_ADMIN (systemd: AmbientCapabilities=, see contrib/systemd)"
    )
