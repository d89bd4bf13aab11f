"""A live, trimmed copy of the cluster: one informer per kind, change sets for subscribers.

Each informer lists its kind (in pages) and then watches from the list's resourceVersion, with
bookmarks, the way client-go's reflector and kopf do:

- a watch that ends (server timeout, dropped connection) resumes from the last resourceVersion
  seen (events and bookmarks move it), without listing again;
- `410 Expired` lists again quietly (state `syncing` → `synced`); the change set of a relist
  names what changed meanwhile, including objects that vanished;
- `403` puts only that kind in state `forbidden` (retried every 30 s); other failures put it in
  `degraded` and retry with jittered exponential backoff (0.8 s → 30 s), then list again.

Subscribers are called with coalesced `ChangeSet`s at most every `interval` seconds, never once
per event: a burst of 10,000 watch events is a handful of callbacks. Objects are stored trimmed
(see `trim.py`): fetch the full object from the API when a view needs more.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kvtui.cluster.errors import Expired, Forbidden, Unavailable
from kvtui.cluster.kinds import Kind
from kvtui.cluster.trim import Obj, trimmer

if TYPE_CHECKING:
    from kvtui.cluster.connection import Connection

log = logging.getLogger(__name__)

SYNCING = "syncing"
SYNCED = "synced"
DEGRADED = "degraded"
FORBIDDEN = "forbidden"

Key = tuple[str, str]  # (namespace or "", name)
PAGE_SIZE = 500
WATCH_TIMEOUT = 300  # seconds the server keeps a watch open (jittered ±10%)
FORBIDDEN_RETRY = 30.0
RESUME_AFTER = 1.0  # a watch that broke after running this long resumes without a relist


LIST_GC_THRESHOLD = 100_000  # young-generation threshold while lists decode


class _RelaxedGc:
    """While any list is being read, collect the young generation less often.

    Decoding and trimming a large list allocates millions of containers that all survive; at
    the default threshold (700) the collector rescans them over and over, which doubled the
    sync time of 10,000 VMIs and pods. Nested and concurrent lists share one relaxation; the
    previous thresholds come back when the last one ends.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._saved: tuple[int, ...] = ()

    def __enter__(self) -> None:
        if self._depth == 0:
            self._saved = gc.get_threshold()
            gen0, *older = self._saved
            gc.set_threshold(max(gen0, LIST_GC_THRESHOLD), *older)
        self._depth += 1

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            gc.set_threshold(*self._saved)


_relaxed_gc = _RelaxedGc()


@dataclass(frozen=True, slots=True)
class KindState:
    """Where one kind's informer stands; `since` is wall-clock time (time.time())."""

    phase: str  # "syncing" | "synced" | "degraded" | "forbidden"
    message: str = ""
    since: float = 0.0


@dataclass(slots=True)
class ChangeSet:
    """What changed since the last callback: keys per kind name (`Kind.name`), added, modified
    or deleted (look the key up to tell), and the kinds whose `KindState` changed.

    Every subscriber receives the same instance: read it, do not modify it.
    """

    kinds: dict[str, set[Key]] = field(default_factory=dict)
    states_changed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.kinds or self.states_changed)

    def keys(self, kind: Kind | str) -> set[Key]:
        """The changed keys of one kind (empty if none)."""
        return self.kinds.get(kind.name if isinstance(kind, Kind) else kind, set())

    def touches(self, kind: Kind | str) -> bool:
        """Whether objects or the state of this kind changed."""
        name = kind.name if isinstance(kind, Kind) else kind
        return name in self.kinds or name in self.states_changed


@dataclass(frozen=True)
class Backoff:
    """Jittered exponential backoff: base, 2×base, ... up to `cap`, each ±`jitter`."""

    base: float = 0.8
    cap: float = 30.0
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        raw = min(self.cap, self.base * 2 ** max(0, failures - 1))
        return min(self.cap, raw * random.uniform(1 - self.jitter, 1 + self.jitter))


