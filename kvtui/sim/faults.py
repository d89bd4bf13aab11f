"""Fault injection for reliability tests: errors, latency, dropped watches, stuck migrations.

Set by `kvtui sim` flags at start and changed at run time through the admin endpoint
(`/_sim/faults`), so a test can break the cluster in a controlled way and watch the client cope.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    latency_ms: float = 0.0  # added to every API request
    error_429_share: float = 0.0  # share of API requests answered 429 with Retry-After
    error_500_share: float = 0.0  # share of API requests answered 500
    retry_after_seconds: int = 1
    watch_max_seconds: float = 0.0  # close every watch after this many real seconds (0: never)
    fail_migrations: list[str] = field(default_factory=list)  # VMI names whose migrations fail
    stall_migrations: list[str] = field(default_factory=list)  # VMI names that never converge

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; any bad key or value refuses the whole update."""
        known = {f.name for f in fields(self)}
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, key)
            if isinstance(current, list):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"fault {key!r} takes a list of names")
            elif isinstance(current, int | float):
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"fault {key!r} takes a number >= 0")
                if key.endswith("_share") and value > 1:
                    raise ValueError(f"fault {key!r} is a share between 0 and 1")
                value = type(current)(value)
            checked[key] = value
        for key, value in checked.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pick_error(self, rng: random.Random) -> int | None:
        """The injected status code for one request, or None to serve it normally."""
        roll = rng.random()
        if roll < self.error_429_share:
            return 429
        if roll < self.error_429_share + self.error_500_share:
            return 500
        return None
