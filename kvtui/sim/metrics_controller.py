"""The leading virt-controller's series: migration counts, and info gauges per VMI and per VM.

Unlike the virt-handler's domain stats these cover every VMI whatever its phase or node, as the
real collectors read the controller's informer caches. Per-VMI lines are cached per object
version, since they only change with the VMI, its launcher pod or the cluster settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from kvtui.sim.controllers.podutil import pod_is_terminated, resource_amount
from kvtui.sim.kubevirt import (
    FINAL_VMI_PHASES,
    VMIMS,
    VMIS,
    VMS,
    cluster_config,
    condition,
    kubevirt_cr,
)
from kvtui.sim.metrics_domain import epoch, escape, guest_memory_of, launcher_memory_overhead
from kvtui.sim.metrics_families import CONTROLLER_FAMILIES
from kvtui.sim.model import MigrationProgress
from kvtui.sim.store import Store

GO_VERSION = "go1.23.9"
DEFAULT_KUBEVIRT_VERSION = "v1.6.0"
OUTDATED_LABEL = "kubevirt.io/outdatedLauncherImage"

_RUNNING_MIGRATION_PHASES = frozenset(
    {"Running", "Scheduled", "PreparingTarget", "TargetReady", "WaitingForSync", "Synchronizing"}
)
_WHITELISTED_VENDORS = frozenset({"kubevirt.io", "redhat.com"})
_INSTANCETYPE_KEYS = tuple(
    f"instancetype.kubevirt.io/virtualmachine{kind}"
    for kind in ("instancetypes", "clusterinstancetypes", "preferences", "clusterpreferences")
)
_VM_STATUS_GROUPS = {
    **dict.fromkeys(("Provisioning", "Starting", "WaitingForVolumeBinding"), "starting"),
    "Running": "running",
    "Migrating": "migrating",
    **dict.fromkeys(("Stopped", "Paused", "Stopping", "Terminating"), "non_running"),
    **dict.fromkeys(
        (
            "CrashLoopBackOff",
            "Unknown",
            "ErrorUnschedulable",
            "ErrImagePull",
            "ImagePullBackOff",
            "ErrorPvcNotFound",
            "DataVolumeError",
        ),
        "error",
    ),
}


class Launcher(NamedTuple):
    """What the controller's series need from one virt-launcher pod."""

    name: str
    node: str
    running: bool
    compute_memory: int  # memory request of the compute container, 0 when unknown


def launcher_of(pod: dict[str, Any]) -> Launcher | None:
    """The pod as a virt-launcher of some VMI, None for other or finished pods."""
    if not (pod["metadata"].get("labels") or {}).get("kubevirt.io/created-by"):
        return None
    if pod_is_terminated(pod):
        return None
    spec = pod.get("spec") or {}
    memory = 0
    for container in spec.get("containers") or ():
        if container.get("name") == "compute":
            request = ((container.get("resources") or {}).get("requests") or {}).get("memory")
            try:
                memory = resource_amount("memory", request) if request is not None else 0
            except (TypeError, ValueError):
                memory = 0
    running = (pod.get("status") or {}).get("phase") == "Running"
    return Launcher(pod["metadata"]["name"], spec.get("nodeName") or "", running, memory)


def kubevirt_info_line(store: Store) -> str:
    """`kubevirt_info`, which every KubeVirt component exports, for the deployed version."""
    status = (kubevirt_cr(store) or {}).get("status") or {}
    version = (
        status.get("observedKubeVirtVersion")
        or status.get("targetKubeVirtVersion")
        or DEFAULT_KUBEVIRT_VERSION
    )
    return f"kubevirt_info{{{labels(goversion=GO_VERSION, kubeversion=version)}}} 1\n"


def labels(**pairs: str) -> str:
    """`k="v",...` with values escaped for the exposition format."""
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs.items())


def collection_rv(store: Store, key: str) -> int:
    """The resourceVersion of the last change to one collection (0: none, or not served)."""
    collection = store.collections.get(key)
    if collection is None or not collection.history:
        return 0
    return collection.history[-1].rv