class _Informer:
    """List-then-watch loop of one kind, feeding its objects and state to the cache."""

    def __init__(self, cache: ClusterCache, kind: Kind) -> None:
        self.cache = cache
        self.kind = kind
        self.path = kind.path(cache.namespace if kind.namespaced else None)
        self.trim = trimmer(kind.name)
        self.objects: dict[Key, Obj] = {}
        self.resource_version: str | None = None
        self.state = KindState(SYNCING, "", time.time())

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                if await self._watch():
                    failures = 0  # only a watch that worked ends a run of failures
            except asyncio.CancelledError:
                raise
            except Expired:
                # Too old a resourceVersion (compaction): list again, quietly.
                self.resource_version = None
                self._set_state(SYNCING, "resourceVersion expired: listing again")
            except Forbidden as exc:
                self.resource_version = None
                self._set_state(FORBIDDEN, str(exc))
                await asyncio.sleep(self.cache.forbidden_retry * random.uniform(0.9, 1.1))
            except Exception as exc:
                failures += 1
                if not isinstance(exc, Unavailable):
                    log.warning("%s informer: %r", self.kind.name, exc, exc_info=True)
                message = str(exc) or type(exc).__name__
                self.resource_version = None
                self._set_state(DEGRADED, message)
                delay = self.cache.backoff.delay(failures)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after:
                    delay = max(delay, min(float(retry_after), self.cache.backoff.cap))
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        with _relaxed_gc:
            await self._read_list()

    async def _read_list(self) -> None:
        """Read every page, then swap in the new map and report what differs from the old."""
        old = self.objects
        fresh: dict[Key, Obj] = {}
        params: dict[str, Any] = {"limit": self.cache.page_size}
        trim = self.trim
        while True:
            page = await self.cache.connection.get_json(self.path, params)
            for raw in page.get("items") or ():
                meta = raw.get("metadata") or {}
                key = (meta.get("namespace") or "", meta.get("name") or "")
                previous = old.get(key)
                if (
                    previous is not None
                    and previous["metadata"].get("resourceVersion") == meta.get("resourceVersion")
                    and meta.get("resourceVersion")
                ):
                    fresh[key] = previous  # unchanged: keep the trimmed copy we have
                else:
                    obj = trim(raw)
                    obj_meta = obj.get("metadata") or {}
                    fresh[(obj_meta.get("namespace") or "", obj_meta.get("name") or "")] = obj
            list_meta = page.get("metadata") or {}
            continue_token = list_meta.get("continue")
            if not continue_token:
                break
            params = {"limit": self.cache.page_size, "continue": continue_token}
        changed = {k for k, v in fresh.items() if old.get(k) is not v}
        changed.update(k for k in old if k not in fresh)
        self.objects = fresh
        self.resource_version = str(list_meta.get("resourceVersion") or "") or None
        if self.resource_version is None:
            # No resourceVersion to watch from: nothing to resume, so list again each time.
            log.warning("%s list has no resourceVersion", self.kind.name)
        self.cache._objects_changed(self.kind.name, changed)
        self._set_state(SYNCED, "")

    async def _watch(self) -> bool:
        """Apply events until the stream ends; a stream that broke after working resumes.

        True when the watch worked: it delivered events or stayed open a while.
        """
        if self.resource_version is None:
            await asyncio.sleep(self.cache.backoff.base)
            return False
        timeout = round(self.cache.watch_timeout * random.uniform(0.9, 1.1))
        params = {
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout,
        }
        started = time.monotonic()
        received = 0
        try:
            async for event in self.cache.connection.watch(self.path, params):
                received += 1
                self._apply(event)
        except Unavailable:
            if received or time.monotonic() - started >= RESUME_AFTER:
                log.debug("%s watch broke; resuming from %s", self.kind.name, self.resource_version)
                return True
            raise
        if received or time.monotonic() - started >= RESUME_AFTER:
            return True
        await asyncio.sleep(RESUME_AFTER)  # a server ending watches at once: do not spin
        return False

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        if kind == "BOOKMARK":
            if version:
                self.resource_version = version
            return
        if kind in ("ADDED", "MODIFIED"):
            trimmed = self.trim(obj)
            meta = trimmed.get("metadata") or {}
            key = (meta.get("namespace") or "", meta.get("name") or "")
            self.objects[key] = trimmed
        elif kind == "DELETED":
            key = (meta.get("namespace") or "", meta.get("name") or "")
            self.objects.pop(key, None)
        else:
            log.debug("%s watch: ignoring event type %r", self.kind.name, kind)
            return
        if version:
            self.resource_version = version
        self.cache._objects_changed(self.kind.name, (key,))

    def _set_state(self, phase: str, message: str) -> None:
        state = self.state
        if phase == state.phase and message == state.message:
            return
        # `since` is when the phase began; a new message in the same phase keeps it.
        since = state.since if phase == state.phase else time.time()
        self.state = KindState(phase, message, since)
        self.cache._state_changed(self.kind.name)


