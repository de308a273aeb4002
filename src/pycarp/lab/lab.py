"""The lab as one object: build it, break it, run things in it, and always tear it down.

Used by the demo, the namespace/interop tests and the benchmarks::

    with Lab.create(hosts=3, client=True) as lab:
        lab.exec("h1", ["ping", "-c", "3", "-W", "1", str(lab.ipv4("h2").ip)])
        daemon = lab.popen("h2", ["pycarp", ...])
        lab.cut("h1")                      # h1 sees NO-CARRIER
        lab.partition(["h1"], ["h2", "h3"])
        lab.set_loss("h3", 30)

Teardown (leaving the ``with`` block, also on an exception or Ctrl-C, or at interpreter exit for
a lab that was never closed) ends every process the lab started, then anything else still in its
namespaces (by PID), deletes its nftables table and its namespaces.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
import types
import typing

from pycarp.core.constants import IPInterface
from pycarp.lab import impair, namespaces, programs, topology
from pycarp.lab.naming import (
    CLIENT,
    HOST_INTERFACE,
    LAB_PREFIX,
    SWITCH,
    LabError,
    LabNames,
    host_name,
    ipv4_of,
    ipv6_of,
    mac_of,
    owned_name,
    owner_pid,
    split_namespace,
)

_sequence = itertools.count(1)
_open_labs: set[Lab] = set()
_open_labs_lock = threading.Lock()


class Lab:
    """A switch, hosts ``h1``..``hN`` and maybe a ``client``, each in its own namespace."""

    def __init__(self, names: LabNames, nodes: typing.Sequence[str]) -> None:
        self.names = names
        self.hosts = tuple(node for node in nodes if node != CLIENT)
        self.client = CLIENT if CLIENT in nodes else None
        self._processes: list[subprocess.Popen[typing.Any]] = []
        self._closed = False
        self._run_dir: pathlib.Path | None = None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def create(cls, hosts: int = 2, *, client: bool = False, name: str | None = None) -> Lab:
        """Build a fresh lab owned by this process (torn down at exit if not closed before)."""
        if hosts < 1:
            raise LabError("a lab needs at least one host")
        lab = cls(LabNames(name or owned_name(next(_sequence))), _node_list(hosts, client))
        if any(namespaces.exists(lab.namespace(node)) for node in (SWITCH, *lab.nodes)):
            raise LabError(f"lab {lab.name} already exists")
        with _open_labs_lock:
            _open_labs.add(lab)
        try:
            lab._build()
        except BaseException:
            lab.close()
            raise
        return lab

    @classmethod
    def ensure(cls, name: str, hosts: int, *, client: bool = False) -> Lab:
        """Build whatever of lab ``name`` is missing (idempotent; for ``pycarp lab up``).

        Hosts beyond ``hosts`` that already exist are kept. The result is not closed at exit.
        """
        existing = cls.attach(name)
        wanted = _node_list(hosts, client)
        nodes = list(existing.nodes) if existing else []
        nodes += [node for node in wanted if node not in nodes]
        lab = cls(LabNames(name), sorted(nodes, key=_node_order))
        lab._build()
        return lab

    @classmethod
    def attach(cls, name: str) -> Lab | None:
        """The lab called ``name`` as its namespaces describe it, or None if there is none."""
        names = LabNames(name)
        roles = [names.role_of(ns) for ns in namespaces.list_namespaces()]
        nodes = sorted((role for role in roles if role and role != SWITCH), key=_node_order)
        if not nodes and SWITCH not in roles:
            return None
        return cls(names, nodes)

    @staticmethod
    def existing() -> list[str]:
        """Names of every lab that has at least one namespace."""
        found = {split[0] for ns in namespaces.list_namespaces() if (split := split_namespace(ns))}
        return sorted(found)

    @staticmethod
    def cleanup_stale(prefix: str = LAB_PREFIX, *, include_live: bool = False) -> list[str]:
        """Delete the namespaces of crashed runs: labs under ``prefix`` whose owner is gone.

        User-named labs (``pycarp lab up``) and labs of live processes are kept unless
        ``include_live``. Returns the namespaces deleted.
        """
        removed: list[str] = []
        for namespace in namespaces.list_namespaces():
            split = split_namespace(namespace)
            if split is None or not namespace.startswith(prefix):
                continue
            pid = owner_pid(split[0])
            owner_alive = pid is None or namespaces.process_alive(pid)
            if owner_alive and not include_live:
                continue
            if split[1] == SWITCH:
                impair.delete_table(namespace)
            namespaces.delete_namespace(namespace)
            removed.append(namespace)
        return removed

    def _build(self) -> None:
        topology.build_switch(self.names)
        for node in self.nodes:
            topology.build_node(self.names, node)
        impair.install_table(self.switch_namespace, self.nodes)

    # -- naming and addressing ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.names.name

    @property
    def nodes(self) -> tuple[str, ...]:
        """Hosts, then the client if there is one."""
        return self.hosts + ((self.client,) if self.client else ())

    @property
    def switch_namespace(self) -> str:
        return self.names.switch

    def namespace(self, node: str) -> str:
        return self.names.namespace(node)

    def ipv4(self, node: str) -> ipaddress.IPv4Interface:
        """The node's own address on eth0 (198.51.100.N/24; the client is .250)."""
        return ipv4_of(self.require_node(node))

    def ipv6(self, node: str) -> ipaddress.IPv6Interface:
        """The node's own address on eth0 (2001:db8::N/64)."""
        return ipv6_of(self.require_node(node))

    def mac(self, node: str) -> str:
        return mac_of(self.require_node(node))

    interface = HOST_INTERFACE

    @property
    def run_dir(self) -> pathlib.Path:
        """A short directory of this lab's own (control sockets must fit in 107 bytes), removed
        with the lab."""
        if self._run_dir is None:
            self._run_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        return self._run_dir

    def require_node(self, node: str) -> str:
        """``node`` if this lab has it (``sw`` included), else LabError naming the nodes."""
        if node not in self.nodes and node != SWITCH:
            raise LabError(f"lab {self.name} has no node {node!r} (nodes: {', '.join(self.nodes)})")
        return node

    # -- running things -------------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: typing.Sequence[str],
        *,
        timeout: float = 30.0,
        check: bool = False,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the node's namespace to completion (text output captured).

        A missing program raises MissingProgram (never just a non-zero status); the exit
        status of a program that ran is the caller's to judge (see programs.check_status).
        """
        programs.require(argv[0])
        try:
            return subprocess.run(
                namespaces.exec_argv(self.namespace(self.require_node(node)), argv),
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=check,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"timed out after {timeout:g} s in {node}: {' '.join(argv)}") from exc

    @typing.overload
    def popen(
        self,
        node: str,
        argv: typing.Sequence[str],
        *,
        text: typing.Literal[False] = ...,
        stdin: int | None = ...,
        stdout: int | typing.IO[typing.Any] | None = ...,
        stderr: int | typing.IO[typing.Any] | None = ...,
        env: typing.Mapping[str, str] | None = ...,
    ) -> subprocess.Popen[bytes]: ...

    @typing.overload
    def popen(
        self,
        node: str,
        argv: typing.Sequence[str],
        *,
        text: typing.Literal[True],
        stdin: int | None = ...,
        stdout: int | typing.IO[typing.Any] | None = ...,
        stderr: int | typing.IO[typing.Any] | None = ...,
        env: typing.Mapping[str, str] | None = ...,
    ) -> subprocess.Popen[str]: ...

    def popen(
        self,
        node: str,
        argv: typing.Sequence[str],
        *,
        text: bool = False,
        stdin: int | None = None,
        stdout: int | typing.IO[typing.Any] | None = None,
        stderr: int | typing.IO[typing.Any] | None = None,
        env: typing.Mapping[str, str] | None = None,
    ) -> subprocess.Popen[typing.Any]:
        """Start ``argv`` in the node's namespace; the lab ends it (by PID) at teardown.

        The child gets its own session, so a Ctrl-C in the terminal reaches only us and the
        teardown ends children in order (SIGTERM first: a daemon can release its addresses).
        A missing program raises MissingProgram before anything starts.
        """
        programs.require(argv[0], env)
        process = subprocess.Popen(
            namespaces.exec_argv(self.namespace(self.require_node(node)), argv),
            text=text,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def inside(self, node: str) -> contextlib.AbstractContextManager[None]:
        """Move the calling thread into the node's namespace for the body (see namespaces)."""
        return namespaces.inside(self.namespace(self.require_node(node)))

    # -- looking ----------------------------------------------------------------------------

    def addresses(self, node: str, interface: str = HOST_INTERFACE) -> list[IPInterface]:
        """Every address on the node's interface, link-local included, as ``ip -j addr``."""
        return namespaces.addresses(self.namespace(self.require_node(node)), interface)

    def carrier(self, node: str, interface: str = HOST_INTERFACE) -> bool:
        """True when the node's interface is up and sees carrier (not NO-CARRIER)."""
        flags = namespaces.link_flags(self.namespace(self.require_node(node)), interface)
        return "UP" in flags and "LOWER_UP" in flags

    def virtual_addresses(self, node: str) -> list[IPInterface]:
        """Addresses on the node's eth0 beyond its own (who holds which virtual address)."""
        own = {self.ipv4(node), self.ipv6(node)}
        return [
            address
            for address in self.addresses(node)
            if address not in own and not address.ip.is_link_local
        ]

    def impairments(self) -> dict[str, str]:
        """Per node: 'loss N%'; key '*': 'partitioned' when a partition is in place."""
        return impair.describe(self.switch_namespace)

    # -- breaking -------------------------------------------------------------------------

    def cut(self, node: str) -> None:
        """Pull the node's cable: its switch port goes down, the node sees NO-CARRIER."""
        impair.set_carrier(self.switch_namespace, self.require_node(node), up=False)

    def heal(self, node: str) -> None:
        """Plug the cable back in (undoes :meth:`cut`)."""
        impair.set_carrier(self.switch_namespace, self.require_node(node), up=True)

    def partition(self, *groups: typing.Collection[str]) -> None:
        """Traffic flows only inside each group; nodes not named form one more group.

        Carrier stays up everywhere: this is the split-brain case, not a cable pull.
        """
        named = [set(group) for group in groups]
        for group in named:
            for node in group:
                self.require_node(node)
        rest = set(self.nodes).difference(*named)
        impair.partition(self.switch_namespace, [*named, rest] if rest else named)

    def isolate(self, *nodes: str) -> None:
        """Each given node can reach nobody (the rest still reach each other)."""
        self.partition(*({node} for node in nodes))

    def reconnect(self) -> None:
        """Remove every partition/isolation (undoes :meth:`partition` and :meth:`isolate`)."""
        impair.partition(self.switch_namespace, [])

    def set_loss(self, node: str, percent: float) -> None:
        """Drop ``percent`` % of the frames to and from the node, at random (nftables)."""
        impair.set_loss(self.switch_namespace, self.require_node(node), percent)

    def clear_loss(self, node: str) -> None:
        impair.set_loss(self.switch_namespace, self.require_node(node), 0)

    def reset(self) -> None:
        """Every impairment off: cables in, no partition, no loss."""
        self.reconnect()
        for node in self.nodes:
            self.heal(node)
            self.clear_loss(node)

    # -- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        """Tear everything down; safe to call twice; Ctrl-C is held back until it is done."""
        if self._closed:
            return
        self._closed = True
        with _sigint_deferred():
            try:
                namespaces.end_processes(
                    [process.pid for process in self._processes if process.poll() is None]
                )
                for process in self._processes:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=1.0)
                try:
                    impair.delete_table(self.switch_namespace)
                finally:  # the namespaces go even if nft cannot (their tables go with them)
                    for node in (*self.nodes, SWITCH):
                        namespaces.delete_namespace(self.namespace(node))
            finally:
                if self._run_dir is not None:
                    shutil.rmtree(self._run_dir, ignore_errors=True)
                with _open_labs_lock:
                    _open_labs.discard(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Lab {self.name}: {', '.join(self.nodes)}>"


def _node_list(hosts: int, client: bool) -> list[str]:
    return [host_name(index) for index in range(1, hosts + 1)] + ([CLIENT] if client else [])


def _node_order(node: str) -> tuple[int, int]:
    return (1, 0) if node == CLIENT else (0, int(node[1:]))


@contextlib.contextmanager
def _sigint_deferred() -> typing.Iterator[None]:
    """Hold SIGINT during teardown (a second Ctrl-C must not leave namespaces behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


@atexit.register
def _close_forgotten_labs() -> None:
    with _open_labs_lock:
        labs = list(_open_labs)
    for lab in labs:
        with contextlib.suppress(Exception):
            lab.close()
