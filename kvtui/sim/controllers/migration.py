"""Live migration: the evacuation controller, the migration controller, and a pre-copy model.

Memory moves at the migration bandwidth while the guest dirties it again; a migration converges
when what is left fits in the allowed downtime. One that does not is aborted by KubeVirt's
progress and completion timeouts, unless auto-converge (throttle the guest) or post-copy saves it.
All limits come from the KubeVirt CR's `spec.configuration.migrations` (fact sheet §6.3, §6.5).
"""

from __future__ import annotations

import calendar
import contextlib
import time
from typing import Any

from kvtui.sim.controllers.podutil import pod_is_terminated
from kvtui.sim.controllers.vmi import guest_memory, launcher_pod, phase_transition
from kvtui.sim.kubevirt import (
    FINAL_VMIM_PHASES,
    PODS,
    VMIMS,
    VMIS,
    cluster_config,
    condition_true,
    effective_eviction_strategy,
    migration_config,
    remove_condition,
    set_condition,
)
from kvtui.sim.model import (
    ANN_DIRTY_RATE,
    DEFAULT_DIRTY_RATE,
    LABEL_MIGRATION_TARGET,
    LABEL_VMI_NODE,
    MigrationProgress,
)
from kvtui.sim.quantity import bytes_of
from kvtui.sim.store import Obj, StoreError, clone, now_rfc3339
from kvtui.sim.world import Controller

MIGRATION_FINALIZER = "kubevirt.io/migrationJobFinalize"
UNLIMITED_BANDWIDTH = 1024**3  # "0Mi" means unlimited: a 10 GbE link gives about this
DEFAULT_DOWNTIME_MS = 900
TARGET_PREPARE_SECONDS = 1.0
UNSCHEDULABLE_TIMEOUT = 300.0
ACTIVE_PHASES = ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady", "Running")
PRIORITY_ORDER = {"system-critical": 0, "user-triggered": 1, "system-maintenance": 2}
EVACUATION_BACKOFF = (20.0, 40.0, 80.0, 160.0, 300.0)


def vmim_phase(vmim: Obj) -> str:
    return (vmim.get("status") or {}).get("phase") or ""


def _ts(seconds: float) -> str:
    return now_rfc3339(seconds)


class EvacuationController(Controller):
    """Creates a `kubevirt-evacuation-` migration for every VMI marked for evacuation."""

    name = "virt-controller/evacuation"
    watches = (VMIS, VMIMS, "/nodes")

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        # VMI uid -> (failed migrations so far, simulated time of the last failure)
        self.failures: dict[str, tuple[int, float]] = {}

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if key == VMIS:
            self.enqueue((meta["namespace"], meta["name"]))
        elif key == VMIMS:
            self.enqueue((meta["namespace"], obj.get("spec", {}).get("vmiName", "")))
        elif key == "/nodes" and self._drain_tainted(obj):
            for vmi in self.store.list(VMIS):
                if (vmi.get("status") or {}).get("nodeName") == meta["name"]:
                    self.enqueue((vmi["metadata"]["namespace"], vmi["metadata"]["name"]))

    def _drain_tainted(self, node: Obj) -> bool:
        key = migration_config(self.store)["nodeDrainTaintKey"]
        return any(
            t.get("key") == key and t.get("effect") == "NoSchedule"
            for t in (node.get("spec") or {}).get("taints") or ()
        )

    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        vmi = self.store.get(VMIS, namespace, name)
        if vmi is None or vmi["metadata"].get("deletionTimestamp"):
            return
        status = vmi.get("status") or {}
        node = status.get("nodeName")
        if status.get("phase") != "Running" or not node:
            return
        marked = status.get("evacuationNodeName") == node
        node_obj = self.store.get("/nodes", None, node)
        if not marked and not (node_obj and self._drain_tainted(node_obj)):
            return
        strategy = effective_eviction_strategy(self.store, vmi)
        migratable = condition_true(vmi, "LiveMigratable")
        if strategy not in ("LiveMigrate", "LiveMigrateIfPossible") or not migratable:
            return  # External and None are never migrated by KubeVirt
        for vmim in self.store.list(VMIMS, namespace):
            if (vmim.get("spec") or {}).get("vmiName") == name and vmim_phase(
                vmim
            ) not in FINAL_VMIM_PHASES:
                return  # already migrating
        count, last_failure = self.failures.get(vmi["metadata"]["uid"], (0, 0.0))
        if count:
            wait = EVACUATION_BACKOFF[min(count - 1, len(EVACUATION_BACKOFF) - 1)]
            if self.world.now() < last_failure + wait:
                self.after(last_failure + wait - self.world.now() + 0.01, item)
                return
        descheduler = (vmi["metadata"].get("annotations") or {}).get(
            "kubevirt.io/eviction-source"
        ) == "descheduler"
        migration = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {
                "generateName": "kubevirt-evacuation-",
                "namespace": namespace,
                "labels": {"kubevirt.io/vmi-name": name},
                "annotations": {"kubevirt.io/evacuationMigration": node},
            },
            "spec": {
                "vmiName": name,
                "priority": "system-maintenance" if descheduler else "system-critical",
            },
        }
        created = self.store.create(VMIMS, migration)
        self.world.record_event(
            vmi, "SuccessfulCreate", f"Created Migration {created['metadata']['name']}"
        )