class ClusterCache:
    """Informers for the given kinds on one connection; read it, subscribe to its changes."""

    def __init__(
        self,
        connection: Connection,
        kinds: Sequence[Kind],
        namespace: str | None = None,
        *,
        interval: float = 0.1,
        page_size: int = PAGE_SIZE,
        backoff: Backoff | None = None,
        forbidden_retry: float = FORBIDDEN_RETRY,
        watch_timeout: int = WATCH_TIMEOUT,
    ) -> None:
        self.connection = connection
        self.namespace = namespace
        self.interval = interval
        self.page_size = page_size
        self.backoff = backoff or Backoff()
        self.forbidden_retry = forbidden_retry
        self.watch_timeout = watch_timeout
        self._informers: dict[str, _Informer] = {}
        for kind in kinds:
            if kind.name in self._informers:
                raise ValueError(f"kind {kind.name} given twice")
            self._informers[kind.name] = _Informer(self, kind)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribers: list[Callable[[ChangeSet], None]] = []
        self._pending = ChangeSet()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._sync_waiters: list[asyncio.Future[None]] = []

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every informer (returns at once; see `wait_synced`)."""
        if self._tasks:
            return
        for informer in self._informers.values():
            task = asyncio.create_task(informer.run(), name=f"kvtui-informer-{informer.kind}")
            self._tasks.append(task)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending = ChangeSet()

    # -- reading --------------------------------------------------------------------------
    def kinds(self) -> list[Kind]:
        return [informer.kind for informer in self._informers.values()]

    def has(self, kind: Kind | str) -> bool:
        """Does this cache watch the kind?"""
        return (kind.name if isinstance(kind, Kind) else kind) in self._informers

    def _informer(self, kind: Kind | str) -> _Informer:
        name = kind.name if isinstance(kind, Kind) else kind
        try:
            return self._informers[name]
        except KeyError:
            raise KeyError(f"{name} is not in this cache") from None

    def items(self, kind: Kind | str) -> list[Obj]:
        """Every cached object of a kind (trimmed raw dicts; do not modify them)."""
        return list(self._informer(kind).objects.values())

    def get(self, kind: Kind | str, namespace: str | None, name: str) -> Obj | None:
        return self._informer(kind).objects.get((namespace or "", name))

    def count(self, kind: Kind | str) -> int:
        return len(self._informer(kind).objects)

    def state(self, kind: Kind | str) -> KindState:
        return self._informer(kind).state

    def states(self) -> dict[str, KindState]:
        return {name: informer.state for name, informer in self._informers.items()}

    def resource_version(self, kind: Kind | str) -> str | None:
        """The resourceVersion the kind's informer has seen up to."""
        return self._informer(kind).resource_version

    def synced(self) -> bool:
        """Every kind is listed and watching."""
        return all(i.state.phase == SYNCED for i in self._informers.values())

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every kind is synced; False if `timeout` seconds pass first."""
        if self.synced():
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._sync_waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return self.synced()
        finally:
            with contextlib.suppress(ValueError):
                self._sync_waiters.remove(waiter)
        return True

    # -- change notification --------------------------------------------------------------
    def subscribe(self, callback: Callable[[ChangeSet], None]) -> Callable[[], None]:
        """Call `callback` with coalesced change sets; returns the function to unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _objects_changed(self, kind_name: str, keys: Iterable[Key]) -> None:
        if not self._subscribers:
            return
        pending = self._pending.kinds.get(kind_name)
        if pending is None:
            pending = self._pending.kinds[kind_name] = set()
        pending.update(keys)
        if pending:
            self._schedule_flush()
        else:
            del self._pending.kinds[kind_name]

    def _state_changed(self, kind_name: str) -> None:
        if self.synced():
            for waiter in self._sync_waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._subscribers:
            self._pending.states_changed.add(kind_name)
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.interval, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        changes, self._pending = self._pending, ChangeSet()
        if not changes:
            return
        for callback in list(self._subscribers):
            try:
                callback(changes)
            except Exception:
                log.exception("cache subscriber %r failed", callback)
