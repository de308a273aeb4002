"""Every random stream of a run, derived from the run's one seed and a label.

Separate streams per purpose keep a run stable under unrelated changes: turning loss on does
not change the counters the machines draw, adding a fault does not change the boot times.
String seeds are hashed with SHA-512 by :mod:`random`, so they do not depend on
``PYTHONHASHSEED``.
"""

from __future__ import annotations

import random


def stream(seed: int, *labels: object) -> random.Random:
    """A deterministic generator for ``labels`` within the run seeded by ``seed``."""
    name = "/".join(str(label) for label in (seed, *labels))
    return random.Random(name)  # noqa: S311 - reproducibility is the point; no secret is made
