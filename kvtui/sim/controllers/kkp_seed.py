"""KKP's seed-side bookkeeping: Seed status, Cluster phase, a new cluster's infra namespace.

When a Cluster appears (from a scenario or through the API), KKP makes its infra namespace
`cluster-<id>` with the default NetworkPolicies and standard instance types (fact sheet §1.5,
§2, §3); this controller does the same and keeps `Seed.status.clusters` counting. When a
datacenter changes, its clusters' NetworkPolicies are reconciled again (custom ones added,
specs overwritten), as KKP's provider reconcile does.
"""

from __future__ import annotations

import copy

from kvtui.sim import kkp
from kvtui.sim.store import Obj
from kvtui.sim.world import Controller

SEEDS = "kubermatic.k8c.io/seeds"
CLUSTERS = "kubermatic.k8c.io/clusters"
_RESOURCES_BY_KIND = {
    "Namespace": "/namespaces",
    "NetworkPolicy": "networking.k8s.io/networkpolicies",
    "VirtualMachineInstancetype": "instancetype.kubevirt.io/virtualmachineinstancetypes",
    "VirtualMachinePreference": "instancetype.kubevirt.io/virtualmachinepreferences",
}


def _set_spec(policy: Obj, spec: Obj) -> bool | None:
    if policy.get("spec") == spec:
        return False
    policy["spec"] = copy.deepcopy(spec)
    return None


def _deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


class KkpController(Controller):
    """Seed status, Cluster phase, and a new Cluster's infra namespace contents (§1.5, §2, §3)."""

    name = "kkp-seed-controller"
    watches = (SEEDS, CLUSTERS)

    def on_event(self, etype: str, key: str, obj: Obj, old: Obj | None) -> None:
        self.enqueue(("seeds", ""))
        if key == CLUSTERS and etype != "DELETED":
            self.enqueue(("cluster", obj["metadata"]["name"]))
        elif key == SEEDS and etype != "DELETED":
            # A datacenter's change reaches every cluster of it on KKP's next reconcile.
            dcs = (obj.get("spec") or {}).get("datacenters") or {}
            for cluster in self.store.list(CLUSTERS):
                if ((cluster.get("spec") or {}).get("cloud") or {}).get("dc") in dcs:
                    self.enqueue(("cluster", cluster["metadata"]["name"]))

    def reconcile(self, item: tuple[str, str]) -> None:
        kind, name = item
        if kind == "seeds":
            self._sync_seeds()
        else:
            self._sync_cluster(name)

    def _sync_seeds(self) -> None:
        clusters = [c for c in self.store.list(CLUSTERS) if not _deleting(c)]
        for seed in self.store.list(SEEDS):
            dcs = (seed.get("spec") or {}).get("datacenters") or {}
            count = sum(
                ((c.get("spec") or {}).get("cloud") or {}).get("dc") in dcs for c in clusters
            )

            def change(s: Obj, count: int = count) -> bool | None:
                status = s.setdefault("status", {})
                if status.get("clusters") == count and status.get("phase") == "Healthy":
                    return False
                status.update(clusters=count, phase="Healthy")
                return None

            meta = seed["metadata"]
            self.store.mutate(SEEDS, meta.get("namespace"), meta["name"], change)

    def _sync_cluster(self, name: str) -> None:
        cluster = self.store.get(CLUSTERS, None, name)
        if cluster is None:
            return
        if _deleting(cluster):  # KKP's cleanup finalizers, finished at once
            self.store.mutate(CLUSTERS, None, name, lambda c: c["metadata"].update(finalizers=[]))
            return
        namespace = kkp.infra_namespace(name)
        address = ((cluster.get("status") or {}).get("address") or {}).get("ip", "")

        def change(c: Obj) -> bool | None:
            status = c.setdefault("status", {})
            if status.get("phase") == "Running" and status.get("namespaceName") == namespace:
                return False
            status.update(phase="Running", namespaceName=namespace)
            return None

        self.store.mutate(CLUSTERS, None, name, change)
        dc = self._datacenter(((cluster.get("spec") or {}).get("cloud") or {}).get("dc", ""))
        if (
            dc is None
            or ((cluster.get("spec") or {}).get("cloud") or {}).get("providerName") != "kubevirt"
        ):
            return
        for obj in kkp.cluster_infra_objects(name, address, dc):
            key = _RESOURCES_BY_KIND[obj["kind"]]
            meta = obj["metadata"]
            if self.store.get(key, meta.get("namespace"), meta["name"]) is None:
                self.store.create(key, obj)
            elif obj["kind"] == "NetworkPolicy":
                # KKP reconciles its policies and the custom ones: the spec is overwritten
                # (§2.1, §2.3); one it no longer produces is left alone, never deleted.
                self.store.mutate(
                    key, meta["namespace"], meta["name"], lambda p, s=obj["spec"]: _set_spec(p, s)
                )

    def _datacenter(self, dc_name: str) -> dict | None:
        for seed in self.store.list(SEEDS):
            dc = ((seed.get("spec") or {}).get("datacenters") or {}).get(dc_name)
            if dc is not None:
                return (dc.get("spec") or {}).get("kubevirt")
        return None
