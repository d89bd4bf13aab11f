"""A session on one context: connection, live cache, audit log and config, opened together.

The UI receives a `Session` and asks it for everything: objects (from the cache), fresh
copies, events, permissions and operations, which are audited here, dry run or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import kinds, migrations, operations
from kvtui.cluster.audit import AuditLog
from kvtui.cluster.cache import ClusterCache
from kvtui.cluster.config import Config, is_read_only
from kvtui.cluster.connection import Connection, list_contexts
from kvtui.cluster.errors import AuditNotWritten, KubeError
from kvtui.cluster.metrics_prometheus_api import PrometheusSettings

PANE_KINDS = (kinds.NODES, kinds.PODS, kinds.VMS, kinds.VMIS, kinds.VMIMS, kinds.KUBEVIRTS)


@dataclass(frozen=True)
class Target:
    """What an operation acts on, as the confirmation and the audit log name it."""

    kind: str  # "node" | "vm" | "migration"
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind}/{self.name}"
        )


@dataclass(frozen=True)
class OperationResult:
    target: Target
    error: str | None = None


Operation = Callable[..., Awaitable[object]]

OPERATIONS: dict[str, tuple[str, Operation]] = {
    # action name -> (audit verb, operation)
    "cordon": ("cordon", operations.cordon),
    "uncordon": ("uncordon", operations.uncordon),
    "vm_start": ("start", operations.vm_start),
    "vm_stop": ("stop", operations.vm_stop),
    "vm_restart": ("restart", operations.vm_restart),
    "vm_migrate": ("migrate", operations.vm_migrate),
    "preset_migrate": ("migrate", operations.vm_migrate),  # VMs a preset changed, to pick it up
    "vm_migrate_to": ("migrate", migrations.migrate_vmi),
    "migration_cancel": ("cancel-migration", migrations.cancel_migration),
}


@dataclass
class Session:
    connection: Connection
    cache: ClusterCache
    config: Config
    audit: AuditLog
    read_only: bool
    contexts: list[str] = field(default_factory=list)
    user: str = ""
    # How the metrics pane reaches Prometheus (metrics_source.open_metrics_source).
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)

    @property
    def context(self) -> str:
        return self.connection.context

    @classmethod
    async def open(
        cls,
        kubeconfig: str | None,
        context: str | None,
        *,
        config: Config,
        namespace: str | None = None,
        read_only: bool = False,
        audit: AuditLog | None = None,
        sync_timeout: float = 60.0,
        watch: Sequence[kinds.Kind] = PANE_KINDS,
        prometheus: PrometheusSettings | None = None,
    ) -> Session:
        """Connect, check the server answers, and start the cache of the `watch` kinds
        (raises on failure)."""
        connection = await Connection.open(kubeconfig, context)
        try:
            await connection.check()
            user = await connection.whoami()
        except BaseException:
            await connection.close()
            raise
        # Change sets reach the panes at most refresh_hz times a second (default 10).
        interval = 1.0 / max(0.5, min(config.refresh_hz, 30.0))
        cache = ClusterCache(connection, watch, namespace=namespace, interval=interval)
        await cache.start()
        names, _ = list_contexts(kubeconfig)
        return cls(
            connection,
            cache,
            config,
            audit or AuditLog(),
            read_only or is_read_only(config, connection.context),
            names,
            user,
            prometheus or PrometheusSettings(),
        )

    async def close(self) -> None:
        await self.cache.stop()
        await self.connection.close()

    # -- reading -------------------------------------------------------------------------
    def cluster_eviction_default(self) -> str:
        """The KubeVirt CR's `spec.configuration.evictionStrategy` (built-in default None)."""
        for kv in self.cache.items(kinds.KUBEVIRTS):
            value = ((kv.get("spec") or {}).get("configuration") or {}).get("evictionStrategy")
            if value:
                return value
        return "None"

    async def fetch(self, kind: kinds.Kind, namespace: str | None, name: str) -> dict:
        """The full object, fresh from the API (the cache keeps trimmed copies)."""
        return await self.connection.get_json(kind.path(namespace, name))

    async def events_for(
        self, namespace: str | None, name: str, uid: str | None = None, kind: str | None = None
    ) -> list[dict]:
        """Recent events about one object, oldest first."""
        selector = [f"involvedObject.name={name}"]
        if kind:
            selector.append(f"involvedObject.kind={kind}")
        if uid:
            selector.append(f"involvedObject.uid={uid}")
        data = await self.connection.get_json(
            kinds.EVENTS.path(namespace or None), {"fieldSelector": ",".join(selector)}
        )
        items = data.get("items") or []
        items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return items

    async def denied_actions(
        self, rbac: Mapping[str, tuple[str, str, str, str] | None]
    ) -> dict[str, str]:
        """Action name -> reason, for each action the server says this user may not run."""
        denied: dict[str, str] = {}

        async def check(name: str, rule: tuple[str, str, str, str]) -> None:
            verb, group, resource, sub = rule
            try:
                allowed = await self.connection.can_i(
                    verb, group, resource, subresource=sub or None
                )
            except KubeError:
                return  # unknown: let the server decide when the action runs
            if not allowed:
                what = f"{resource}/{sub}" if sub else resource
                denied[name] = f"RBAC: {self.user or 'you'} may not {verb} {what}"

        await asyncio.gather(*(check(n, r) for n, r in rbac.items() if r))
        return denied

    # -- operations ----------------------------------------------------------------------
    def record(self, verb: str, target: str, dry_run: bool, error: str | None = None) -> None:
        """One audit line for a change made outside `run_operation` (a drain's steps).
        `AuditNotWritten` when the log refuses it."""
        self._audit(verb, target, dry_run, error)

    def _audit(
        self,
        verb: str,
        target: str,
        dry_run: bool,
        error: str | None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self.audit.record(
                context=self.context,
                user=self.user,
                verb=verb,
                target=target,
                dry_run=dry_run,
                result="error" if error else "ok",
                error=error,
                params=params,
            )
        except OSError as exc:
            done = "tried" if error else ("checked (dry run)" if dry_run else "done")
            raise AuditNotWritten(
                f"{verb} {target}: {done}, but the audit log {self.audit.path} could not be "
                f"written: {exc.strerror or exc}"
            ) from None

    async def run_operation(
        self,
        action: str,
        targets: Sequence[Target],
        dry_run: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> list[OperationResult]:
        """Run one operation on every target, auditing each, dry run or not; `params` are
        the operation's own keyword arguments (a migration's target node), audited too.

        A read-only session refuses here too, whatever the UI offered: defence in depth.
        """
        verb, operation = OPERATIONS[action]
        if self.read_only:
            return [OperationResult(t, "read-only session: nothing may change") for t in targets]
        results = []
        for target in targets:
            args = (target.name,) if target.namespace is None else (target.namespace, target.name)
            try:
                await operation(self.connection, *args, dry_run=dry_run, **(params or {}))
            except KubeError as exc:
                results.append(OperationResult(target, str(exc)))
            else:
                results.append(OperationResult(target))
            last = results[-1]
            try:
                self._audit(verb, str(target), dry_run, last.error, params)
            except AuditNotWritten as exc:  # said, and no further target is touched
                results[-1] = OperationResult(target, str(exc))
                results += [
                    OperationResult(t, "not attempted: the audit log cannot be written")
                    for t in targets[len(results) :]
                ]
                break
        return results
