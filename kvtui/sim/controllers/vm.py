"""virt-controller's VM controller: run strategies turn VirtualMachines into VMIs.

It also creates the VM's DataVolumes (and their PVCs, already imported: CDI is not simulated
beyond that) and keeps `status.printableStatus` as `kubectl get vm` shows it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kvtui.sim.kubevirt import (
    FINAL_VMI_PHASES,
    VMIS,
    VMS,
    condition,
    condition_true,
    effective_eviction_strategy,
    set_condition,
)
from kvtui.sim.store import Obj, StoreError, clone
from kvtui.sim.world import Controller

VM_FINALIZER = "kubevirt.io/virtualMachineControllerFinalize"
VMI_FINALIZER = "kubevirt.io/foregroundDeleteVirtualMachine"
DATAVOLUMES = "cdi.kubevirt.io/datavolumes"
PVCS = "/persistentvolumeclaims"
_IT = "instancetype.kubevirt.io/"
INSTANCETYPE_KEYS = {
    "VirtualMachineInstancetype": _IT + "virtualmachineinstancetypes",
    "VirtualMachineClusterInstancetype": _IT + "virtualmachineclusterinstancetypes",
    "VirtualMachinePreference": _IT + "virtualmachinepreferences",
    "VirtualMachineClusterPreference": _IT + "virtualmachineclusterpreferences",
}


def run_strategy(vm: Obj) -> str:
    spec = vm.get("spec") or {}
    if spec.get("runStrategy"):
        return spec["runStrategy"]
    return "Always" if spec.get("running") else "Halted"


def owner_ref(obj: Obj) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class VmController(Controller):
    name = "virt-controller/vm"
    watches = (VMS, VMIS)

    def __init__(self, world) -> None:
        super().__init__(world)
        self._ran_once: set[str] = set()  # VMs with runStrategy Once that have started

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        self.enqueue((meta.get("namespace", ""), meta["name"]))

    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        vm = self.store.get(VMS, namespace, name)
        vmi = self.store.get(VMIS, namespace, name)
        if vm is None:
            return
        if vm["metadata"].get("deletionTimestamp"):
            self._finalize(vm, vmi)
            return
        if VM_FINALIZER not in (vm["metadata"].get("finalizers") or []):
            self.store.mutate(
                VMS,
                namespace,
                name,
                lambda o: o["metadata"].setdefault("finalizers", []).append(VM_FINALIZER),
            )
        self._ensure_datavolumes(vm)
        vmi = self._apply_run_strategy(vm, vmi)
        self._update_status(namespace, name, vmi)

    # -- run strategies ------------------------------------------------------------------
    def _apply_run_strategy(self, vm: Obj, vmi: Obj | None) -> Obj | None:
        meta = vm["metadata"]
        strategy = run_strategy(vm)
        requests = [
            r.get("action") for r in (vm.get("status") or {}).get("stateChangeRequests") or ()
        ]
        phase = ((vmi or {}).get("status") or {}).get("phase")
        deleting = bool(vmi and vmi["metadata"].get("deletionTimestamp"))
        if requests:
            if "Stop" in requests and vmi is not None and not deleting:
                self._stop(vmi)
                return self.store.get(VMIS, meta["namespace"], meta["name"])
            if vmi is None and "Start" in requests:
                self._clear_requests(vm)
                return self._start(vm)
            if "Stop" in requests and vmi is None and "Start" not in requests:
                self._clear_requests(vm)
            return vmi
        if strategy == "Halted":
            if vmi is not None and not deleting:
                self._stop(vmi)
            return vmi
        if vmi is not None and phase in FINAL_VMI_PHASES and not deleting:
            restart = strategy == "Always" or (strategy == "RerunOnFailure" and phase == "Failed")
            if restart:
                self._stop(vmi)  # the VM controller deletes the finished VMI, then restarts
            return self.store.get(VMIS, meta["namespace"], meta["name"])
        if vmi is None and strategy in ("Always", "RerunOnFailure"):
            return self._start(vm)
        if vmi is None and strategy == "Once" and meta["uid"] not in self._ran_once:
            self._ran_once.add(meta["uid"])
            return self._start(vm)
        return vmi

    def _clear_requests(self, vm: Obj) -> None:
        meta = vm["metadata"]
        self.store.mutate(
            VMS,
            meta["namespace"],
            meta["name"],
            lambda o: (o.get("status") or {}).pop("stateChangeRequests", None),
        )

    def _stop(self, vmi: Obj) -> None:
        meta = vmi["metadata"]
        with contextlib.suppress(StoreError):
            self.store.delete(VMIS, meta["namespace"], meta["name"])

    def _start(self, vm: Obj) -> Obj | None:
        vmi = self.build_vmi(vm)
        try:
            created = self.store.create(VMIS, vmi)
        except StoreError:
            return None
        self.world.record_event(
            vm,
            "SuccessfulCreate",
            f"Started the virtual machine by creating the new virtual "
            f"machine instance {vm['metadata']['name']}",
        )
        return created

    def build_vmi(self, vm: Obj) -> Obj:
        """The VMI the template describes, with the instancetype and preference applied."""
        meta = vm["metadata"]
        template = clone((vm.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        spec = template.get("spec") or {}
        domain = spec.setdefault("domain", {})
        instancetype = self._lookup(
            meta["namespace"],
            (vm.get("spec") or {}).get("instancetype"),
            "VirtualMachineClusterInstancetype",
        )
        preference = self._lookup(
            meta["namespace"],
            (vm.get("spec") or {}).get("preference"),
            "VirtualMachineClusterPreference",
        )
        if instancetype:
            itspec = instancetype.get("spec") or {}
            guest = int((itspec.get("cpu") or {}).get("guest", 1))
            topology = (
                ((preference or {}).get("spec") or {})
                .get("cpu", {})
                .get("preferredCPUTopology", "sockets")
            )
            cpu = domain.setdefault("cpu", {})
            key = {
                "preferCores": "cores",
                "cores": "cores",
                "preferThreads": "threads",
                "threads": "threads",
            }.get(topology, "sockets")
            cpu.update({"sockets": 1, "cores": 1, "threads": 1})
            cpu[key] = guest
            if (itspec.get("cpu") or {}).get("dedicatedCPUPlacement"):
                cpu["dedicatedCpuPlacement"] = True
            domain.setdefault("memory", {})["guest"] = (itspec.get("memory") or {}).get("guest")
        if not spec.get("evictionStrategy"):
            cluster_value = effective_eviction_strategy(self.store, {"spec": {}})
            if cluster_value != "None" or self._cluster_sets_strategy():
                spec["evictionStrategy"] = cluster_value
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        annotations.setdefault("kubevirt.io/latest-observed-api-version", "v1")
        annotations.setdefault("kubevirt.io/storage-observed-api-version", "v1")
        return {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(vm)],
                "finalizers": [VM_FINALIZER, VMI_FINALIZER],
            },
            "spec": spec,
            "status": {},
        }

    def _cluster_sets_strategy(self) -> bool:
        from kvtui.sim.kubevirt import cluster_config

        return bool(cluster_config(self.store).get("evictionStrategy"))

    def _lookup(self, namespace: str, ref: dict | None, cluster_kind: str) -> Obj | None:
        if not ref or not ref.get("name"):
            return None
        kind = ref.get("kind") or cluster_kind
        key = INSTANCETYPE_KEYS.get(kind)
        if key is None:
            return None
        namespaced = "Cluster" not in kind
        return self.store.get(key, namespace if namespaced else None, ref["name"])

    # -- storage -------------------------------------------------------------------------
    def _ensure_datavolumes(self, vm: Obj) -> None:
        meta = vm["metadata"]
        for template in (vm.get("spec") or {}).get("dataVolumeTemplates") or ():
            tmeta = template.get("metadata") or {}
            name = tmeta.get("name")
            if not name or self.store.get(DATAVOLUMES, meta["namespace"], name):
                continue
            spec = template.get("spec") or {}
            storage = spec.get("storage") or spec.get("pvc") or {}
            sc_name = storage.get("storageClassName") or self._default_storage_class()
            modes = storage.get("accessModes") or self._profile_modes(sc_name)
            size = ((storage.get("resources") or {}).get("requests") or {}).get("storage", "10Gi")
            volume_mode = storage.get("volumeMode") or "Filesystem"
            dv = {
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": "DataVolume",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": dict(tmeta.get("labels") or {}),
                    "annotations": dict(tmeta.get("annotations") or {}),
                    "ownerReferences": [owner_ref(vm)],
                },
                "spec": clone(spec),
                "status": {
                    "phase": "Succeeded",
                    "progress": "100.0%",
                    "claimName": name,
                    "restartCount": 0,
                },
            }
            dv_obj = self.store.create(DATAVOLUMES, dv)
            if self.store.get(PVCS, meta["namespace"], name) is None:
                self.store.create(
                    PVCS,
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {
                            "name": name,
                            "namespace": meta["namespace"],
                            "labels": {"app": "containerized-data-importer"},
                            "ownerReferences": [owner_ref(dv_obj)],
                        },
                        "spec": {
                            "accessModes": modes,
                            "storageClassName": sc_name,
                            "volumeMode": volume_mode,
                            "volumeName": "pvc-" + dv_obj["metadata"]["uid"],
                            "resources": {"requests": {"storage": size}},
                        },
                        "status": {
                            "phase": "Bound",
                            "accessModes": modes,
                            "capacity": {"storage": size},
                        },
                    },
                )

    def _default_storage_class(self) -> str:
        for sc in self.store.list("storage.k8s.io/storageclasses"):
            if (sc["metadata"].get("annotations") or {}).get(
                "storageclass.kubernetes.io/is-default-class"
            ) == "true":
                return sc["metadata"]["name"]
        return ""

    def _profile_modes(self, sc_name: str) -> list[str]:
        """CDI fills unset access modes from the StorageProfile: RWX if offered, else RWO."""
        profile = self.store.get("cdi.kubevirt.io/storageprofiles", None, sc_name)
        offered = [
            m
            for cps in ((profile or {}).get("status") or {}).get("claimPropertySets") or ()
            for m in cps.get("accessModes") or ()
        ]
        return ["ReadWriteMany"] if "ReadWriteMany" in offered or not offered else ["ReadWriteOnce"]

    # -- status --------------------------------------------------------------------------
    def _update_status(self, namespace: str, name: str, vmi: Obj | None) -> None:
        now = self.world.now()

        def change(vm: Obj) -> None:
            status = vm.setdefault("status", {})
            status["printableStatus"] = self.printable_status(vm, vmi)
            status["runStrategy"] = run_strategy(vm)
            created = vmi is not None
            ready = bool(vmi and condition_true(vmi, "Ready"))
            status["created"] = created
            if ready:
                status["ready"] = True
            else:
                status.pop("ready", None)
            if created:
                vmi_ready = condition(vmi, "Ready") or {}
                set_condition(
                    vm,
                    "Ready",
                    "True" if ready else "False",
                    now,
                    "" if ready else vmi_ready.get("reason", "VMINotReady"),
                    "" if ready else vmi_ready.get("message", ""),
                )
            else:
                set_condition(vm, "Ready", "False", now, "VMINotExists", "VMI does not exist")
            for ref, field in (
                ("instancetype", "instancetypeRef"),
                ("preference", "preferenceRef"),
            ):
                spec_ref = (vm.get("spec") or {}).get(ref)
                if spec_ref:
                    status[field] = {
                        "name": spec_ref.get("name"),
                        "kind": spec_ref.get("kind")
                        or (
                            "VirtualMachineClusterInstancetype"
                            if ref == "instancetype"
                            else "VirtualMachineClusterPreference"
                        ),
                    }

        self.store.mutate(VMS, namespace, name, change)

    @staticmethod
    def printable_status(vm: Obj, vmi: Obj | None) -> str:
        if vm["metadata"].get("deletionTimestamp"):
            return "Terminating"
        if vmi is None:
            return "Stopped"
        if vmi["metadata"].get("deletionTimestamp"):
            return "Stopping"
        status = vmi.get("status") or {}
        phase = status.get("phase")
        if phase in FINAL_VMI_PHASES:
            return (
                "Stopped"
                if phase == "Succeeded"
                else "CrashLoopBackOff"
                if run_strategy(vm) == "Always"
                else "Stopped"
            )
        scheduled = condition(vmi, "PodScheduled")
        if scheduled and scheduled.get("status") == "False":
            return "ErrorUnschedulable"
        if phase == "Running":
            state = status.get("migrationState") or {}
            if state and not state.get("completed") and not state.get("failed"):
                return "Migrating"
            if condition_true(vmi, "Paused"):
                return "Paused"
            return "Running"
        if phase in ("Pending", "Scheduling", "Scheduled", "", None):
            return "Starting"
        return "Unknown"

    def _finalize(self, vm: Obj, vmi: Obj | None) -> None:
        meta = vm["metadata"]
        if vmi is not None:
            if not vmi["metadata"].get("deletionTimestamp"):
                self._stop(vmi)
            return
        finalizers = [f for f in meta.get("finalizers") or [] if f != VM_FINALIZER]
        if finalizers != (meta.get("finalizers") or []):
            new = clone(vm)
            new["metadata"]["finalizers"] = finalizers
            self.store.replace(VMS, new, check_rv=False)
