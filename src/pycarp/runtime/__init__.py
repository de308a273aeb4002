"""The asyncio runtime: owns the clock and all concurrency around the sans-I/O core.

One :class:`~pycarp.runtime.driver.GroupDriver` per group feeds the core and executes its
actions on the timing path (sending is a non-blocking syscall); slow effects (netlink, ARP,
scripts) go to per-group queues run by :mod:`~pycarp.runtime.effects`, in order, off that path.
"""
