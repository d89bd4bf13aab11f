"""kube-controller-manager's garbage collector and namespace controller, and event expiry.

Deleting a VM must take its VMI, and the VMI its virt-launcher pods, along (background
cascading deletion through ownerReferences); deleting a namespace empties it first.
"""

from __future__ import annotations

import contextlib

from kvtui.sim.store import Obj, StoreError
from kvtui.sim.world import Controller

EVENT_TTL_SECONDS = 3600.0  # kube-apiserver's default --event-ttl


class GarbageCollector(Controller):
    name = "garbage-collector"

    def __init__(self, world) -> None:
        super().__init__(world)
        self.dependents: dict[str, set[tuple[str, str, str]]] = {}
        self.owner_of: dict[tuple[str, str, str], list[str]] = {}
        world.store.listeners.append(self._index)

    def _index(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        ref = (key, meta.get("namespace", ""), meta["name"])
        previous = self.owner_of.pop(ref, [])
        for uid in previous:
            self.dependents.get(uid, set()).discard(ref)
        if etype != "DELETED":
            owners = [o.get("uid") for o in meta.get("ownerReferences") or () if o.get("uid")]
            if owners:
                self.owner_of[ref] = owners
                for uid in owners:
                    self.dependents.setdefault(uid, set()).add(ref)
        else:
            if meta.get("uid") in self.dependents:
                self.enqueue(("orphans", meta["uid"]))
            if key == "/namespaces":
                self.enqueue(("namespace", meta["name"]))
        if etype != "DELETED" and key == "/namespaces" and meta.get("deletionTimestamp"):
            self.enqueue(("namespace", meta["name"]))

    def reconcile(self, item: tuple[str, str]) -> None:
        kind, value = item
        if kind == "orphans":
            for key, namespace, name in list(self.dependents.pop(value, ())):
                obj = self.store.get(key, namespace, name)
                if obj is None or obj["metadata"].get("deletionTimestamp"):
                    continue
                grace = 0
                if key == "/pods":
                    grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
                with contextlib.suppress(StoreError):
                    self.store.delete(key, namespace, name, grace_seconds=grace)
        elif kind == "namespace":
            self._empty_namespace(value)

    def _empty_namespace(self, namespace: str) -> None:
        ns = self.store.get("/namespaces", None, namespace)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for coll in self.store.collections.values():
            if not coll.resource.namespaced:
                continue
            for obj in self.store.list(coll.resource.key, namespace):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(StoreError):
                        self.store.delete(coll.resource.key, namespace, obj["metadata"]["name"])
        if remaining:
            self.after(1.0, ("namespace", namespace))
            return
        self.store.remove("/namespaces", None, namespace)

    def tick(self, now: float) -> None:
        """Expire old events, as the API server's event TTL does."""
        last = getattr(self, "_last_expiry", 0.0)
        if now - last < 60:
            return
        self._last_expiry = now
        import calendar
        import time

        cutoff = now - EVENT_TTL_SECONDS
        for event in self.store.list("/events"):
            stamp = event.get("lastTimestamp") or event["metadata"].get("creationTimestamp")
            try:
                at = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
            except (TypeError, ValueError):
                continue
            if at < cutoff:
                self.store.remove(
                    "/events", event["metadata"]["namespace"], event["metadata"]["name"]
                )
