"""KKP's machine side: MachineDeployments, the machine-controller, and KKP's seed bookkeeping.

- `MachineDeploymentController` keeps `spec.replicas` Machines per MachineDeployment (with a
  maxSurge/maxUnavailable rollout when the template changes) and its status.
- `MachineController` is machine-controller's KubeVirt provider: one VM per Machine; once the
  VMI runs, the Machine gets its node; on deletion it drains the (simulated) user-cluster node,
  deletes the VM and lets the Machine go.
- `VmiEvictionController` is KKP's `kkp-kubevirt-vmi-eviction`: an `External` VMI being
  evacuated from an infra node gets its Machine deleted, so a replacement VM starts elsewhere.
- `KkpController` keeps Seed/Cluster status and a new Cluster's infra namespace contents.

Simulation deviation: MachineDeployments and Machines live in the infra namespace
`cluster-<id>` (really: `kube-system` of the user cluster), since one endpoint serves both.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from typing import Any

from kvtui.sim import kkp
from kvtui.sim.controllers.kkp_seed import KkpController
from kvtui.sim.controllers.kubevirt_provider import (
    ProviderError,
    new_virtual_machine,
    userdata_secret,
)
from kvtui.sim.store import Obj, StoreError, now_rfc3339
from kvtui.sim.world import Controller, World

MACHINE_DEPLOYMENTS = "cluster.k8s.io/machinedeployments"
MACHINES = "cluster.k8s.io/machines"
VMS = "kubevirt.io/virtualmachines"
VMIS = "kubevirt.io/virtualmachineinstances"
SECRETS = "/secrets"
MACHINE_FINALIZER = "machine-delete-finalizer"
DEFAULT_DRAIN_SECONDS = 10.0  # a user-cluster node drain before its VM is deleted
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(md: Obj) -> str:
    """Ten hex digits naming the MachineSet generation of the MD's template."""
    text = json.dumps(md["spec"].get("template") or {}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def machine_ready(machine: Obj) -> bool:
    conds = (machine.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _owner_md(machine: Obj) -> str | None:
    for ref in machine["metadata"].get("ownerReferences") or ():
        if ref.get("kind") == "MachineDeployment":
            return ref.get("name")
    return None


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1])
        return -(-share // 100) if round_up else share // 100
    return int(value or 0)


class MachineDeploymentController(Controller):
    """Keeps each MachineDeployment's Machines: scale, replace, roll out, report status."""

    name = "machinedeployment-controller"
    watches = (MACHINE_DEPLOYMENTS, MACHINES)

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        owner = meta["name"] if key == MACHINE_DEPLOYMENTS else _owner_md(obj)
        if owner:
            self.enqueue((meta["namespace"], owner))

    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        md = self.store.get(MACHINE_DEPLOYMENTS, namespace, name)
        owned = [m for m in self.store.list(MACHINES, namespace) if _owner_md(m) == name]
        if md is None or _deleting(md):  # the garbage collector's cascade, done here
            for machine in owned:
                self._delete(machine)
            return
        uid = md["metadata"]["uid"]
        owned = [
            m
            for m in owned
            if any(r.get("uid") == uid for r in m["metadata"].get("ownerReferences") or ())
        ]
        spec = md["spec"]
        replicas = int(spec.get("replicas", 1))
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _int_or_percent(rolling.get("maxSurge", 1), replicas, True)
        unavailable = _int_or_percent(rolling.get("maxUnavailable", 0), replicas, False)
        if surge == 0 and unavailable == 0:
            surge = 1
        prefix = f"{name}-{template_hash(md)}-"
        live = [m for m in owned if not _deleting(m)]
        current = [m for m in live if m["metadata"]["name"].startswith(prefix)]
        old = [m for m in live if not m["metadata"]["name"].startswith(prefix)]

        limit = replicas + (surge if old else 0)
        created = [
            self._create_machine(md, prefix)
            for _ in range(max(0, min(replicas - len(current), limit - len(live))))
        ]
        current += created
        gone: list[Obj] = []
        if old:
            # Retire old machines while enough ready ones remain (maxUnavailable).
            spare = sum(map(machine_ready, live)) - (replicas - unavailable)
            for machine in sorted(old, key=machine_ready):
                if not machine_ready(machine) or spare > 0:
                    spare -= machine_ready(machine)
                    gone.append(machine)
        elif len(current) > replicas:
            # Scale down: unready machines first, then the newest.
            victims = sorted(
                current,
                key=lambda m: (
                    machine_ready(m),
                    m["metadata"].get("creationTimestamp", ""),
                    m["metadata"]["name"],
                ),
            )
            gone = victims[: len(current) - replicas]
        for machine in gone:
            self._delete(machine)
        names = {m["metadata"]["name"] for m in gone}
        self._update_status(md, [m for m in live if m["metadata"]["name"] not in names] + created)

    def _create_machine(self, md: Obj, prefix: str) -> Obj:
        template = md["spec"].get("template") or {}
        meta = md["metadata"]
        for _ in range(50):
            name = prefix + "".join(self.world.rng.choice(_SUFFIX_ALPHABET) for _ in range(5))
            if self.store.get(MACHINES, meta["namespace"], name) is None:
                break
        machine = {
            "apiVersion": kkp.MD_API,
            "kind": "Machine",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "finalizers": [MACHINE_FINALIZER],
                "ownerReferences": [
                    {
                        "apiVersion": kkp.MD_API,
                        "kind": "MachineDeployment",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        created = self.store.create(MACHINES, machine)
        self.world.record_event(
            md,
            "SuccessfulCreate",
            f"Created machine: {name}",
            component="machinedeployment-controller",
        )
        return created

    def _delete(self, machine: Obj) -> None:
        if _deleting(machine):
            return
        meta = machine["metadata"]
        with contextlib.suppress(StoreError):
            self.store.delete(MACHINES, meta["namespace"], meta["name"])

    def _update_status(self, md: Obj, machines: list[Obj]) -> None:
        meta = md["metadata"]
        prefix = f"{meta['name']}-{template_hash(md)}-"
        ready = sum(map(machine_ready, machines))
        replicas = int(md["spec"].get("replicas", 1))
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(machines),
            "updatedReplicas": sum(m["metadata"]["name"].startswith(prefix) for m in machines),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, replicas - ready),
        }

        if md.get("status") != status:
            self.store.mutate(
                MACHINE_DEPLOYMENTS,
                meta["namespace"],
                meta["name"],
                lambda obj: obj.update(status=status),
            )


class MachineController(Controller):
    """One KubeVirt VM per Machine; node reference once it runs; drain-then-delete."""

    name = "machine-controller"
    watches = (MACHINES, VMS, VMIS)

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self._deletion_seen: dict[tuple[str, str], float] = {}

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        item = (meta["namespace"], meta["name"])
        if key == VMS and etype == "MODIFIED":
            return  # VM status churn says nothing the machine-controller acts on
        if (
            key == VMIS
            and etype == "MODIFIED"
            and old is not None
            and _vmi_facts(obj) == _vmi_facts(old)
        ):
            return
        if key == MACHINES:
            if etype != "MODIFIED" or old is None or _machine_intent(obj) != _machine_intent(old):
                self.enqueue(item)
        elif self.store.get(MACHINES, *item) is not None:
            self.enqueue(item)

    def reconcile(self, item: tuple[str, str]) -> None:
        namespace, name = item
        machine = self.store.get(MACHINES, namespace, name)
        if machine is None:
            self._deletion_seen.pop(item, None)
            return
        if _deleting(machine):
            self._finish_deletion(machine)
            return
        if MACHINE_FINALIZER not in (machine["metadata"].get("finalizers") or ()):
            self.store.mutate(
                MACHINES,
                namespace,
                name,
                lambda m: m["metadata"].setdefault("finalizers", []).append(MACHINE_FINALIZER),
            )
        if self.store.get(VMS, namespace, name) is None:
            self._create_vm(machine)
            return
        self._sync_status(machine, self.store.get(VMIS, namespace, name))

    def _create_vm(self, machine: Obj) -> None:
        meta = machine["metadata"]
        now = self.world.now()
        try:
            vm, secret_name = new_virtual_machine(self.store, machine, now)
        except ProviderError as exc:
            self._set_error(machine, str(exc))
            return
        created = self.store.create(VMS, vm)
        self.store.create(SECRETS, userdata_secret(created, secret_name))
        self.world.record_event(
            machine,
            "Created",
            f"Successfully created instance {meta['name']}",
            component="machine-controller",
        )
        self._set_error(machine, None)

    def _set_error(self, machine: Obj, message: str | None) -> None:
        status = dict(machine.get("status") or {})
        if message is None:
            status.pop("errorMessage", None)
            status.pop("errorReason", None)
        else:
            status.update(errorReason="InvalidConfiguration", errorMessage=message)
        self._write_status(machine, status, machine["spec"].get("providerID"))

    def _sync_status(self, machine: Obj, vmi: Obj | None) -> None:
        """Mirror the VMI as the user-cluster node would: nodeRef, addresses, Ready."""
        name = machine["metadata"]["name"]
        status = copy.deepcopy(machine.get("status") or {})
        provider_id = machine["spec"].get("providerID")
        vmi_status = (vmi or {}).get("status") or {}
        if vmi and not _deleting(vmi) and vmi_status.get("phase") == "Running":
            provider_id = f"kubevirt://{name}"
            status["nodeRef"] = {"apiVersion": "v1", "kind": "Node", "name": name}
            ip = ((vmi_status.get("interfaces") or [{}])[0]).get("ipAddress")
            status["addresses"] = [
                *([{"type": "InternalIP", "address": ip}] if ip else []),
                {"type": "Hostname", "address": name},
            ]
            kubelet = (machine["spec"].get("versions") or {}).get("kubelet", "")
            status["versions"] = {"kubelet": kubelet}
            _set_ready(status, "True", "KubeletReady", "kubelet is posting ready status")
        elif status.get("nodeRef"):
            _set_ready(
                status, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."
            )
        self._write_status(machine, status, provider_id)

    def _write_status(self, machine: Obj, status: Obj, provider_id: str | None) -> None:
        """Store a new status (and spec.providerID) only when they changed."""
        if status == (machine.get("status") or {}) and provider_id == machine["spec"].get(
            "providerID"
        ):
            return
        status["lastUpdated"] = now_rfc3339(self.world.now())

        def change(m: Obj) -> None:
            m["status"] = status
            if provider_id:
                m["spec"]["providerID"] = provider_id

        meta = machine["metadata"]
        self.store.mutate(MACHINES, meta["namespace"], meta["name"], change)

    def _finish_deletion(self, machine: Obj) -> None:
        meta = machine["metadata"]
        item = (meta["namespace"], meta["name"])
        vm = self.store.get(VMS, *item)
        if vm is not None:
            if _deleting(vm):
                return  # wait for the VM's DELETED event
            now = self.world.now()
            started = self._deletion_seen.setdefault(item, now)
            drain = 0.0
            if (machine.get("status") or {}).get("nodeRef"):
                drain = float(
                    self.world.settings.get("user_cluster_drain_seconds", DEFAULT_DRAIN_SECONDS)
                )
            if now - started < drain:
                self.after(drain - (now - started), item)
                return
            self.store.delete(VMS, *item)
            self.world.record_event(
                machine,
                "Deleted",
                f"Deleted instance {meta['name']}",
                component="machine-controller",
            )
            if self.store.get(VMS, *item) is not None:
                return
        # The userdata Secret is owned by the VM: the garbage collector removes it.
        self._deletion_seen.pop(item, None)

        def drop_finalizer(m: Obj) -> bool | None:
            finalizers = m["metadata"].get("finalizers") or []
            if MACHINE_FINALIZER not in finalizers:
                return False
            m["metadata"]["finalizers"] = [f for f in finalizers if f != MACHINE_FINALIZER]
            return None

        self.store.mutate(MACHINES, *item, drop_finalizer)


def _machine_intent(machine: Obj) -> tuple[Any, ...]:
    """What the machine-controller reacts to on a Machine (not its own status writes)."""
    meta = machine["metadata"]
    return meta.get("deletionTimestamp"), meta.get("finalizers"), machine.get("spec")


def _vmi_facts(vmi: Obj) -> tuple[Any, ...]:
    status = vmi.get("status") or {}
    ip = ((status.get("interfaces") or [{}])[0]).get("ipAddress")
    return status.get("phase"), ip, bool(vmi["metadata"].get("deletionTimestamp"))


def _set_ready(status: Obj, value: str, reason: str, message: str) -> None:
    conds = [c for c in status.get("conditions") or () if c.get("type") != "Ready"]
    old = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    if old and old.get("status") == value:
        conds.append(old)
    else:
        conds.append({"type": "Ready", "status": value, "reason": reason, "message": message})
    status["conditions"] = conds


class VmiEvictionController(Controller):
    """KKP's `kkp-kubevirt-vmi-eviction`: delete the Machine of an evacuated External VMI."""

    name = "kkp-kubevirt-vmi-eviction"
    watches = (VMIS,)

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        if etype != "DELETED" and _evacuating_external(obj):
            self.enqueue((obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def reconcile(self, item: tuple[str, str]) -> None:
        vmi = self.store.get(VMIS, *item)
        if vmi is None or not _evacuating_external(vmi):
            return
        machine = self.store.get(MACHINES, *item)
        if machine is None or _deleting(machine):
            return
        self.store.delete(MACHINES, *item)
        node = vmi["status"]["evacuationNodeName"]
        self.world.record_event(
            machine,
            "Evicted",
            f"Deleting machine: its VMI is being evacuated from infra node {node}",
            component=self.name,
        )


def _evacuating_external(vmi: Obj) -> bool:
    return (vmi.get("spec") or {}).get("evictionStrategy") == "External" and bool(
        (vmi.get("status") or {}).get("evacuationNodeName")
    )


def add_kkp_controllers(world: World) -> list[Controller]:
    """Register the KKP/machine-controller side of the simulation on `world`."""
    return [
        world.add(cls(world))
        for cls in (
            MachineDeploymentController,
            MachineController,
            VmiEvictionController,
            KkpController,
        )
    ]
