"""Shared parts of the benchmark scripts in ``bench/``: they print figures, they assert nothing.

Every script builds its own lab (:class:`pycarp.lab.Lab`), so all traffic stays inside network
namespaces and the lab's teardown ends every process it started, also on Ctrl-C.
"""
