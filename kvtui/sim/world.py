"""The simulated cluster's moving parts: a clock that can run fast, and controllers.

Controllers are synchronous and run on the server's event loop between requests, like
reconcilers with work queues: the store tells them what changed, they enqueue keys, and the
world loop drains the queues and fires timers set in simulated seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections.abc import Hashable
from typing import Any

from kvtui.sim.store import Obj, Store, now_rfc3339, random_suffix

log = logging.getLogger("kvtui.sim")

TICK_SECONDS = 0.05  # real seconds between world steps


class SimClock:
    """Wall-clock time, running `speed` times faster than real time from the moment it starts."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._origin = start if start is not None else time.time()
        self._mono0 = time.monotonic()
        self.offset = 0.0  # simulated seconds added by `advance`

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._mono0) * self.speed + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class Controller:
    """Base reconciler: `watches` lists resource keys whose changes call `on_event`."""

    name = "controller"
    watches: tuple[str, ...] = ()

    def __init__(self, world: World) -> None:
        self.world = world
        self.store = world.store
        self.queue: dict[Hashable, None] = {}

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        self.enqueue((key, meta.get("namespace", ""), meta["name"]))

    def enqueue(self, item: Hashable) -> None:
        self.queue[item] = None

    def after(self, seconds: float, item: Hashable) -> None:
        """Reconcile `item` again after `seconds` of simulated time."""
        self.world.schedule(seconds, self, item)

    def reconcile(self, item: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Called once per world step; for controllers that model continuous processes."""

    def start(self) -> None:
        """Called once after the scenario is loaded, before serving."""


class World:
    """Owns the store, the clock and the controllers, and steps them."""

    def __init__(self, store: Store, clock: SimClock, seed: int = 0) -> None:
        self.store = store
        self.clock = clock
        self.rng = random.Random(seed)
        self.controllers: list[Controller] = []
        self._timers: list[tuple[float, int, Controller, Hashable]] = []
        self._seq = itertools.count()
        self._by_key: dict[str, list[Controller]] = {}
        self._task: asyncio.Task | None = None
        self.settings: dict[str, Any] = {}
        store.listeners.append(self._dispatch)

    def add(self, controller: Controller) -> Controller:
        self.controllers.append(controller)
        for key in controller.watches:
            self._by_key.setdefault(key, []).append(controller)
        return controller

    def find(self, cls: type) -> Any:
        return next(c for c in self.controllers if isinstance(c, cls))

    def _dispatch(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        for controller in self._by_key.get(key, ()):
            controller.on_event(etype, key, obj, old)

    def schedule(self, seconds: float, controller: Controller, item: Hashable) -> None:
        heapq.heappush(
            self._timers, (self.clock.now() + seconds, next(self._seq), controller, item)
        )

    def now(self) -> float:
        return self.clock.now()

    def step(self, max_rounds: int = 50) -> int:
        """Fire due timers, tick, then drain work queues; returns the reconciles done."""
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, controller, item = heapq.heappop(self._timers)
            controller.enqueue(item)
        for controller in self.controllers:
            try:
                controller.tick(now)
            except Exception:  # a broken controller must not take the API server down
                log.exception("%s tick failed", controller.name)
        done = 0
        for _ in range(max_rounds):
            busy = False
            for controller in self.controllers:
                if not controller.queue:
                    continue
                busy = True
                items = list(controller.queue)
                controller.queue.clear()
                for item in items:
                    try:
                        controller.reconcile(item)
                    except Exception:
                        log.exception("%s failed to reconcile %r", controller.name, item)
                    done += 1
            if not busy:
                break
        return done

    def settle(self, max_steps: int = 200) -> None:
        """Run steps until no queue has work (used to bring a scenario to its steady state)."""
        for _ in range(max_steps):
            if not self.step() and not any(c.queue for c in self.controllers):
                return

    def fast_forward(self, seconds: float) -> None:
        """Run `seconds` of simulated time at once, jumping the clock from timer to timer.

        Used at start so a scenario is served in its steady state (VMs running) at once.
        """
        for controller in self.controllers:
            controller.start()
        self._started = True
        budget_end = self.clock.now() + seconds
        while True:
            self.settle()
            if not self._timers or self._timers[0][0] > budget_end:
                break
            self.clock.advance(max(0.0, self._timers[0][0] - self.clock.now()))

    async def run(self) -> None:
        if not getattr(self, "_started", False):
            for controller in self.controllers:
                controller.start()
            self._started = True
        while True:
            self.step()
            await asyncio.sleep(TICK_SECONDS)

    # -- events --------------------------------------------------------------------------
    def record_event(
        self,
        obj: Obj,
        reason: str,
        message: str,
        etype: str = "Normal",
        component: str = "virt-controller",
    ) -> None:
        """Write a core/v1 Event about `obj`, as the named component would."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        stamp = now_rfc3339(self.clock.now())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{random_suffix(10)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta["name"],
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": etype,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": component},
            "reportingComponent": component,
        }
        self.store.create("/events", event)
