"""The simulator's object store: raw dicts, one global resourceVersion, bounded watch history.

Everything runs on the server's event loop thread, so the store needs no locks. Stored objects
are treated as immutable: a change always stores a new dict (see `mutate`), which lets LIST and
watch hand the same object to many readers without copying.
"""

from __future__ import annotations

import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from kvtui.sim.resources import REGISTRY, Registry, Resource

Obj = dict[str, Any]
ObjKey = tuple[str, str]  # (namespace or "", name)

HISTORY_PER_KIND = 20_000
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class StoreError(Exception):
    """A request the store refuses; `code` and `reason` become the Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}


class WatchEvent:
    """One change. Live events carry the object; history keeps it encoded (`raw`), which is
    what watchers write anyway, so each event is encoded once however many watch it."""

    __slots__ = ("_obj", "_raw", "old", "rv", "type")

    def __init__(
        self,
        etype: str,
        rv: int,
        obj: Obj | None = None,
        old: Obj | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.type = etype
        self.rv = rv
        self._obj = obj
        self.old = old
        self._raw = raw

    @property
    def obj(self) -> Obj:
        if self._obj is None:
            self._obj = orjson.loads(self._raw or b"{}")
        return self._obj

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self._obj)
        return self._raw

    def archived(self) -> WatchEvent:
        """The form kept in history: encoded object, and only the old object's selectable
        fields (enough to tell when an object stopped matching a watch's selectors)."""
        return WatchEvent(self.type, self.rv, None, selectable_fields(self.old), self.raw)


def selectable_fields(obj: Obj | None) -> Obj | None:
    if obj is None:
        return None
    meta = obj.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": meta.get("labels"),
        },
        "spec": {
            k: v
            for k, v in (obj.get("spec") or {}).items()
            if k
            in (
                "nodeName",
                "unschedulable",
                "schedulerName",
                "restartPolicy",
                "serviceAccountName",
                "hostNetwork",
            )
        },
        "status": {
            k: v
            for k, v in (obj.get("status") or {}).items()
            if k in ("phase", "nodeName", "podIP", "nominatedNodeName")
        },
        **{
            k: obj[k]
            for k in ("involvedObject", "reason", "type", "reportingComponent", "source")
            if k in obj
        },
    }


Listener = Callable[[str, str, Obj, Obj | None], None]  # (event type, resource key, obj, old)


def clone(value: Any) -> Any:
    """Copy a JSON tree. Objects are plain JSON, so an orjson round trip does what
    `copy.deepcopy` would at a fraction of its cost (it dominated the large scenario's start-up).
    """
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return _clone_tree(value)


def _clone_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone_tree(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_clone_tree(v) if isinstance(v, dict | list) else v for v in value]
    return value


def now_rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(n: int = 5) -> str:
    return "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(n))


class Collection:
    """All objects of one resource, with the recent history of changes for watchers."""

    __slots__ = ("_encoded", "by_namespace", "history", "items", "resource", "watchers")

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.items: dict[ObjKey, Obj] = {}
        self.by_namespace: dict[str, dict[str, Obj]] = {}
        self._encoded: dict[int, bytes] = {}  # id(stored object) -> its JSON
        self.history: deque[WatchEvent] = deque(maxlen=HISTORY_PER_KIND)
        self.watchers: set[Callable[[WatchEvent], None]] = set()

    def oldest_rv(self) -> int:
        return self.history[0].rv if self.history else 0

    def encoded(self, obj: Obj) -> bytes:
        """The object's JSON, encoded once per version (LIST joins these)."""
        raw = self._encoded.get(id(obj))
        if raw is None:
            raw = self._encoded[id(obj)] = orjson.dumps(obj)
        return raw

    def remember(self, obj: Obj, raw: bytes) -> None:
        self._encoded[id(obj)] = raw

    def put(self, okey: ObjKey, obj: Obj) -> None:
        previous = self.items.get(okey)
        if previous is not None:
            self._encoded.pop(id(previous), None)
        self.items[okey] = obj
        self.by_namespace.setdefault(okey[0], {})[okey[1]] = obj

    def drop(self, okey: ObjKey) -> Obj:
        obj = self.items.pop(okey)
        self._encoded.pop(id(obj), None)
        names = self.by_namespace.get(okey[0])
        if names is not None:
            names.pop(okey[1], None)
            if not names:
                del self.by_namespace[okey[0]]
        return obj