class MigrationController(Controller):
    """Drives VMIMs through their phases and runs the memory model of running migrations."""

    name = "virt-controller/migration"
    watches = (VMIMS, PODS)

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        self.progress: dict[str, MigrationProgress] = world.settings.setdefault("migrations", {})
        self.guest_dirty_rate: dict[str, float] = {}  # VMI uid -> rate before throttling
        self._last_tick: float | None = None

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if key == VMIMS:
            self.enqueue((meta["namespace"], meta["name"]))
            if etype == "DELETED" or vmim_phase(obj) in FINAL_VMIM_PHASES:
                self._wake_pending()
            return
        job = (meta.get("annotations") or {}).get("kubevirt.io/migrationJobName")
        if job:
            self.enqueue((meta["namespace"], job))

    def _wake_pending(self) -> None:
        for vmim in self.store.list(VMIMS):
            if vmim_phase(vmim) == "Pending":
                self.enqueue((vmim["metadata"]["namespace"], vmim["metadata"]["name"]))

    # -- phases --------------------------------------------------------------------------
    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        vmim = self.store.get(VMIMS, namespace, name)
        if vmim is None:
            return
        if vmim["metadata"].get("deletionTimestamp"):
            self._cancel(vmim)
            return
        phase = vmim_phase(vmim)
        if phase in FINAL_VMIM_PHASES:
            return
        vmi = self.store.get(VMIS, namespace, (vmim.get("spec") or {}).get("vmiName", ""))
        if phase == "":
            self._accept(vmim)
        elif vmi is None or (vmi.get("status") or {}).get("phase") != "Running":
            self._finish(vmim, vmi, False, "VMI is not running")
        elif phase == "Pending":
            self._try_schedule(vmim, vmi)
        elif phase in ("Scheduling", "Scheduled", "PreparingTarget", "TargetReady"):
            self._follow_target(vmim, vmi)

    def _set_phase(self, vmim: Obj, phase: str, **status: Any) -> Obj | None:
        now = self.world.now()
        meta = vmim["metadata"]

        def change(obj: Obj) -> None:
            st = obj.setdefault("status", {})
            phase_transition(st, phase, now)
            st.update(status)

        return self.store.mutate(VMIMS, meta["namespace"], meta["name"], change)

    def _accept(self, vmim: Obj) -> None:
        meta = vmim["metadata"]
        vmi_name = (vmim.get("spec") or {}).get("vmiName", "")

        def change(obj: Obj) -> None:
            om = obj["metadata"]
            if MIGRATION_FINALIZER not in (om.get("finalizers") or []):
                om.setdefault("finalizers", []).append(MIGRATION_FINALIZER)
            om.setdefault("labels", {})["kubevirt.io/vmi-name"] = vmi_name
            phase_transition(obj.setdefault("status", {}), "Pending", self.world.now())

        self.store.mutate(VMIMS, meta["namespace"], meta["name"], change)

    def _try_schedule(self, vmim: Obj, vmi: Obj) -> None:
        if not condition_true(vmi, "LiveMigratable"):
            self._finish(vmim, vmi, False, "VMI is not live-migratable")
            return
        cfg = migration_config(self.store)
        active = [m for m in self.store.list(VMIMS) if vmim_phase(m) in ACTIVE_PHASES]
        vmi_name = vmi["metadata"]["name"]
        if any(
            (m.get("spec") or {}).get("vmiName") == vmi_name
            and m["metadata"]["namespace"] == vmim["metadata"]["namespace"]
            for m in active
        ):
            return  # one migration per VMI at a time: this one waits in Pending
        source = (vmi.get("status") or {}).get("nodeName")
        outbound = sum(
            1
            for m in active
            if (m.get("status") or {}).get("migrationState", {}).get("sourceNode") == source
        )
        if len(active) >= int(cfg["parallelMigrationsPerCluster"]) or outbound >= int(
            cfg["parallelOutboundMigrationsPerNode"]
        ):
            return  # stays Pending; woken when a migration ends
        if self._first_in_line(vmim, source) is False:
            return
        meta = vmim["metadata"]
        pod = launcher_pod(vmi, cluster_config(self.store).get("cpuRequest", "100m"))
        pod["metadata"]["labels"]["kubevirt.io/migrationJobUID"] = meta["uid"]
        pod["metadata"]["annotations"]["kubevirt.io/migrationJobName"] = meta["name"]
        # addedNodeSelector narrows where the target may go; on a key the VMI's own node
        # selector also sets, the VMI's value wins (a migration cannot escape its rules).
        added = (vmim.get("spec") or {}).get("addedNodeSelector") or {}
        if added:
            selector = pod["spec"].setdefault("nodeSelector", {})
            for key, value in added.items():
                selector.setdefault(key, value)
        affinity = pod["spec"].setdefault("affinity", {}).setdefault("nodeAffinity", {})
        required = affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.setdefault("nodeSelectorTerms", []) or [{}]
        exclude = {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": [source]}
        for term in terms:
            term.setdefault("matchExpressions", []).append(exclude)
        required["nodeSelectorTerms"] = terms
        target = self.store.create(PODS, pod)
        state = {
            "migrationUid": meta["uid"],
            "sourceNode": source,
            "sourcePod": self._source_pod_name(vmi),
            "targetPod": target["metadata"]["name"],
            "mode": "PreCopy",
            "completed": False,
            "failed": False,
        }
        self._set_phase(vmim, "Scheduling", migrationState=state)
        self.world.record_event(
            vmi,
            "PreparingTarget",
            f"Migration {meta['name']}: created target pod {target['metadata']['name']}",
        )

    def _first_in_line(self, vmim: Obj, source: str | None) -> bool:
        """Pending migrations go by priority, then age (KubeVirt's priority queue)."""
        pending = [m for m in self.store.list(VMIMS) if vmim_phase(m) == "Pending"]
        pending.sort(
            key=lambda m: (
                PRIORITY_ORDER.get((m.get("spec") or {}).get("priority", "user-triggered"), 1),
                m["metadata"]["creationTimestamp"],
                m["metadata"]["name"],
            )
        )
        cfg = migration_config(self.store)
        active = sum(1 for m in self.store.list(VMIMS) if vmim_phase(m) in ACTIVE_PHASES)
        free = int(cfg["parallelMigrationsPerCluster"]) - active
        return vmim["metadata"]["uid"] in {m["metadata"]["uid"] for m in pending[: max(free, 0)]}

    def _source_pod_name(self, vmi: Obj) -> str:
        node = (vmi.get("status") or {}).get("nodeName")
        uid = vmi["metadata"]["uid"]
        for pod in self.store.list(PODS, vmi["metadata"]["namespace"]):
            labels = pod["metadata"].get("labels") or {}
            if (
                labels.get("kubevirt.io/created-by") == uid
                and not pod_is_terminated(pod)
                and (pod.get("spec") or {}).get("nodeName") == node
            ):
                return pod["metadata"]["name"]
        return ""

    def _target_pod(self, vmim: Obj) -> Obj | None:
        state = (vmim.get("status") or {}).get("migrationState") or {}
        return self.store.get(PODS, vmim["metadata"]["namespace"], state.get("targetPod", ""))

    def _follow_target(self, vmim: Obj, vmi: Obj) -> None:
        now = self.world.now()
        phase = vmim_phase(vmim)
        pod = self._target_pod(vmim)
        if pod is None or pod["metadata"].get("deletionTimestamp") or pod_is_terminated(pod):
            self._finish(vmim, vmi, False, "target pod is gone")
            return
        pod_phase = (pod.get("status") or {}).get("phase")
        node = (pod.get("spec") or {}).get("nodeName")
        if phase == "Scheduling":
            if pod_phase != "Running":
                started = self._phase_time(vmim, "Scheduling")
                if now - started > UNSCHEDULABLE_TIMEOUT:
                    self._finish(vmim, vmi, False, "target pod could not be scheduled in time")
                else:
                    self.after(5.0, (vmim["metadata"]["namespace"], vmim["metadata"]["name"]))
                return
            state = dict((vmim.get("status") or {}).get("migrationState") or {})
            state.update(
                targetNode=node, targetNodeAddress=(pod.get("status") or {}).get("hostIP", "")
            )
            vmim = self._set_phase(vmim, "Scheduled", migrationState=state) or vmim
            vmim = self._set_phase(vmim, "PreparingTarget") or vmim
            self._mark_vmi_target(vmi, vmim, pod)
            self.after(
                TARGET_PREPARE_SECONDS, (vmim["metadata"]["namespace"], vmim["metadata"]["name"])
            )
            return
        if phase == "PreparingTarget":
            if now - self._phase_time(vmim, "PreparingTarget") < TARGET_PREPARE_SECONDS:
                self.after(
                    TARGET_PREPARE_SECONDS,
                    (vmim["metadata"]["namespace"], vmim["metadata"]["name"]),
                )
                return
            vmim = self._set_phase(vmim, "TargetReady") or vmim
            self._start_transfer(vmim, vmi)

    def _phase_time(self, vmim: Obj, phase: str) -> float:
        for stamp in reversed((vmim.get("status") or {}).get("phaseTransitionTimestamps") or ()):
            if stamp.get("phase") == phase:
                return calendar.timegm(
                    time.strptime(stamp["phaseTransitionTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
                )
        return self.world.now()

    def _mark_vmi_target(self, vmi: Obj, vmim: Obj, pod: Obj) -> None:
        state = (vmim.get("status") or {}).get("migrationState") or {}
        meta = vmi["metadata"]

        def change(obj: Obj) -> None:
            st = obj.setdefault("status", {})
            obj["metadata"].setdefault("labels", {})[LABEL_MIGRATION_TARGET] = state.get(
                "targetNode", ""
            )
            active = dict(st.get("activePods") or {})
            active[pod["metadata"]["uid"]] = state.get("targetNode", "")
            st["activePods"] = active
            st["migrationState"] = {**state, "targetNodeDomainDetected": False}

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)

    def _start_transfer(self, vmim: Obj, vmi: Obj) -> None:
        now = self.world.now()
        state = dict((vmim.get("status") or {}).get("migrationState") or {})
        state["startTimestamp"] = _ts(now)
        state["targetNodeDomainReadyTimestamp"] = _ts(now)
        vmim = self._set_phase(vmim, "Running", migrationState=state) or vmim
        memory = guest_memory(vmi)
        dirty = bytes_of(
            (vmi["metadata"].get("annotations") or {}).get(ANN_DIRTY_RATE, DEFAULT_DIRTY_RATE)
        )
        self.progress[vmi["metadata"]["uid"]] = MigrationProgress(
            vmi_namespace=vmi["metadata"]["namespace"],
            vmi_name=vmi["metadata"]["name"],
            migration_name=vmim["metadata"]["name"],
            source_node=state.get("sourceNode", ""),
            target_node=state.get("targetNode", ""),
            memory_bytes=memory,
            remaining_bytes=memory,
            dirty_rate=float(dirty),
            started_at=now,
            last_progress_at=now,
        )
        self.guest_dirty_rate[vmi["metadata"]["uid"]] = float(dirty)
        meta = vmi["metadata"]

        def change(obj: Obj) -> None:
            obj.setdefault("status", {})["migrationState"] = {
                **state,
                "targetNodeDomainDetected": True,
            }

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)
        faults = self.world.settings.get("faults")
        if faults is not None and meta["name"] in faults.fail_migrations:
            self._finish(vmim, vmi, False, "migration failed (injected by the simulator)")

    # -- the memory model ----------------------------------------------------------------
    def tick(self, now: float) -> None:
        last, self._last_tick = self._last_tick, now
        if last is None or not self.progress:
            return
        dt = max(0.0, now - last)
        if dt == 0:
            return
        cfg = migration_config(self.store)
        bandwidth = bytes_of(cfg.get("bandwidthPerMigration") or 0) or UNLIMITED_BANDWIDTH
        downtime = DEFAULT_DOWNTIME_MS / 1000 * bandwidth
        faults = self.world.settings.get("faults")
        for uid, prog in list(self.progress.items()):
            vmim = self.store.get(VMIMS, prog.vmi_namespace, prog.migration_name)
            vmi = self.store.get(VMIS, prog.vmi_namespace, prog.vmi_name)
            if vmim is None or vmi is None or vmim_phase(vmim) != "Running":
                self.progress.pop(uid, None)
                continue
            stalled = faults is not None and prog.vmi_name in faults.stall_migrations
            dirty = self.guest_dirty_rate.get(uid, prog.dirty_rate)
            if stalled:
                dirty = max(dirty, bandwidth * 1.5)
            if cfg.get("allowAutoConverge") and now - prog.started_at > 5:
                # auto-converge throttles the guest's vCPUs harder the longer it takes
                throttle = min(0.99, 0.2 + 0.1 * (now - prog.started_at - 5) / 5)
                dirty *= 1 - throttle
            prog.transfer_rate = bandwidth
            prog.processed_bytes += int(bandwidth * dt)
            before = prog.remaining_bytes
            # Never more left than the guest has: a page dirtied twice is sent once.
            prog.remaining_bytes = min(
                prog.memory_bytes, max(0, int(prog.remaining_bytes + (dirty - bandwidth) * dt))
            )
            prog.dirty_rate = dirty
            prog.iteration += 1
            if prog.remaining_bytes < before - bandwidth * dt * 0.01:
                prog.last_progress_at = now
            if prog.mode == "PostCopy" or prog.remaining_bytes <= downtime:
                self._finish(vmim, vmi, True, "")
                continue
            elapsed = now - prog.started_at
            completion = float(cfg["completionTimeoutPerGiB"]) * max(
                1.0, prog.memory_bytes / 1024**3
            )
            if now - prog.last_progress_at > float(cfg["progressTimeout"]):
                self._finish(
                    vmim,
                    vmi,
                    False,
                    "Live migration stuck for "
                    f"{int(now - prog.last_progress_at)} sec and has been aborted",
                )
            elif elapsed > completion:
                if cfg.get("allowPostCopy"):
                    prog.mode = "PostCopy"
                    self._set_mode(vmi, "PostCopy")
                else:
                    self._finish(
                        vmim,
                        vmi,
                        False,
                        f"Live migration is not completed after "
                        f"{int(completion)} sec and has been aborted",
                    )

    def _set_mode(self, vmi: Obj, mode: str) -> None:
        meta = vmi["metadata"]
        self.store.mutate(
            VMIS,
            meta["namespace"],
            meta["name"],
            lambda o: (
                o.setdefault("status", {})
                .setdefault("migrationState", {})
                .__setitem__("mode", mode)
            ),
        )

    # -- endings -------------------------------------------------------------------------
    def _finish(self, vmim: Obj, vmi: Obj | None, succeeded: bool, reason: str) -> None:
        now = self.world.now()
        self.progress.pop((vmi or {}).get("metadata", {}).get("uid", ""), None)
        state = dict((vmim.get("status") or {}).get("migrationState") or {})
        # KubeVirt's `completed` means the migration process ended, whatever its outcome.
        state.update(endTimestamp=_ts(now), completed=True, failed=not succeeded)
        if not succeeded:
            state["failureReason"] = reason
        target = self._target_pod(vmim)
        if vmi is not None:
            self._update_vmi_after(vmi, vmim, state, succeeded, target)
        if succeeded:
            self._complete_source_pod(vmi, state)
        elif target is not None and not target["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(StoreError):
                self.store.delete(
                    PODS,
                    target["metadata"]["namespace"],
                    target["metadata"]["name"],
                    grace_seconds=0,
                )
        self._set_phase(vmim, "Succeeded" if succeeded else "Failed", migrationState=state)
        if vmi is not None:
            if succeeded:
                self.world.record_event(
                    vmi,
                    "Migrated",
                    f"The VirtualMachineInstance migrated to node {state.get('targetNode')}.",
                    component="virt-handler",
                )
            else:
                self.world.record_event(
                    vmi,
                    "MigrationFailed",
                    f"VirtualMachineInstance "
                    f"migration uid {vmim['metadata']['uid']} failed. "
                    f"reason: {reason}",
                    "Warning",
                    component="virt-handler",
                )
                evac = self.world.find(EvacuationController)
                uid = vmi["metadata"]["uid"]
                evac.failures[uid] = (evac.failures.get(uid, (0, 0.0))[0] + 1, now)
        self._wake_pending()

    def _update_vmi_after(
        self, vmi: Obj, vmim: Obj, state: dict, succeeded: bool, target: Obj | None
    ) -> None:
        meta = vmi["metadata"]
        now = self.world.now()

        def change(obj: Obj) -> None:
            st = obj.setdefault("status", {})
            labels = obj["metadata"].setdefault("labels", {})
            labels.pop(LABEL_MIGRATION_TARGET, None)
            st["migrationState"] = {**state, "targetNodeDomainDetected": succeeded}
            if succeeded and target is not None:
                node = state.get("targetNode", "")
                st["nodeName"] = node
                labels[LABEL_VMI_NODE] = node
                st.pop("evacuationNodeName", None)
                remove_condition(obj, "EvictionRequested")
                st["activePods"] = {target["metadata"]["uid"]: node}
                ip = (target.get("status") or {}).get("podIP")
                for iface in st.get("interfaces") or ():
                    iface["ipAddress"] = ip
                    iface["ipAddresses"] = [ip]
                (obj["metadata"].get("annotations") or {}).pop("kubevirt.io/eviction-source", None)
            else:
                src = state.get("sourceNode", "")
                st["activePods"] = {
                    k: v for k, v in (st.get("activePods") or {}).items() if v == src
                } or st.get("activePods", {})
            set_condition(obj, "Ready", "True", now)

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)

    def _complete_source_pod(self, vmi: Obj | None, state: dict) -> None:
        """After a migration the source virt-launcher pod ends Succeeded ("Completed")."""
        if vmi is None:
            return
        name = state.get("sourcePod")
        namespace = vmi["metadata"]["namespace"]
        now = _ts(self.world.now())

        def change(pod: Obj) -> None:
            st = pod.setdefault("status", {})
            st["phase"] = "Succeeded"
            for cs in st.get("containerStatuses") or ():
                started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
                cs["state"] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started,
                        "finishedAt": now,
                    }
                }
                cs["ready"] = False
                cs["started"] = False
            for cond in st.get("conditions") or ():
                if cond.get("type") in ("Ready", "ContainersReady"):
                    cond["status"] = "False"
                    cond["reason"] = "PodCompleted"

        if name:
            self.store.mutate(PODS, namespace, name, change)

    def _cancel(self, vmim: Obj) -> None:
        """Deleting a VMIM aborts a migration that has not finished, then lets it go."""
        meta = vmim["metadata"]
        if vmim_phase(vmim) not in FINAL_VMIM_PHASES and vmim_phase(vmim) != "":
            vmi = self.store.get(
                VMIS, meta["namespace"], (vmim.get("spec") or {}).get("vmiName", "")
            )
            state = dict((vmim.get("status") or {}).get("migrationState") or {})
            state.update(abortRequested=True, abortStatus="Succeeded")
            self.store.mutate(
                VMIMS,
                meta["namespace"],
                meta["name"],
                lambda o: o.setdefault("status", {}).__setitem__("migrationState", state),
            )
            vmim = self.store.get(VMIMS, meta["namespace"], meta["name"]) or vmim
            self._finish(vmim, vmi, False, "Migration aborted by the user (VMIM deleted)")
            vmim = self.store.get(VMIMS, meta["namespace"], meta["name"]) or vmim
        finalizers = [
            f for f in vmim["metadata"].get("finalizers") or [] if f != MIGRATION_FINALIZER
        ]
        if finalizers != (vmim["metadata"].get("finalizers") or []):
            new = clone(vmim)
            new["metadata"]["finalizers"] = finalizers
            self.store.replace(VMIMS, new, check_rv=False)
