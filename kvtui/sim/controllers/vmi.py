"""virt-controller's VMI controller plus virt-handler's part: virt-launcher pods and phases.

A VMI gets a virt-launcher pod (labels, annotations, owner and emptyDir volumes as KubeVirt
makes them), follows it through Scheduling → Scheduled → Running, and fails when its pod dies
outside a migration. Migration target pods belong to `migration.py`.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import time
from typing import Any

from kvtui.sim.controllers.podutil import pod_is_terminated
from kvtui.sim.controllers.vm import VM_FINALIZER, VMI_FINALIZER, owner_ref
from kvtui.sim.kubevirt import (
    FINAL_VMI_PHASES,
    PODS,
    VMIS,
    cluster_config,
    condition,
    effective_eviction_strategy,
    is_virt_launcher,
    remove_condition,
    set_condition,
)
from kvtui.sim.model import LABEL_SCHEDULABLE, LABEL_VMI_NODE
from kvtui.sim.quantity import bytes_of, cpu_millis
from kvtui.sim.store import Obj, StoreError, clone, now_rfc3339
from kvtui.sim.world import Controller

LAUNCHER_IMAGE = "quay.io/kubevirt/virt-launcher:v1.5.3"
BOOT_SECONDS = 2.0  # from pod Running to domain Running
OVERHEAD_BYTES = 220 * 1024 * 1024
EMPTY_DIRS = (
    "private",
    "public",
    "sockets",
    "virt-bin-share-dir",
    "libvirt-runtime",
    "ephemeral-disks",
    "container-disks",
    "hotplug-disks",
)


def vmi_id(name: str) -> str:
    """The `vmi.kubevirt.io/id` label: the name, or a hashed prefix when it is too long."""
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def vcpus(vmi: Obj) -> int:
    cpu = ((vmi.get("spec") or {}).get("domain") or {}).get("cpu") or {}
    return int(cpu.get("sockets", 1)) * int(cpu.get("cores", 1)) * int(cpu.get("threads", 1))


def guest_memory(vmi: Obj) -> int:
    domain = (vmi.get("spec") or {}).get("domain") or {}
    value = (
        (domain.get("memory") or {}).get("guest")
        or ((domain.get("resources") or {}).get("requests") or {}).get("memory")
        or "1Gi"
    )
    return bytes_of(value)


def phase_transition(status: dict, phase: str, now: float) -> None:
    status["phase"] = phase
    stamps = status.setdefault("phaseTransitionTimestamps", [])
    if not stamps or stamps[-1].get("phase") != phase:
        stamps.append({"phase": phase, "phaseTransitionTimestamp": now_rfc3339(now)})


def launcher_pod(vmi: Obj, cpu_request: str = "100m") -> Obj:
    """The virt-launcher pod KubeVirt's template service renders for a VMI (fact sheet §5.7)."""
    meta = vmi["metadata"]
    spec = vmi.get("spec") or {}
    domain = spec.get("domain") or {}
    name = meta["name"]
    hostname = (spec.get("hostname") or name.split(".")[0])[:63]
    labels = dict(meta.get("labels") or {})
    labels.update(
        {
            "kubevirt.io": "virt-launcher",
            "kubevirt.io/created-by": meta["uid"],
            "vm.kubevirt.io/name": hostname,
            "vmi.kubevirt.io/id": vmi_id(name),
        }
    )
    labels.pop(LABEL_VMI_NODE, None)
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(("sim.kvtui.dev/", "kubevirt.io/allow-pod-bridge", "ovn.kubernetes.io/"))
    }
    annotations.update(
        {
            "kubevirt.io/domain": name,
            "kubectl.kubernetes.io/default-container": "compute",
            "kubevirt.io/migrationTransportUnix": "true",
            "descheduler.alpha.kubernetes.io/request-evict-only": "",
        }
    )
    requests = dict((domain.get("resources") or {}).get("requests") or {})
    limits = dict((domain.get("resources") or {}).get("limits") or {})
    memory = guest_memory(vmi) + OVERHEAD_BYTES
    if "cpu" not in requests:
        requests["cpu"] = f"{vcpus(vmi) * cpu_millis(cpu_request)}m"
    requests["memory"] = str(memory)
    for device in (
        "devices.kubevirt.io/kvm",
        "devices.kubevirt.io/tun",
        "devices.kubevirt.io/vhost-net",
    ):
        requests[device] = "1"
        limits[device] = "1"
    if "memory" in limits:
        limits["memory"] = str(memory)
    volumes: list[dict[str, Any]] = [{"name": v, "emptyDir": {}} for v in EMPTY_DIRS]
    for volume in spec.get("volumes") or ():
        claim = (volume.get("dataVolume") or {}).get("name") or (
            volume.get("persistentVolumeClaim") or {}
        ).get("claimName")
        if claim:
            volumes.append(
                {"name": volume.get("name", claim), "persistentVolumeClaim": {"claimName": claim}}
            )
    node_selector = dict(spec.get("nodeSelector") or {})
    node_selector[LABEL_SCHEDULABLE] = "true"
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "compute",
                "image": LAUNCHER_IMAGE,
                "command": [
                    "/usr/bin/virt-launcher-monitor",
                    "--uid",
                    meta["uid"],
                    "--namespace",
                    meta["namespace"],
                    "--name",
                    name,
                ],
                "resources": {"requests": requests, "limits": limits},
            }
        ],
        "restartPolicy": "Never",
        "hostname": hostname,
        "nodeSelector": node_selector,
        "readinessGates": [{"conditionType": "kubevirt.io/virtual-machine-unpaused"}],
        "terminationGracePeriodSeconds": int(spec.get("terminationGracePeriodSeconds", 30)) + 15,
        "volumes": volumes,
        "automountServiceAccountToken": False,
        "schedulerName": spec.get("schedulerName") or "default-scheduler",
        "dnsPolicy": spec.get("dnsPolicy") or "ClusterFirst",
    }
    for key in (
        "affinity",
        "tolerations",
        "topologySpreadConstraints",
        "dnsConfig",
        "priorityClassName",
    ):
        if spec.get(key):
            pod_spec[key] = clone(spec[key])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"virt-launcher-{name}-",
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_ref(vmi)],
        },
        "spec": pod_spec,
        "status": {"phase": "Pending"},
    }