class ControllerMetrics:
    """Builds the virt-controller's samples from the store, reusing per-VMI lines when it can."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._vmi_lines: dict[str, tuple[tuple[Any, ...], list[tuple[str, str]]]] = {}

    def samples(
        self,
        launcher_pods: Mapping[str, tuple[Launcher, ...]],
        vmim_names: Mapping[str, str],
        migrations: Mapping[str, MigrationProgress],
    ) -> dict[str, list[str]]:
        """Sample lines per family. `launcher_pods`: VMI uid -> its virt-launcher pods."""
        out: dict[str, list[str]] = {name: [] for name, _, _ in CONTROLLER_FAMILIES}
        out["kubevirt_info"].append(kubevirt_info_line(self.store))
        out["kubevirt_virt_controller_ready_status"].append(
            "kubevirt_virt_controller_ready_status 1\n"
        )
        out["kubevirt_virt_controller_leading_status"].append(
            "kubevirt_virt_controller_leading_status 1\n"
        )
        self._migration_counts(out)
        strategy = cluster_config(self.store).get("evictionStrategy") or "None"
        catalog = tuple(collection_rv(self.store, key) for key in _INSTANCETYPE_KEYS)
        lines: dict[str, tuple[tuple[Any, ...], list[tuple[str, str]]]] = {}
        outdated = 0
        for vmi in self.store.list(VMIS):
            meta = vmi["metadata"]
            uid = meta.get("uid", "")
            pods = launcher_pods.get(uid, ())
            state = (vmi.get("status") or {}).get("migrationState") or {}
            migration = vmim_names.get(state.get("migrationUid", ""), "")
            key = (meta.get("resourceVersion"), strategy, pods, catalog, migration)
            cached = self._vmi_lines.get(uid)
            if cached is None or cached[0] != key:
                cached = (key, self._vmi_samples(vmi, strategy, pods, migration))
            lines[uid] = cached
            live = migrations.get(uid)
            for family, line in cached[1]:
                if live is None or not family.startswith("kubevirt_vmi_migration_"):
                    out[family].append(line)
            if live is not None:  # changes without the VMI changing: never cached
                for family, line in _migration_times(vmi, migration, live):
                    out[family].append(line)
            outdated += OUTDATED_LABEL in (meta.get("labels") or {})
        self._vmi_lines = lines
        out["kubevirt_vmi_number_of_outdated"].append(
            f"kubevirt_vmi_number_of_outdated {outdated}\n"
        )
        for vm in self.store.list(VMS):
            out["kubevirt_vm_info"].append(self._vm_info(vm))
        return out

    def _migration_counts(self, out: dict[str, list[str]]) -> None:
        counts = {"pending": 0, "scheduling": 0, "unset": 0, "running": 0}
        for vmim in self.store.list(VMIMS):
            phase = (vmim.get("status") or {}).get("phase") or ""
            if phase == "Pending":
                counts["pending"] += 1
            elif phase == "Scheduling":
                counts["scheduling"] += 1
            elif phase == "":
                counts["unset"] += 1
            elif phase in _RUNNING_MIGRATION_PHASES:
                counts["running"] += 1
            elif phase in ("Succeeded", "Failed"):
                meta = vmim["metadata"]
                family = f"kubevirt_vmi_migration_{phase.lower()}"
                ident = labels(
                    vmi=(vmim.get("spec") or {}).get("vmiName", ""),
                    vmim=meta["name"],
                    namespace=meta.get("namespace", ""),
                )
                out[family].append(f"{family}{{{ident}}} 1\n")
        for phase, count in counts.items():
            name = f"kubevirt_vmi_migrations_in_{phase}_phase"
            out[name].append(f"{name} {count}\n")

    def _vmi_samples(
        self, vmi: dict[str, Any], strategy: str, pods: tuple[Launcher, ...], migration: str
    ) -> list[tuple[str, str]]:
        meta = vmi["metadata"]
        namespace = meta.get("namespace", "")
        status = vmi.get("status") or {}
        annotations = meta.get("annotations") or {}
        node = status.get("nodeName") or ""
        ident = labels(node=node, namespace=namespace, name=meta["name"])
        guest = status.get("guestOSInfo") or {}
        local = [pod for pod in pods if pod.node == node]
        evictable = _evictable(vmi, strategy)
        info = labels(
            phase=(status.get("phase") or "").lower(),
            os=annotations.get("vm.kubevirt.io/os", ""),
            workload=annotations.get("vm.kubevirt.io/workload", ""),
            flavor=annotations.get("vm.kubevirt.io/flavor", ""),
            instance_type=self._annotated(namespace, annotations, "instancetype"),
            preference=self._annotated(namespace, annotations, "preference"),
            guest_os_kernel_release=guest.get("kernelRelease", ""),
            guest_os_machine=(status.get("machine") or {}).get("type", ""),
            guest_os_arch=guest.get("machine", ""),
            guest_os_name=guest.get("name", ""),
            guest_os_version_id=guest.get("versionId", ""),
            evictable=str(evictable).lower(),
            outdated=str(OUTDATED_LABEL in (meta.get("labels") or {})).lower(),
            vmi_pod=next((pod.name for pod in local if pod.running), ""),
        )
        out = [
            ("kubevirt_vmi_info", f"kubevirt_vmi_info{{{ident},{info}}} 1\n"),
            (
                "kubevirt_vmi_non_evictable",
                f"kubevirt_vmi_non_evictable{{{ident}}} {0 if evictable else 1}\n",
            ),
        ]
        for iface in status.get("interfaces") or ():
            address = iface.get("ipAddress") or ""
            if not address and not iface.get("name") and not iface.get("interfaceName"):
                continue  # KubeVirt skips these to avoid duplicate label sets
            extra = labels(
                vnic_name=iface.get("name", ""),
                interface_name=iface.get("interfaceName", ""),
                address=address,
                type="ExternalInterface" if address else "SystemInterface",
            )
            out.append(
                (
                    "kubevirt_vmi_status_addresses",
                    f"kubevirt_vmi_status_addresses{{{ident},{extra}}} 1\n",
                )
            )
        if status.get("phase") not in FINAL_VMI_PHASES:
            out.append(
                (
                    "kubevirt_vmi_launcher_memory_overhead_bytes",
                    "kubevirt_vmi_launcher_memory_overhead_bytes"
                    f"{{{labels(namespace=namespace, name=meta['name'])}}} "
                    f"{_overhead(vmi, local or pods)}\n",
                )
            )
        out.extend(_migration_times(vmi, migration, None))
        return out

    def _annotated(self, namespace: str, annotations: Mapping[str, str], what: str) -> str:
        """instance_type/preference of a VMI, from the annotations virt-controller sets."""
        name = annotations.get(f"kubevirt.io/{what}-name")
        if name is not None:
            return self._vendor_name(
                f"instancetype.kubevirt.io/virtualmachine{what}s", namespace, name
            )
        name = annotations.get(f"kubevirt.io/cluster-{what}-name")
        if name is not None:
            return self._vendor_name(
                f"instancetype.kubevirt.io/virtualmachinecluster{what}s", "", name
            )
        return ""

    def _vendor_name(self, key: str, namespace: str, name: str) -> str:
        """The name when a kubevirt.io/redhat.com vendor published it, "<other>" otherwise."""
        try:
            obj = self.store.get(key, namespace, name)
        except KeyError:
            obj = None
        vendor = (((obj or {}).get("metadata") or {}).get("labels") or {}).get(
            "instancetype.kubevirt.io/vendor"
        )
        return name if vendor in _WHITELISTED_VENDORS else "<other>"

    def _vm_info(self, vm: dict[str, Any]) -> str:
        meta = vm["metadata"]
        spec = vm.get("spec") or {}
        template = spec.get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        namespace = meta.get("namespace", "")
        refs = {}
        for what in ("instancetype", "preference"):
            ref = spec.get(what) or {}
            if not ref.get("name"):
                refs[what] = ""
            elif (ref.get("kind") or "").startswith("VirtualMachineCluster"):
                refs[what] = self._vendor_name(
                    f"instancetype.kubevirt.io/virtualmachinecluster{what}s", "", ref["name"]
                )
            else:
                refs[what] = self._vendor_name(
                    f"instancetype.kubevirt.io/virtualmachine{what}s", namespace, ref["name"]
                )
        status = (vm.get("status") or {}).get("printableStatus") or ""
        machine = ((template.get("spec") or {}).get("domain") or {}).get("machine") or {}
        info = labels(
            name=meta["name"],
            namespace=namespace,
            os=annotations.get("vm.kubevirt.io/os", ""),
            workload=annotations.get("vm.kubevirt.io/workload", ""),
            flavor=annotations.get("vm.kubevirt.io/flavor", ""),
            machine_type=machine.get("type", ""),
            instance_type=refs["instancetype"],
            preference=refs["preference"],
            status=status,
            status_group=_VM_STATUS_GROUPS.get(status, "<unknown>"),
        )
        return f"kubevirt_vm_info{{{info}}} 1\n"


def _migration_times(
    vmi: dict[str, Any], migration: str, live: MigrationProgress | None
) -> list[tuple[str, str]]:
    """Start (and, once over, end) time of the VMI's last migration, as virt-controller has."""
    meta = vmi["metadata"]
    status = vmi.get("status") or {}
    state = status.get("migrationState") or {}
    start = epoch(state.get("startTimestamp"))
    if live is not None:
        migration = migration or live.migration_name
        start = start if start is not None else live.started_at
    if start is None:
        return []
    ident = labels(
        node=status.get("nodeName") or "",
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        migration_name=migration,
    )
    out = [
        (
            "kubevirt_vmi_migration_start_time_seconds",
            f"kubevirt_vmi_migration_start_time_seconds{{{ident}}} {int(start)}\n",
        )
    ]
    end = epoch(state.get("endTimestamp"))
    if end is not None and live is None:
        result = "failed" if state.get("failed") else "succeeded"
        result = result if state.get("completed") else ""
        out.append(
            (
                "kubevirt_vmi_migration_end_time_seconds",
                f'kubevirt_vmi_migration_end_time_seconds{{{ident},status="{result}"}} '
                f"{int(end)}\n",
            )
        )
    return out


def _overhead(vmi: dict[str, Any], pods: Iterable[Launcher]) -> int:
    """What virt-controller added to the guest memory in the launcher pod, else an estimate."""
    guest = guest_memory_of(vmi)
    for pod in pods:
        if pod.compute_memory > guest:
            return pod.compute_memory - guest
    return launcher_memory_overhead(vmi)


def _evictable(vmi: dict[str, Any], cluster_strategy: str) -> bool:
    """False only for LiveMigrate VMIs not (yet known to be) live-migratable, as KubeVirt."""
    strategy = (vmi.get("spec") or {}).get("evictionStrategy") or cluster_strategy
    if strategy != "LiveMigrate":
        return True
    migratable = condition(vmi, "LiveMigratable")
    return migratable is not None and migratable.get("status") == "True"
