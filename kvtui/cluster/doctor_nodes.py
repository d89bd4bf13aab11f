"""Doctor checks of the infra nodes against the guide's requirements: at least three bare-metal
nodes with hardware virtualization, each with the testing or production CPU, memory and storage
minimums (provider guide, Requirements; fact sheet §10)."""

from __future__ import annotations

from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, plural, warning
from kvtui.cluster.doctor_observe import Observed
from kvtui.cluster.views import KVM_RESOURCE, SCHEDULABLE_LABEL, Node, byte_count, quantity

MIN_NODES = 3
GB = 1000**3  # the guide's sizes are decimal gigabytes
TESTING = {"cores": 8, "memory": 32 * GB, "storage": 100 * GB}
PRODUCTION = {"cores": 16, "memory": 64 * GB, "storage": 500 * GB}
CONTROL_PLANE_ROLES = {"control-plane", "master"}


def _nodes(observed: Observed) -> list[Node]:
    return sorted((Node(n) for n in observed.items(kinds.NODES)), key=lambda n: n.name)


def _state(node: Node) -> str:
    ready = {True: "Ready", False: "NotReady", None: "Ready unknown"}[node.ready]
    kvm = f"{KVM_RESOURCE} {node.kvm_allocatable}"
    label = f"{SCHEDULABLE_LABEL}={node.schedulable_label or '(unset)'}"
    cordoned = ", cordoned" if node.unschedulable else ""
    return f"{node.name}: {ready}{cordoned}, {kvm}, {label}"


def _usable(node: Node) -> bool:
    return node.kvm_capable and node.ready is True and not node.unschedulable


def node_count(observed: Observed) -> Outcome:
    nodes = _nodes(observed)
    usable = [n for n in nodes if _usable(n)]
    evidence = [_state(n) for n in sorted(nodes, key=lambda n: (_usable(n), n.name))]
    summary = (
        f"{plural(len(usable), 'schedulable node')} with hardware virtualization "
        f"(the guide asks for at least {MIN_NODES})"
    )
    if len(usable) >= MIN_NODES:
        return ok(summary, evidence)
    steps = [
        "Add bare-metal nodes with VT-x/AMD-V enabled in the firmware: virt-handler then offers "
        f"{KVM_RESOURCE} on them and labels them {SCHEDULABLE_LABEL}=true.",
    ]
    if any(n.unschedulable and n.kvm_capable for n in nodes):
        steps.append("Uncordon KVM nodes that are back from maintenance: kubectl uncordon NODE.")
    if any(n.ready is not True and n.kvm_allocatable for n in nodes):
        steps.append("Bring NotReady KVM nodes back (kubelet, network, disk pressure).")
    return failure(summary, evidence, instructions=steps)


def _is_worker(node: Node) -> bool:
    return not CONTROL_PLANE_ROLES & set(node.roles)


def virtualization(observed: Observed) -> Outcome:
    workers = [n for n in _nodes(observed) if _is_worker(n)]
    lacking = [n for n in workers if not n.kvm_capable]
    if not lacking:
        return ok(
            f"all {plural(len(workers), 'worker node')} offer KVM and are schedulable for VMs",
            [_state(n) for n in workers],
        )
    return warning(
        f"{plural(len(lacking), 'worker node')} cannot run VMs: no {KVM_RESOURCE} or "
        f"{SCHEDULABLE_LABEL} is not true",
        [_state(n) for n in lacking],
        instructions=[
            "On each node: enable virtualization in the firmware, load the kvm_intel/kvm_amd "
            "module (ls /dev/kvm), and check the virt-handler pod on it "
            "(kubectl -n kubevirt get pods -l kubevirt.io=virt-handler -o wide).",
            "A node that must not run VMs should carry a taint or lack the role label VMs "
            "are scheduled to, so it is not counted as VM capacity.",
        ],
    )


def _size(node: Node) -> dict[str, float]:
    capacity: dict[str, Any] = node.status.get("capacity") or {}
    return {
        "cores": quantity(capacity.get("cpu")),
        "memory": byte_count(capacity.get("memory")),
        "storage": byte_count(capacity.get("ephemeral-storage")),
    }


def _size_text(size: dict[str, float]) -> str:
    return (
        f"{size['cores']:g} cores, {size['memory'] / GB:.0f} GB memory, "
        f"{size['storage'] / GB:.0f} GB storage"
    )


def _short(size: dict[str, float], minimum: dict[str, float]) -> list[str]:
    return [key for key in ("cores", "memory", "storage") if size[key] < minimum[key]]


def resources(observed: Observed) -> Outcome:
    kvm = [n for n in _nodes(observed) if n.kvm_allocatable > 0]
    if not kvm:
        return failure(
            f"no node offers {KVM_RESOURCE}: nothing to size (see nodes.count)",
            instructions=["Add bare-metal nodes with hardware virtualization first."],
        )
    evidence, below_test, below_prod = [], [], []
    for node in kvm:
        size = _size(node)
        test, prod = _short(size, TESTING), _short(size, PRODUCTION)
        # Storage is the kubelet's ephemeral-storage, a proxy: it alone never fails a node.
        if [k for k in test if k != "storage"]:
            below_test.append(node.name)
            verdict = f"below the testing minimum ({', '.join(test)})"
        elif prod:
            below_prod.append(node.name)
            verdict = f"testing size, below production ({', '.join(prod)})"
        else:
            verdict = "production size"
        evidence.append(f"{node.name}: {_size_text(size)}: {verdict}")
    evidence.append(
        f"guide minimums: testing {_size_text(TESTING)}; production {_size_text(PRODUCTION)} "
        "(storage read from the node's ephemeral-storage capacity)"
    )
    steps = ["Give KVM nodes at least the production size: 16 cores, 64 GB memory, 500 GB disk."]
    if below_test:
        return failure(
            f"{plural(len(below_test), 'KVM node')} below the guide's testing minimum: "
            f"{', '.join(below_test)}",
            evidence,
            instructions=steps,
        )
    if below_prod:
        return warning(
            f"{plural(len(below_prod), 'KVM node')} below the production minimum: "
            f"{', '.join(below_prod)}",
            evidence,
            instructions=steps,
        )
    return ok(f"all {plural(len(kvm), 'KVM node')} meet the production minimums", evidence)


CHECKS = (
    CheckSpec(
        "nodes.count",
        "nodes",
        "Enough nodes with hardware virtualization",
        f"at least {MIN_NODES} Ready, uncordoned nodes with {KVM_RESOURCE} allocatable and "
        f"{SCHEDULABLE_LABEL}=true",
        node_count,
    ),
    CheckSpec(
        "nodes.kvm",
        "nodes",
        "Worker nodes can run VMs",
        f"every non-control-plane node offers {KVM_RESOURCE} and is marked schedulable by "
        "virt-handler",
        virtualization,
    ),
    CheckSpec(
        "nodes.resources",
        "nodes",
        "Node size",
        "CPU, memory and storage of each KVM node against the guide's testing (8 cores, 32 GB, "
        "100 GB) and production (16 cores, 64 GB, 500 GB) minimums",
        resources,
    ),
)
