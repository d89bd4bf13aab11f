"""machine-controller's KubeVirt provider: a Machine becomes a `kubevirt.io/v1` VirtualMachine.

Follows `newVirtualMachine` (fact sheet §4.3 to §4.5): labels that let the CCM's LoadBalancers and
KKP's policies find the VM, `runStrategy: Once`, the instance type and preference, eviction
strategy, affinity from the node-affinity preset, topology spread per MachineDeployment, and a
DataVolume template whose access mode comes from the disk or the CDI StorageProfile.
"""

from __future__ import annotations

import base64
from typing import Any

from kvtui.sim.kkp import preset_affinity, topology_spread
from kvtui.sim.model import SIM_PREFIX
from kvtui.sim.store import Obj, Store

INSTANCETYPES = "instancetype.kubevirt.io/virtualmachineinstancetypes"
CLUSTER_INSTANCETYPES = "instancetype.kubevirt.io/virtualmachineclusterinstancetypes"
PREFERENCES = "instancetype.kubevirt.io/virtualmachinepreferences"
CLUSTER_PREFERENCES = "instancetype.kubevirt.io/virtualmachineclusterpreferences"
STORAGE_PROFILES = "cdi.kubevirt.io/storageprofiles"
STORAGE_CLASSES = "storage.k8s.io/storageclasses"
CLUSTERS = "kubermatic.k8c.io/clusters"


class ProviderError(Exception):
    """A Machine the provider cannot turn into a VM; becomes the Machine's errorMessage."""


def config_value(value: Any, default: Any = "") -> Any:
    """A ConfigVarString/ConfigVarBool: a plain value or `{value: ...}`."""
    if isinstance(value, dict):
        value = value.get("value")
    return default if value in (None, "") else value


def machine_deployment_name(machine: Obj) -> str:
    for ref in machine["metadata"].get("ownerReferences") or ():
        if ref.get("kind") == "MachineDeployment":
            return ref["name"]
    return machine["metadata"]["name"]


def cluster_identity(store: Store, machine: Obj) -> tuple[str, str]:
    """(cluster ID, project ID) as the env of the cluster's machine-controller would give."""
    namespace = machine["metadata"]["namespace"]
    for cluster in store.list(CLUSTERS):
        if (cluster.get("status") or {}).get("namespaceName") == namespace:
            labels = cluster["metadata"].get("labels") or {}
            return cluster["metadata"]["name"], labels.get("project-id", "")
    spec = _provider_spec(machine)
    return (
        config_value(spec.get("clusterName")) or namespace.removeprefix("cluster-"),
        config_value(spec.get("projectID")),
    )


def _provider_spec(machine: Obj) -> dict[str, Any]:
    value = ((machine.get("spec") or {}).get("providerSpec") or {}).get("value") or {}
    return value.get("cloudProviderSpec") or {}


def _resolve_template(
    store: Store,
    namespace: str,
    ref: dict | None,
    namespaced: str,
    cluster: str,
    kinds: tuple[str, str],
) -> dict | None:
    """Re-resolve the kind by lookup: namespaced first, then cluster-scoped (§4.3)."""
    if not ref:
        return None
    name = ref.get("name", "")
    if store.get(namespaced, namespace, name) is not None:
        return {**ref, "name": name, "kind": kinds[0]}
    if store.get(cluster, None, name) is not None:
        return {**ref, "name": name, "kind": kinds[1]}
    raise ProviderError(
        f"failed to get {kinds[0].removeprefix('VirtualMachine').lower()} "
        f'"{name}": not found as {kinds[0]} or {kinds[1]}'
    )