class VmiController(Controller):
    name = "virt-controller/vmi"
    watches = (VMIS, PODS)

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        if key == PODS:
            if not is_virt_launcher(obj):
                return
            domain = (meta.get("annotations") or {}).get("kubevirt.io/domain")
            if domain:
                self.enqueue((meta["namespace"], domain))
            return
        self.enqueue((meta.get("namespace", ""), meta["name"]))

    def pods_of(self, vmi: Obj) -> list[Obj]:
        meta = vmi["metadata"]
        uid = meta["uid"]
        return [
            p
            for p in self.store.list(PODS, meta["namespace"])
            if (p["metadata"].get("labels") or {}).get("kubevirt.io/created-by") == uid
        ]

    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        vmi = self.store.get(VMIS, namespace, name)
        if vmi is None:
            return
        pods = self.pods_of(vmi)
        if vmi["metadata"].get("deletionTimestamp"):
            self._shutdown(vmi, pods)
            return
        status = vmi.get("status") or {}
        phase = status.get("phase") or ""
        if phase in FINAL_VMI_PHASES:
            return
        source = self._source_pod(vmi, pods)
        if phase in ("", "Pending") and not pods:
            self._create_pod(vmi)
            return
        if source is None:
            if phase in ("Scheduling", "Scheduled", "Running"):
                self._fail(vmi, "PodNotExists", "virt-launcher pod has gone")
            return
        self._follow_pod(vmi, source)

    @staticmethod
    def _source_pod(vmi: Obj, pods: list[Obj]) -> Obj | None:
        """The pod the VM runs in now: on the VMI's node, or before that the non-target pod."""
        node = (vmi.get("status") or {}).get("nodeName")
        live = [p for p in pods if not pod_is_terminated(p)]
        if node:
            return next((p for p in live if (p.get("spec") or {}).get("nodeName") == node), None)
        return next(
            (
                p
                for p in live
                if not (p["metadata"].get("labels") or {}).get("kubevirt.io/migrationJobUID")
            ),
            None,
        )

    def _create_pod(self, vmi: Obj) -> None:
        cfg = cluster_config(self.store)
        pod = launcher_pod(vmi, cfg.get("cpuRequest", "100m"))
        created = self.store.create(PODS, pod)
        now = self.world.now()
        meta = vmi["metadata"]

        def change(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            phase_transition(status, "Scheduling", now)
            status["qosClass"] = "Burstable"
            status["launcherContainerImageVersion"] = LAUNCHER_IMAGE
            status["guestOSInfo"] = {}
            status["activePods"] = {created["metadata"]["uid"]: ""}
            obj["metadata"].setdefault("labels", {})
            strategy = (obj.get("spec") or {}).get("evictionStrategy")
            if not strategy and cfg.get("evictionStrategy"):
                obj["spec"]["evictionStrategy"] = cfg["evictionStrategy"]
            set_condition(
                obj, "Ready", "False", now, "GuestNotRunning", "Guest VM is not reported as running"
            )

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)
        self.world.record_event(
            vmi, "SuccessfulCreate", f"Created virtual machine pod {created['metadata']['name']}"
        )

    def _follow_pod(self, vmi: Obj, pod: Obj) -> None:
        now = self.world.now()
        meta = vmi["metadata"]
        pod_status = pod.get("status") or {}
        pod_phase = pod_status.get("phase")
        node = (pod.get("spec") or {}).get("nodeName")
        vmi_phase = (vmi.get("status") or {}).get("phase")
        scheduled = condition(pod, "PodScheduled") or {}
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        boot_at = self._boot_time(vmi)

        def change(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            if scheduled.get("status") == "False":
                set_condition(
                    obj,
                    "PodScheduled",
                    "False",
                    now,
                    scheduled.get("reason", ""),
                    scheduled.get("message", ""),
                )
            else:
                remove_condition(obj, "PodScheduled")
            if pod_phase == "Running" and vmi_phase in ("Scheduling", "Pending", ""):
                phase_transition(status, "Scheduled", now)
                status["nodeName"] = node
                obj["metadata"].setdefault("labels", {})[LABEL_VMI_NODE] = node
                status["activePods"] = {pod["metadata"]["uid"]: node}
            if status.get("phase") == "Scheduled" and boot_at is not None and now >= boot_at:
                phase_transition(status, "Running", now)
                status["migrationMethod"] = "LiveMigration"
                status["migrationTransport"] = "Unix"
                status["interfaces"] = [
                    {
                        "name": "default",
                        "interfaceName": "eth0",
                        "infoSource": "domain, guest-agent",
                        "ipAddress": pod_status.get("podIP"),
                        "ipAddresses": [pod_status.get("podIP")],
                        "mac": _mac(meta["uid"]),
                        "queueCount": 1,
                        "linkState": "up",
                        "podInterfaceName": "eth0",
                    }
                ]
                status["guestOSInfo"] = {
                    "name": "Ubuntu",
                    "id": "ubuntu",
                    "version": "22.04",
                    "versionId": "22.04",
                    "kernelRelease": "5.15.0-91-generic",
                    "machine": "x86_64",
                }
                status["currentCPUTopology"] = {
                    k: int(
                        (((obj.get("spec") or {}).get("domain") or {}).get("cpu") or {}).get(k, 1)
                    )
                    for k in ("sockets", "cores", "threads")
                }
                status["memory"] = {
                    "guestAtBoot": str(guest_memory(obj)),
                    "guestCurrent": str(guest_memory(obj)),
                    "guestRequested": str(guest_memory(obj)),
                }
            if status.get("phase") == "Running":
                if deleting:
                    set_condition(
                        obj,
                        "Ready",
                        "False",
                        now,
                        "PodTerminating",
                        "virt-launcher pod is terminating",
                    )
                else:
                    set_condition(obj, "Ready", "True", now)
                set_condition(obj, "AgentConnected", "True", now)
            self._live_migratable(obj, now)
            self._eviction_requested(obj, now)

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)
        if vmi_phase in ("Scheduling", "Pending", "") and pod_phase == "Running":
            self.after(BOOT_SECONDS + 0.01, (meta["namespace"], meta["name"]))

    def _boot_time(self, vmi: Obj) -> float | None:
        for stamp in (vmi.get("status") or {}).get("phaseTransitionTimestamps") or ():
            if stamp.get("phase") == "Scheduled":
                at = calendar.timegm(
                    time.strptime(stamp["phaseTransitionTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
                )
                return at + BOOT_SECONDS
        return None

    def _live_migratable(self, vmi: Obj, now: float) -> None:
        """LiveMigratable and its reason, from the disks and the network (fact sheet §5.5)."""
        meta = vmi["metadata"]
        spec = vmi.get("spec") or {}
        for volume in spec.get("volumes") or ():
            claim = (volume.get("dataVolume") or {}).get("name") or (
                volume.get("persistentVolumeClaim") or {}
            ).get("claimName")
            if not claim:
                continue
            pvc = self.store.get("/persistentvolumeclaims", meta["namespace"], claim)
            modes = ((pvc or {}).get("spec") or {}).get("accessModes") or []
            if pvc is not None and "ReadWriteMany" not in modes:
                set_condition(
                    vmi,
                    "LiveMigratable",
                    "False",
                    now,
                    "DisksNotLiveMigratable",
                    f"cannot migrate VMI: PVC {claim} is not shared, live migration "
                    "requires that all PVCs must be shared (using ReadWriteMany "
                    "access mode)",
                )
                return
        bridge_ok = (meta.get("annotations") or {}).get(
            "kubevirt.io/allow-pod-bridge-network-live-migration"
        ) is not None
        interfaces = ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or ()
        pod_networks = {n.get("name") for n in spec.get("networks") or () if "pod" in n}
        for iface in interfaces:
            if "bridge" in iface and iface.get("name") in pod_networks and not bridge_ok:
                set_condition(
                    vmi,
                    "LiveMigratable",
                    "False",
                    now,
                    "InterfaceNotLiveMigratable",
                    "cannot migrate VMI which does not use masquerade, bridge with "
                    "kubevirt.io/allow-pod-bridge-network-live-migration VM "
                    "annotation or a migratable plugin to connect to the pod "
                    "network",
                )
                return
        set_condition(vmi, "LiveMigratable", "True", now)

    def _eviction_requested(self, vmi: Obj, now: float) -> None:
        if (vmi.get("status") or {}).get("evacuationNodeName"):
            set_condition(
                vmi,
                "EvictionRequested",
                "True",
                now,
                "EvictionRequested",
                "VMI is marked for eviction",
            )
        else:
            remove_condition(vmi, "EvictionRequested")

    def _fail(self, vmi: Obj, reason: str, message: str) -> None:
        now = self.world.now()
        meta = vmi["metadata"]

        def change(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            phase_transition(status, "Failed", now)
            status["reason"] = reason
            set_condition(obj, "Ready", "False", now, reason, message)
            status.pop("evacuationNodeName", None)
            remove_condition(obj, "EvictionRequested")

        self.store.mutate(VMIS, meta["namespace"], meta["name"], change)
        self.world.record_event(
            vmi,
            "Stopped",
            f"The VirtualMachineInstance was shut down: {message}",
            "Warning",
            component="virt-handler",
        )

    def _shutdown(self, vmi: Obj, pods: list[Obj]) -> None:
        """A deleted VMI stops its pods first, then lets go of its finalizers."""
        meta = vmi["metadata"]
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(StoreError):
                    self.store.delete(
                        PODS,
                        meta["namespace"],
                        pod["metadata"]["name"],
                        grace_seconds=int(
                            (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
                        ),
                    )
        if pods:
            return  # the kubelet removes them; their DELETED events bring us back
        finalizers = [
            f for f in meta.get("finalizers") or [] if f not in (VM_FINALIZER, VMI_FINALIZER)
        ]
        new = clone(vmi)
        new["metadata"]["finalizers"] = finalizers
        status = new.setdefault("status", {})
        if status.get("phase") not in FINAL_VMI_PHASES:
            phase_transition(status, "Succeeded", self.world.now())
        self.store.replace(VMIS, new, check_rv=False)
        if not finalizers and self.store.get(VMIS, meta["namespace"], meta["name"]):
            self.store.remove(VMIS, meta["namespace"], meta["name"])


def _mac(uid: str) -> str:
    digest = hashlib.md5(uid.encode()).hexdigest()
    return "02:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))


__all__ = [
    "VmiController",
    "effective_eviction_strategy",
    "guest_memory",
    "launcher_pod",
    "phase_transition",
    "vcpus",
]
