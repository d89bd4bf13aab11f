"""Running a drain: cordon, evict, follow every VM by watch to a clear end.

What `kubectl drain` does, minus what makes it look hung. Evictions go through the eviction
API only (PodDisruptionBudgets and KubeVirt's webhook stay in charge). KubeVirt's 429
"Eviction triggered evacuation" is progress, not an error: after it, the drain watches the
VMI and its VirtualMachineInstanceMigration instead of asking again every 5 s. A refusal that
is a real blocker (not live-migratable, a PodDisruptionBudget) is retried after 5–7 s, never
sooner. Each VM's state is derived from the cluster as the cache's watches report it, so a
drain resumed after a dropped SSH session shows the same board as the one that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kvtui.cluster import kinds, migrations, operations
from kvtui.cluster.cache import ClusterCache
from kvtui.cluster.connection import Connection
from kvtui.cluster.drain import DrainPlan, Outcome, PodPlan, migration_settings
from kvtui.cluster.drain_journal import DrainJournal, JournalEntry
from kvtui.cluster.errors import AuditNotWritten, Forbidden, KubeError, NotFound
from kvtui.cluster.presenters import human_duration
from kvtui.cluster.views import Migration, Pod, Vmi

RETRY_DELAY = 5.0  # kubectl drain's pause between evictions of the same pod; never less
RETRY_JITTER = 2.0
STUCK_AFTER = 60.0
PENDING_PHASES = ("", "Pending", "Scheduling")
# What a drain follows by watch; the rest of the plan's inputs are read once.
WATCHED = (kinds.PODS, kinds.VMIS, kinds.VMIMS)


class State(StrEnum):
    WAITING = "waiting"
    EVICTING = "evicting"
    EVACUATING = "evacuation requested"
    MIGRATING = "migrating"
    FAILED = "migration failed"
    REPLACING = "being replaced"
    SHUTTING_DOWN = "shutting down"
    BLOCKED = "blocked"
    MIGRATED = "migrated"
    REPLACED = "replaced"
    SHUT_DOWN = "shut down"
    RESTARTED = "restarted"
    EVICTED = "evicted"
    CANCELLED = "cancelled"


FINAL = frozenset({State.MIGRATED, State.REPLACED, State.SHUT_DOWN, State.RESTARTED, State.EVICTED})


@dataclass
class DrainOptions:
    timeout: float | None = None  # seconds; None waits for ever, like kubectl drain
    delete_emptydir_data: bool = False
    force: bool = False
    dry_run: bool = False
    retry_delay: float = RETRY_DELAY
    retry_jitter: float = RETRY_JITTER
    stuck_after: float = STUCK_AFTER

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DrainItem:
    """One pod the drain must move (a VM's virt-launcher pod, or any other pod)."""

    plan: PodPlan
    pod_uid: str = ""
    vmi_uid: str = ""
    state: State = State.WAITING
    phase: str = ""  # the migration's phase while migrating
    migration: str = ""
    target: str = ""
    message: str = ""  # the last blocker, refusal or failure reason
    stuck: str = ""  # set by the stuck detector: why the migration does not start
    started: float | None = None  # monotonic: first eviction sent
    ended: float | None = None
    phase_seen: float | None = None  # monotonic: when this phase was first seen
    attempts: int = 0
    last_attempt: float | None = None
    next_attempt: float = 0.0
    evicted: bool = False  # the API accepted an eviction (the pod goes)
    evacuation: bool = False  # KubeVirt answered "evacuation triggered"
    refused: bool = False  # the last eviction was refused for a real reason
    failed_migrations: set[str] = field(default_factory=set)
    failure: str = ""  # why the last migration failed
    inflight: bool = False
    history: list[tuple[float, str]] = field(default_factory=list)
    shown: str = ""  # the label listeners last heard about
    processed_bytes: int | None = None
    remaining_bytes: int | None = None
    converging: bool | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def label(self) -> str:
        """The state as one phrase: "migrating (Running)", "blocked: <why>"."""
        if self.state is State.MIGRATING and self.phase:
            return f"migrating ({self.phase})"
        if self.state in (State.BLOCKED, State.FAILED) and self.message:
            return f"{self.state.value}: {self.message}"
        return self.state.value


@dataclass
class Verdict:
    node: str
    status: str  # drained | dry run | cancelled | timed out | stopped | not drained
    seconds: float
    counts: Counter[str]
    remaining: list[tuple[str, str]]  # (name, state) of pods that did not get out

    @property
    def drained(self) -> bool:
        return self.status == "drained"

    def line(self) -> str:
        took = human_duration(self.seconds)
        c = self.counts
        parts = [f"{c[State.MIGRATED]} migrated", f"{c[State.REPLACED]} replaced"]
        shut = c[State.SHUT_DOWN] + c[State.RESTARTED]
        if shut:
            parts.append(
                f"{shut} shut down"
                + (f" ({c[State.RESTARTED]} restarted)" if c[State.RESTARTED] else "")
            )
        if c[State.EVICTED]:
            parts.append(f"{c[State.EVICTED]} other pods evicted")
        parts.append(f"{c[State.BLOCKED]} blocked")
        if c[State.FAILED]:
            parts.append(f"{c[State.FAILED]} failed")
        if self.status == "dry run":
            return (
                f"dry run of {self.node}: the server would evict {c[State.EVICTING]} pods, "
                f"start {c[State.EVACUATING]} evacuations (live migration or KKP replacement) "
                f"and refuse {c[State.BLOCKED]}; nothing changed"
            )
        head = (
            f"{self.node} drained in {took}"
            if self.status == "drained"
            else f"{self.node} {self.status} after {took}"
        )
        return f"{head}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "status": self.status,
            "drained": self.drained,
            "seconds": round(self.seconds, 1),
            "counts": {str(k): v for k, v in self.counts.items()},
            "remaining": [{"name": n, "state": s} for n, s in self.remaining],
            "line": self.line(),
        }