def access_mode(store: Store, disk: dict[str, Any]) -> str:
    """storageAccessType, else RWX when the StorageProfile offers it, else RWO (§4.2)."""
    if config_value(disk.get("storageAccessType")):
        return config_value(disk["storageAccessType"])
    profile = store.get(STORAGE_PROFILES, None, config_value(disk.get("storageClassName")))
    sets = ((profile or {}).get("status") or {}).get("claimPropertySets") or ()
    if any("ReadWriteMany" in (s.get("accessModes") or ()) for s in sets):
        return "ReadWriteMany"
    return "ReadWriteOnce"


def _topology_labels(store: Store, spec: dict[str, Any], storage_class: str) -> dict[str, str]:
    location = (spec.get("virtualMachine") or {}).get("location") or {}
    labels = {}
    if location.get("region"):
        labels["topology.kubernetes.io/region"] = location["region"]
    if location.get("zone"):
        labels["topology.kubernetes.io/zone"] = location["zone"]
    if labels:
        return labels
    sc = store.get(STORAGE_CLASSES, None, storage_class) or {}
    for term in sc.get("allowedTopologies") or ():
        for expr in term.get("matchLabelExpressions") or ():
            values = expr.get("values") or []
            if (
                expr.get("key") in ("topology.kubernetes.io/region", "topology.kubernetes.io/zone")
                and len(values) == 1
            ):
                labels[expr["key"]] = values[0]
    return labels


def _data_source(disk: dict[str, Any]) -> dict[str, Any]:
    image = config_value(disk.get("osImage"))
    source = config_value(disk.get("source"))
    if not source:  # legacy auto-detection
        source = (
            "http"
            if image.startswith(("http://", "https://"))
            else "registry"
            if image.startswith("docker://") or "/" not in image
            else "pvc"
        )
    if source == "registry":
        url = image if image.startswith("docker://") else f"docker://{image}"
        return {
            "registry": {"url": url, "pullMethod": config_value(disk.get("pullMethod"), "node")}
        }
    if source == "pvc":
        namespace, _, name = image.rpartition("/")
        return {"pvc": {"namespace": namespace, "name": name}}
    return {"http": {"url": image}}


