"""``pycarp demo``: a live failover in a throwaway namespace lab, narrated for a human.

The pieces: :mod:`plan` (the embedded scenario: three hosts, two groups spread by advskew),
:mod:`board` (who is master of what, as a table), :mod:`screen` (live redraw on a terminal,
plain appended lines otherwise), :mod:`ping` (the client's view), :mod:`measure` (figures
from the bridge capture) and :mod:`story` (the steps, in order). The CLI is
:mod:`pycarp.cli.demo`.
"""