Listener = Callable[["Drain", list[tuple[DrainItem, str]]], None]
Recorder = Callable[[str, str, bool, str | None], None]  # verb, target, dry_run, error
TimeoutChoice = Callable[["Drain"], Awaitable[str]]  # -> "wait" | "cancel" | "delete" | "stop"


def _eviction(pod: PodPlan, dry_run: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.pod, "namespace": pod.namespace},
    }
    if dry_run:
        body["deleteOptions"] = {"dryRun": ["All"]}
    return body


WEBHOOK_PREFIX = re.compile(r'^admission webhook "[^"]+" denied the request: ')


def _refusal(message: str) -> str:
    """The webhook's own words, without the API server's wrapping."""
    return WEBHOOK_PREFIX.sub("", message)


def _is_evacuation(message: str) -> bool:
    """KubeVirt's webhook answers 429 with this when it took over (fact sheet §6.1)."""
    return "evacuation" in message.lower()


class Drain:
    """One drain of one node, from cordon to verdict; `run()` drives it."""

    def __init__(
        self,
        conn: Connection,
        cache: ClusterCache,
        plan: DrainPlan,
        options: DrainOptions | None = None,
        *,
        context: str = "",
        journal: DrainJournal | None = None,
        record: Recorder | None = None,
        on_timeout: TimeoutChoice | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        resumed: JournalEntry | None = None,
    ) -> None:
        self.conn = conn
        self.cache = cache
        self.plan = plan
        self.node = plan.node
        self.options = options or DrainOptions()
        self.context = context
        self.journal = journal
        self.record = record
        self.on_timeout = on_timeout
        self.clock = clock
        self.rng = rng or random.Random()
        self.entry = resumed
        self.resumed = resumed is not None
        self.items = [
            DrainItem(p, pod_uid=p.pod_uid, vmi_uid=p.vmi_uid)
            for p in plan.pods
            if p.outcome is not Outcome.IGNORE
        ]
        self.errors: list[str] = []
        self.started: float | None = None
        self.ended: float | None = None
        self.status = "not started"
        self.verdict: Verdict | None = None
        self._listeners: list[Listener] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._stop: str | None = None  # why the loop should end early
        self._by_vmi: dict[tuple[str, str], list[Migration]] = {}

    # -- wiring ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def error(self, message: str) -> None:
        """The persistent error panel: each distinct message once, newest last."""
        if message in self.errors:
            self.errors.remove(message)
        self.errors.append(message)
        del self.errors[:-20]

    def _audit(
        self, verb: str, target: str, error: str | None = None, dry_run: bool | None = None
    ) -> None:
        if self.record is None:
            return
        dry = self.options.dry_run if dry_run is None else dry_run
        try:
            self.record(verb, target, dry, error)
        except (OSError, AuditNotWritten) as exc:  # a plain AuditLog, or a Session's
            self.error(f"audit log not written: {exc}")

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or self.clock()) - self.started

    # -- deriving each item's state from the cluster ---------------------------------------
    def _index_migrations(self) -> None:
        """Migrations by (namespace, VMI), oldest first: one pass over the VMIMs per refresh,
        not one per VM (finished VMIMs pile up on a busy cluster)."""
        index: dict[tuple[str, str], list[Migration]] = {}
        for raw in self.cache.items(kinds.VMIMS):
            migration = Migration(raw)
            index.setdefault(migration.vmi_key, []).append(migration)
        for found in index.values():
            found.sort(key=lambda m: (m.created, m.name))
        self._by_vmi = index

    def _migrations_of(self, namespace: str, vmi: str) -> list[Migration]:
        return self._by_vmi.get((namespace, vmi), [])

    def _derive(self, item: DrainItem) -> tuple[State, str]:
        """(state, message) of one item from the cache plus what our requests learned."""
        plan = item.plan
        if self.options.dry_run:
            return self._derive_dry_run(item)
        raw_pod = self.cache.get(kinds.PODS, plan.namespace, plan.pod)
        pod = Pod(raw_pod) if raw_pod is not None else None
        pod_done = pod is None or pod.terminated or (item.pod_uid and pod.uid != item.pod_uid)
        if not plan.is_vm:
            if pod_done:
                return State.EVICTED, ""
            if item.refused or (plan.outcome is Outcome.BLOCKED and not item.attempts):
                return State.BLOCKED, item.message or plan.detail
            return (
                (State.EVICTING, "terminating")
                if item.evicted
                else (State.EVICTING if item.attempts else State.WAITING, "")
            )
        raw_vmi = self.cache.get(kinds.VMIS, plan.namespace, plan.vmi)
        vmi = Vmi(raw_vmi) if raw_vmi is not None else None
        same = vmi is not None and (not item.vmi_uid or vmi.uid == item.vmi_uid)
        if same and vmi.node and vmi.node != self.node and vmi.phase == "Running":
            item.target = vmi.node
            return State.MIGRATED, ""
        if not same:
            if vmi is not None and vmi.node and vmi.node != self.node:
                item.target = vmi.node
                return State.RESTARTED, ""
            if plan.strategy == "External":
                return (State.REPLACED if pod_done else State.REPLACING), ""
            return (State.SHUT_DOWN if pod_done else State.SHUTTING_DOWN), ""
        # The VMI is still on this node (or shutting down here).
        active = None
        for migration in self._migrations_of(plan.namespace, plan.vmi):
            if (
                migration.phase == "Failed"
                and migration.name not in item.failed_migrations
                and (item.started is not None or migration.evacuation)
            ):
                item.failed_migrations.add(migration.name)
                item.failure = migration.migration_state.get("failureReason") or "failed"
            if not migration.final:
                active = migration
        if active is not None:
            item.migration = active.name
            item.target = active.target_node or item.target
            return State.MIGRATING, active.phase or "Pending"
        if vmi.phase in ("Succeeded", "Failed") or pod_done:
            if plan.strategy == "External":  # KKP deleted the VM: it stops on its way out
                return (State.REPLACED if pod_done else State.REPLACING), ""
            return (State.SHUT_DOWN if pod_done else State.SHUTTING_DOWN), ""
        if vmi.evacuation_node == self.node:
            item.evacuation = True
            if plan.strategy == "External":
                return State.REPLACING, "KKP is draining the user-cluster node"
            if item.failed_migrations:
                retry = f"KubeVirt retries with backoff (failed {len(item.failed_migrations)}×)"
                return State.FAILED, f"{item.failure}; {retry}"
            return State.EVACUATING, ""
        if item.refused:
            return State.BLOCKED, item.message
        if plan.outcome is Outcome.BLOCKED and not item.attempts:
            return State.BLOCKED, plan.detail
        if item.evicted:
            return State.SHUTTING_DOWN, ""
        return (State.EVICTING if item.attempts else State.WAITING), ""

    @staticmethod
    def _derive_dry_run(item: DrainItem) -> tuple[State, str]:
        """A dry run changes nothing: the state is what the server said it would do."""
        if item.refused:
            return State.BLOCKED, item.message
        if item.evacuation:
            return State.EVACUATING, ""
        if item.evicted:
            return State.EVICTING, ""
        if item.plan.outcome is Outcome.BLOCKED:
            return State.BLOCKED, item.plan.detail
        return State.WAITING, ""

    def _stuck(self, item: DrainItem, now: float) -> str:
        """Why a migration sits in Pending/Scheduling longer than `stuck_after`, else ""."""
        if item.state is not State.MIGRATING or item.phase not in PENDING_PHASES:
            return ""
        if item.phase_seen is None or now - item.phase_seen < self.options.stuck_after:
            return ""
        if item.phase == "Scheduling":
            migration = self.cache.get(kinds.VMIMS, item.plan.namespace, item.migration)
            target_pod = Migration(migration).migration_state.get("targetPod") if migration else ""
            raw = self.cache.get(kinds.PODS, item.plan.namespace, target_pod or "")
            cond = Pod(raw).condition("PodScheduled") if raw else None
            why = (cond or {}).get("message") or "the target pod is not scheduled yet"
            return f"target pod {target_pod}: {why}"
        settings = self.plan.migrations or migration_settings(None)
        running = [
            Migration(m)
            for m in self.cache.items(kinds.VMIMS)
            if not Migration(m).final and Migration(m).phase not in ("", "Pending")
        ]
        outbound = sum(1 for m in running if m.source_node == self.node)
        return (
            f"waiting for a migration slot: {len(running)} running "
            f"(parallelMigrationsPerCluster {settings['parallelMigrationsPerCluster']}), "
            f"{outbound} outbound from {self.node} "
            f"(parallelOutboundMigrationsPerNode {settings['parallelOutboundMigrationsPerNode']})"
        )

    def refresh(self) -> list[tuple[DrainItem, str]]:
        """Re-derive every item; returns (item, previous label) for those that changed."""
        now = self.clock()
        changes = []
        self._index_migrations()
        for item in self.items:
            before = item.shown
            state, detail = self._derive(item)
            if state is State.MIGRATING:
                if detail != item.phase:
                    item.phase_seen = now
                item.phase = detail
            else:
                item.phase = ""
                if state in (State.BLOCKED, State.FAILED, State.REPLACING):
                    item.message = detail or item.message
            item.state = state
            if item.final:
                item.message = ""  # what held it up is over
            item.stuck = self._stuck(item, now)
            if item.final and item.ended is None:
                item.ended = now
            if item.label != before:
                item.shown = item.label
                item.history.append((now, item.label))
                changes.append((item, before))
        if changes:
            for listener in list(self._listeners):
                listener(self, changes)
        return changes

    # -- evicting -------------------------------------------------------------------------
    def _wants_eviction(self, item: DrainItem) -> bool:
        if item.inflight or item.evicted:
            return False
        plan = item.plan
        if self.options.dry_run:
            return item.attempts == 0 and self._pod_present(item)
        if plan.outcome is Outcome.BLOCKED and (
            "emptyDir" in plan.detail or "no controller" in plan.detail
        ):
            return False  # kubectl's refusals: only the admin's options change them
        if not self._pod_present(item):
            return False
        # A migrated VM's source pod has completed and holds nothing: one eviction per pod
        # (the one that started the evacuation) is all a drain needs to send.
        # KubeVirt or KKP is on these, or the pod is going: asking again changes nothing.
        return item.state not in (
            State.MIGRATED,
            State.MIGRATING,
            State.EVACUATING,
            State.FAILED,
            State.REPLACING,
            State.SHUTTING_DOWN,
            State.SHUT_DOWN,
            State.REPLACED,
        )

    def _pod_present(self, item: DrainItem) -> bool:
        raw = self.cache.get(kinds.PODS, item.plan.namespace, item.plan.pod)
        return raw is not None and (not item.pod_uid or Pod(raw).uid == item.pod_uid)

    async def _evict(self, item: DrainItem) -> None:
        plan = item.plan
        path = kinds.PODS.path(plan.namespace, plan.pod) + "/eviction"
        first = item.attempts == 0
        now = self.clock()
        item.attempts += 1
        item.last_attempt = now
        if item.started is None:
            item.started = now
        error: str | None = None
        try:
            await self.conn.request(
                "POST",
                path,
                body=_eviction(plan, self.options.dry_run),
                dry_run=self.options.dry_run,
            )
        except NotFound:
            item.evicted = True
        except Forbidden as exc:
            error = str(exc)
            item.refused, item.message = True, exc.message
            item.next_attempt = float("inf")  # RBAC does not change by retrying
            self.error(f"{plan.pod}: {exc}")
        except KubeError as exc:
            delay = self.options.retry_delay
            if exc.code == 429 and _is_evacuation(exc.message):
                # Progress: the next eviction only removes the completed source pod.
                item.evacuation, item.refused, item.message = True, False, ""
            else:
                error = exc.message
                item.refused, item.message = True, _refusal(exc.message)
                delay += self.rng.uniform(0, self.options.retry_jitter)
                if exc.code != 429:
                    self.error(f"{plan.pod}: {exc}")
            item.next_attempt = now + delay
        else:
            item.evicted, item.refused, item.message = True, False, ""
        finally:
            item.inflight = False
            self._wake.set()
        if first or error is None:
            self._audit("evict", f"pod/{plan.namespace}/{plan.pod}", error)

    def _start_evictions(self) -> None:
        now = self.clock()
        for item in self.items:
            if item.next_attempt <= now and self._wants_eviction(item):
                item.inflight = True
                task = asyncio.create_task(self._evict(item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _next_wake(self) -> float:
        now = self.clock()
        soonest = 1.0
        for item in self.items:
            if not item.final and item.next_attempt > now:
                soonest = min(soonest, item.next_attempt - now)
        return max(0.02, soonest)

    def done(self) -> bool:
        return (
            all(i.final for i in self.items)
            and not any(self._wants_eviction(i) for i in self.items)
            and not self._tasks
        )

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> Verdict:
        """Cordon, evict, follow to the end; returns the verdict (also kept in `verdict`)."""
        self.started = self.clock()
        if self.resumed and self.entry is not None:
            # A resumed drain's time runs from when it was first started.
            self.started -= max(0.0, time.time() - self.entry.started)
        self.status = "running"
        unsubscribe = self.cache.subscribe(lambda _changes: self._wake.set())
        try:
            await self._begin()
            self.refresh()
            while self._stop is None:
                self._start_evictions()
                if (
                    self.options.dry_run
                    and all(not i.inflight for i in self.items)
                    and all(i.attempts or not self._wants_eviction(i) for i in self.items)
                    and not self._tasks
                ):
                    self._stop = "dry run"
                    break
                if self.done():
                    self._stop = "drained"
                    break
                if self._timed_out():
                    await self._handle_timeout()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._next_wake())
                self._wake.clear()
                self.refresh()
        finally:
            unsubscribe()
            for task in list(self._tasks):
                task.cancel()
        return self._finish(self._stop or "stopped")

    async def _begin(self) -> None:
        if self.journal is not None and self.entry is None and not self.options.dry_run:
            self.entry = self.journal.start(
                self.context, self.node, self.options.to_dict(), self.plan.to_dict()
            )
        if self.plan.cordoned or self.resumed:
            return  # cordoned before the plan was made, or by the drain being resumed
        try:
            await operations.cordon(self.conn, self.node, dry_run=self.options.dry_run)
        except KubeError as exc:
            self._audit("cordon", f"node/{self.node}", str(exc))
            raise
        self._audit("cordon", f"node/{self.node}")

    def _timed_out(self) -> bool:
        timeout = self.options.timeout
        return (
            timeout is not None
            and self.started is not None
            and (self.clock() - self.started > timeout)
        )

    async def _handle_timeout(self) -> None:
        choice = "stop" if self.on_timeout is None else await self.on_timeout(self)
        if choice == "wait":
            # Another period of the same length before asking again.
            self.options.timeout = (self.clock() - (self.started or 0.0)) + (
                self.options.timeout or 0.0
            )
        elif choice == "cancel":
            self._stop = "cancelled"
        elif choice == "delete":
            await self.delete_remaining()
        else:
            self._stop = "timed out"

    def stop(self, why: str = "stopped") -> None:
        """End the loop at the next turn (the UI's Cancel goes through `cancel`)."""
        self._stop = why
        self._wake.set()

    def _finish(self, status: str) -> Verdict:
        self.ended = self.clock()
        self.refresh()
        counts: Counter[str] = Counter(i.state.value for i in self.items)
        remaining = [(i.name, i.label) for i in self.items if not i.final]
        if status == "drained" and remaining:
            status = "not drained"
        self.status = status
        self.verdict = Verdict(self.node, status, self.elapsed, counts, remaining)
        if self.journal is not None and self.entry is not None and status != "stopped":
            # "stopped" is an interruption (a context switch): the drain resumes later.
            self.journal.finish(self.entry, status, self.verdict.line())
        ok = self.verdict.drained or status == "dry run"
        self._audit("drain", f"node/{self.node}", None if ok else status)
        for listener in list(self._listeners):
            listener(self, [])
        return self.verdict

    # -- the admin's ways out ---------------------------------------------------------------
    async def cancel(
        self, cancel_migrations: bool = True, uncordon: bool = False, dry_run: bool = False
    ) -> list[str]:
        """Stop evicting; optionally call back in-flight migrations and uncordon the node.

        Returns what could not be undone. A migration is called back by cancelling the VMI's
        evacuation (so KubeVirt creates no new one) and deleting its unfinished VMIM.
        """
        if not dry_run:
            self._stop = "cancelled"
            self._wake.set()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, KubeError):
                await task
        problems: list[str] = []
        self._index_migrations()
        if cancel_migrations:
            for item in self.items:
                if item.plan.is_vm and not item.final:
                    problems += await self._call_back(item, dry_run)
        if uncordon:
            try:
                await operations.uncordon(self.conn, self.node, dry_run=dry_run)
                self._audit("uncordon", f"node/{self.node}", dry_run=dry_run)
            except KubeError as exc:
                problems.append(f"uncordon {self.node}: {exc}")
                self._audit("uncordon", f"node/{self.node}", str(exc), dry_run=dry_run)
        for problem in problems:
            self.error(problem)
        return problems

    async def _call_back(self, item: DrainItem, dry_run: bool) -> list[str]:
        plan = item.plan
        problems = []
        raw = self.cache.get(kinds.VMIS, plan.namespace, plan.vmi)
        if raw is not None and Vmi(raw).evacuation_node:
            path = kinds.VMI_SUBRESOURCES.path(plan.namespace, plan.vmi, "evacuate/cancel")
            try:
                await self.conn.request(
                    "PUT", path, body={"dryRun": ["All"]} if dry_run else {}, dry_run=dry_run
                )
                self._audit(
                    "cancel-evacuation", f"vmi/{plan.namespace}/{plan.vmi}", dry_run=dry_run
                )
            except NotFound:
                pass
            except KubeError as exc:
                problems.append(f"{plan.vmi}: cancel evacuation: {exc}")
        for migration in self._migrations_of(plan.namespace, plan.vmi):
            if migration.final:
                continue
            try:
                await migrations.cancel_migration(
                    self.conn, plan.namespace, migration.name, dry_run=dry_run
                )
                self._audit(
                    "cancel-migration", f"vmim/{plan.namespace}/{migration.name}", dry_run=dry_run
                )
            except NotFound:
                pass
            except KubeError as exc:
                problems.append(f"{plan.vmi}: cancel migration {migration.name}: {exc}")
        return problems

    async def delete_remaining(self) -> list[str]:
        """DELETE the pods still on the node (the explicit, confirmed last resort, like
        machine-controller's skipEvictionAfter): their VMs stop without migrating."""
        problems = []
        for item in self.items:
            if item.final or not self._pod_present(item):
                continue
            plan = item.plan
            try:
                await self.conn.request(
                    "DELETE",
                    kinds.PODS.path(plan.namespace, plan.pod),
                    dry_run=self.options.dry_run,
                )
                item.evicted = True
                self._audit("delete", f"pod/{plan.namespace}/{plan.pod}")
            except NotFound:
                item.evicted = True
            except KubeError as exc:
                problems.append(f"{plan.pod}: {exc}")
                self._audit("delete", f"pod/{plan.namespace}/{plan.pod}", str(exc))
        for problem in problems:
            self.error(problem)
        self._wake.set()
        return problems


def remaining_pods(items: Iterable[DrainItem]) -> list[DrainItem]:
    return [i for i in items if not i.final]