class Store:
    """In-memory object store keyed by resource, namespace and name."""

    def __init__(self, clock: Callable[[], float], registry: Registry = REGISTRY) -> None:
        self.registry = registry
        self.clock = clock
        self.rv = 1
        self.collections: dict[str, Collection] = {r.key: Collection(r) for r in registry.resources}
        self.listeners: list[Listener] = []
        # The lowest resourceVersion a watch may resume from; raised by fault injection.
        self.compacted_rv = 0
        # Off while a scenario is brought to its steady state: no one watches yet.
        self.recording = True

    # -- reading -------------------------------------------------------------------------
    def collection(self, key: str) -> Collection:
        return self.collections[key]

    def get(self, key: str, namespace: str | None, name: str) -> Obj | None:
        return self.collections[key].items.get((namespace or "", name))

    def list(self, key: str, namespace: str | None = None) -> list[Obj]:
        coll = self.collections[key]
        if namespace:
            return list(coll.by_namespace.get(namespace, {}).values())
        return list(coll.items.values())

    def count(self, key: str) -> int:
        return len(self.collections[key].items)

    # -- writing -------------------------------------------------------------------------
    def _next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, coll: Collection, etype: str, obj: Obj, old: Obj | None) -> None:
        event = WatchEvent(etype, int(obj["metadata"]["resourceVersion"]), obj, old)
        if self.recording:
            coll.history.append(event.archived())
            if etype != "DELETED":
                coll.remember(obj, event.raw)
        for watcher in tuple(coll.watchers):
            watcher(event)
        for listener in self.listeners:
            listener(etype, coll.resource.key, obj, old)

    def create(self, key: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object, filling uid, resourceVersion, timestamps and generateName."""
        coll = self.collections[key]
        res = coll.resource
        obj = clone(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise StoreError(
                    422,
                    "Invalid",
                    f'{res.kind} "" is invalid: metadata.name: Required value: '
                    "name or generateName is required",
                )
            for _ in range(20):
                name = prefix + random_suffix()
                if (meta.get("namespace", "") if res.namespaced else "", name) not in coll.items:
                    break
            meta["name"] = name
        if res.namespaced:
            if not meta.get("namespace"):
                raise StoreError(400, "BadRequest", "the namespace of the object is required")
        else:
            meta.pop("namespace", None)
        okey = (meta.get("namespace", ""), meta["name"])
        if okey in coll.items:
            raise StoreError(
                409,
                "AlreadyExists",
                f'{_qualified(res)} "{meta["name"]}" already exists',
                {"name": meta["name"], "group": res.group, "kind": res.plural},
            )
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339(self.clock())
        meta.setdefault("generation", 1)
        meta.pop("deletionTimestamp", None)
        if dry_run:
            meta["resourceVersion"] = str(self.rv)
            return obj
        meta["resourceVersion"] = str(self._next_rv())
        coll.put(okey, obj)
        self._emit(coll, "ADDED", obj, None)
        return obj

    def replace(
        self,
        key: str,
        obj: Obj,
        *,
        check_rv: bool = True,
        dry_run: bool = False,
        owned: bool = False,
    ) -> Obj:
        """Store a new version of an existing object (PUT semantics, optimistic concurrency).

        `owned` says the caller hands over `obj` (a fresh copy nobody else holds).
        """
        coll = self.collections[key]
        res = coll.resource
        meta = obj.get("metadata") or {}
        okey = (meta.get("namespace", "") if res.namespaced else "", meta.get("name", ""))
        current = coll.items.get(okey)
        if current is None:
            raise StoreError(
                404,
                "NotFound",
                _not_found_message(res, okey[1]),
                {"name": okey[1], "group": res.group, "kind": res.plural},
            )
        wanted_rv = meta.get("resourceVersion")
        if check_rv and wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise StoreError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {_qualified(res)} "{okey[1]}": the object has '
                "been modified; please apply your changes to the latest version and try again",
                {"name": okey[1], "group": res.group, "kind": res.plural},
            )
        new = obj if owned else clone(obj)
        new["apiVersion"] = res.api_version
        new["kind"] = res.kind
        new_meta = new.setdefault("metadata", {})
        cur_meta = current["metadata"]
        for immutable in ("uid", "creationTimestamp", "namespace", "name"):
            if immutable in cur_meta:
                new_meta[immutable] = cur_meta[immutable]
        if "deletionTimestamp" in cur_meta:
            new_meta["deletionTimestamp"] = cur_meta["deletionTimestamp"]
            new_meta["deletionGracePeriodSeconds"] = cur_meta.get("deletionGracePeriodSeconds")
        generation = cur_meta.get("generation", 1)
        if new.get("spec") != current.get("spec"):
            generation += 1
        new_meta["generation"] = generation
        if dry_run:
            new_meta["resourceVersion"] = cur_meta["resourceVersion"]
            return new
        if (
            new_meta.get("deletionTimestamp")
            and not new_meta.get("finalizers")
            and cur_meta.get("finalizers")
        ):
            # The last finalizer went away on an object being deleted: it is gone now.
            new_meta["resourceVersion"] = str(self._next_rv())
            coll.drop(okey)
            self._emit(coll, "DELETED", new, current)
            return new
        new_meta["resourceVersion"] = str(self._next_rv())
        coll.put(okey, new)
        self._emit(coll, "MODIFIED", new, current)
        return new

    def mutate(
        self, key: str, namespace: str | None, name: str, change: Callable[[Obj], Any]
    ) -> Obj | None:
        """Apply `change` to a copy of the object and store it; None if it does not exist.

        Controllers use this; `change` may return False to skip the write (nothing changed).
        """
        current = self.get(key, namespace, name)
        if current is None:
            return None
        new = clone(current)
        if change(new) is False or new == current:
            return current
        return self.replace(key, new, check_rv=False, owned=True)

    def delete(
        self,
        key: str,
        namespace: str | None,
        name: str,
        *,
        grace_seconds: int | None = 0,
        dry_run: bool = False,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        """Delete now, or mark with deletionTimestamp when a grace period or finalizers apply."""
        coll = self.collections[key]
        res = coll.resource
        okey = (namespace or "" if res.namespaced else "", name)
        current = coll.items.get(okey)
        if current is None:
            raise StoreError(
                404,
                "NotFound",
                _not_found_message(res, name),
                {"name": name, "group": res.group, "kind": res.plural},
            )
        meta = current["metadata"]
        if uid and meta.get("uid") != uid:
            raise StoreError(
                409,
                "Conflict",
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{meta.get('uid')}",
            )
        if resource_version and meta.get("resourceVersion") != resource_version:
            raise StoreError(
                409,
                "Conflict",
                f"Precondition failed: ResourceVersion in precondition: {resource_version}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )
        if dry_run:
            return current
        if meta.get("finalizers") or (grace_seconds or 0) > 0:
            if meta.get("deletionTimestamp"):
                return current
            new = clone(current)
            new["metadata"]["deletionTimestamp"] = now_rfc3339(self.clock() + (grace_seconds or 0))
            new["metadata"]["deletionGracePeriodSeconds"] = grace_seconds or 0
            return self.replace(key, new, check_rv=False, owned=True)
        return self.remove(key, namespace, name)

    def remove(self, key: str, namespace: str | None, name: str) -> Obj:
        """Drop an object at once (a controller finishing a graceful deletion)."""
        coll = self.collections[key]
        okey = ((namespace or "") if coll.resource.namespaced else "", name)
        current = coll.drop(okey)
        gone = dict(current)
        gone["metadata"] = {**current["metadata"], "resourceVersion": str(self._next_rv())}
        self._emit(coll, "DELETED", gone, current)
        return gone

    def load(self, objects: Iterable[Obj]) -> None:
        """Bulk-create scenario objects, resolving each object's resource by apiVersion/kind."""
        for obj in objects:
            res = self.resource_for(obj)
            self.create(res.key, obj)

    def resource_for(self, obj: Obj) -> Resource:
        api_version = obj.get("apiVersion", "")
        group = api_version.rpartition("/")[0]
        res = self.registry.by_kind(group, obj.get("kind", ""))
        if res is None:
            raise StoreError(
                404,
                "NotFound",
                f'no matches for kind "{obj.get("kind")}" in version "{api_version}"',
            )
        return res


def _qualified(res: Resource) -> str:
    return f"{res.plural}.{res.group}" if res.group else res.plural


def _not_found_message(res: Resource, name: str) -> str:
    return f'{_qualified(res)} "{name}" not found'