def new_virtual_machine(store: Store, machine: Obj, now: float) -> tuple[Obj, str]:
    """The VM for `machine` and the name of its userdata Secret."""
    meta = machine["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    provider = ((machine.get("spec") or {}).get("providerSpec") or {}).get("value") or {}
    spec = provider.get("cloudProviderSpec") or {}
    vm_spec = spec.get("virtualMachine") or {}
    template = vm_spec.get("template") or {}
    disk = template.get("primaryDisk") or {}
    md_name = machine_deployment_name(machine)
    cluster_id, project_id = cluster_identity(store, machine)
    storage_class = config_value(disk.get("storageClassName"))

    labels = {
        **(meta.get("labels") or {}),
        "cluster.x-k8s.io/cluster-name": cluster_id,
        "cluster.x-k8s.io/role": "worker",
        "kubermatic.k8c.io/project-id": project_id,
        "kubermatic.k8c.io/cluster-id": cluster_id,
        "kubevirt.io/vm": name,
        "md": md_name,
        **_topology_labels(store, spec, storage_class),
    }
    machine_annotations = meta.get("annotations") or {}
    annotations = {
        "kubevirt.io/allow-pod-bridge-network-live-migration": "true",
        "ovn.kubernetes.io/allow_live_migration": "true",
    }
    subnet = ((vm_spec.get("providerNetwork") or {}).get("vpc") or {}).get("subnet") or {}
    if subnet.get("name"):
        annotations["ovn.kubernetes.io/logical_switch"] = subnet["name"]
    if provider.get("operatingSystem") == "flatcar":
        annotations["kubevirt.io/ignitiondata"] = '{"ignition":{"version":"3.3.0"}}'
        annotations["kubevirt.io/placePCIDevicesOnRootComplex"] = "true"
    annotations.update({k: v for k, v in machine_annotations.items() if k.startswith(SIM_PREFIX)})
    dv_annotations = {
        k: v for k, v in machine_annotations.items() if k.startswith("cdi.kubevirt.io")
    }

    instancetype = _resolve_template(
        store,
        namespace,
        vm_spec.get("instancetype"),
        INSTANCETYPES,
        CLUSTER_INSTANCETYPES,
        ("VirtualMachineInstancetype", "VirtualMachineClusterInstancetype"),
    )
    preference = _resolve_template(
        store,
        namespace,
        vm_spec.get("preference"),
        PREFERENCES,
        CLUSTER_PREFERENCES,
        ("VirtualMachinePreference", "VirtualMachineClusterPreference"),
    )

    domain: Obj = {
        "devices": {
            "disks": [
                {"name": "datavolumedisk", "disk": {"bus": "virtio"}},
                {"name": "cloudinitdisk", "disk": {"bus": "virtio"}},
            ],
            "interfaces": [{"name": "default", "bridge": {}}],
            "networkInterfaceMultiqueue": bool(
                config_value(vm_spec.get("enableNetworkMultiQueue"), True)
            ),
        },
        "resources": {},
    }
    if instancetype is None:
        memory = config_value(template.get("memory"))
        cpus = config_value(template.get("cpus"))
        resources = {"memory": memory} if memory else {}
        if cpus:
            resources["cpu"] = cpus
        domain["resources"] = {"requests": dict(resources), "limits": dict(resources)}
        cores = (template.get("vcpus") or {}).get("cores")
        if cores:
            domain["cpu"] = {"cores": int(cores)}

    try:
        affinity = preset_affinity((spec.get("affinity") or {}).get("nodeAffinityPreset"))
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
    strategy = vm_spec.get("evictionStrategy") or "External"
    userdata = f"userdata-{name}-{int(now)}"
    vmi_spec: Obj = {
        "domain": domain,
        "evictionStrategy": strategy,
        "networks": [{"name": "default", "pod": {}}],
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": config_value(vm_spec.get("dnsPolicy"), "ClusterFirst"),
        "affinity": affinity,
        "topologySpreadConstraints": topology_spread(
            spec.get("topologySpreadConstraints"), md_name
        ),
        "volumes": [
            {"name": "datavolumedisk", "dataVolume": {"name": name}},
            {"name": "cloudinitdisk", "cloudInitNoCloud": {"secretRef": {"name": userdata}}},
        ],
    }
    if vm_spec.get("dnsConfig"):
        vmi_spec["dnsConfig"] = vm_spec["dnsConfig"]
    storage_key = "pvc" if config_value(disk.get("storageTarget")) == "pvc" else "storage"
    dv_template: Obj = {
        "metadata": {"name": name},
        "spec": {
            "source": _data_source(disk),
            storage_key: {
                "storageClassName": storage_class,
                "accessModes": [access_mode(store, disk)],
                "resources": {"requests": {"storage": config_value(disk.get("size"), "10Gi")}},
            },
        },
    }
    if dv_annotations:
        dv_template["metadata"]["annotations"] = dv_annotations
    vm_body: Obj = {
        "runStrategy": "Always" if subnet.get("name") else "Once",
        "dataVolumeTemplates": [dv_template],
        "template": {
            "metadata": {"labels": dict(labels), "annotations": annotations},
            "spec": vmi_spec,
        },
    }
    if instancetype:
        vm_body["instancetype"] = instancetype
    if preference:
        vm_body["preference"] = preference
    vm = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": vm_body,
    }
    return vm, userdata


def userdata_secret(vm: Obj, secret_name: str) -> Obj:
    """The cloud-init Secret, owned by the VM so it goes with it."""
    meta = vm["metadata"]
    text = f"#cloud-config\nhostname: {meta['name']}\nmanage_etc_hosts: true\n"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name,
            "namespace": meta["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": "kubevirt.io/v1",
                    "kind": "VirtualMachine",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                }
            ],
        },
        "data": {"userdata": base64.b64encode(text.encode()).decode()},
    }
