"""The cluster as the doctor sees it: every list it needs, read once and concurrently.

`collect` reads the infra cluster (nodes, KubeVirt and CDI, storage, workloads, Services,
NetworkPolicies, ...) and the Seed side (KKP datacenters through `datacenter.list_datacenters`,
KKP Clusters) and keeps each read's items or its error. Checks then ask `Observed` for what they
need; a read that failed raises `CouldNotCheck` with a reason an admin can act on (the 403's
verb and resource, or which CRD the context does not serve).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.config import SUPPORTED_VERSIONS
from kvtui.cluster.connection import Connection
from kvtui.cluster.datacenter import Datacenter, infra_namespaces, infra_storage_classes
from kvtui.cluster.datacenter import list_datacenters as read_datacenters
from kvtui.cluster.doctor_fixes import CLUSTER_NAME_LABEL, OLD_SELECTOR_PREFIX, SERVICES
from kvtui.cluster.doctor_model import CouldNotCheck
from kvtui.cluster.errors import KubeError, NotFound
from kvtui.cluster.preset_apply import MACHINE_DEPLOYMENTS

DAEMONSETS = kinds.Kind("DaemonSet", "apps", "v1", "daemonsets", True)
NETWORK_POLICIES = kinds.Kind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True)
SERVICE_ACCOUNTS = kinds.Kind("ServiceAccount", "", "v1", "serviceaccounts", True)
INFRA_KINDS = (
    kinds.NODES,
    kinds.NAMESPACES,
    kinds.KUBEVIRTS,
    kinds.CDIS,
    DAEMONSETS,
    SERVICES,
    NETWORK_POLICIES,
    kinds.VMS,
    kinds.VMIS,
    kinds.VMIMS,
    kinds.PVCS,
    MACHINE_DEPLOYMENTS,
)
# Where prometheus-operator setups usually run, for a monitorNamespace nobody set.
MONITORING_NAMESPACES = ("monitoring", "prometheus", "kube-prometheus-stack", "observability")
USER_NAMESPACE = re.compile(r"cluster-([a-z0-9]+)")
STORAGE = "infra storage classes"
DATACENTERS = "datacenters"


@dataclass
class Read:
    """One list as read from one context: its items, or the error that stopped it."""

    what: str  # how an admin names it: "kubevirts.kubevirt.io", "seeds.kubermatic.k8c.io"
    context: str
    items: list[Any] | None = None
    error: KubeError | None = None

    @property
    def missing(self) -> bool:
        """The context does not serve the kind: its CRD is not installed."""
        return isinstance(self.error, NotFound)

    def reason(self) -> str:
        if self.error is None:
            return ""
        if self.missing:
            why = f"{self.what} is not served by context {self.context} (CRD not installed)"
            if self.what.endswith("kubermatic.k8c.io"):
                why += "; KKP objects live on the seed cluster: pass --seed-context"
            if self.what.startswith("machinedeployments."):
                why += "; MachineDeployments live in the user clusters"
            return why
        return f"context {self.context}: {self.error}"


@dataclass(frozen=True)
class UserNamespace:
    """An infra namespace holding a user cluster's VMs: `cluster-<id>`, or in namespacedMode
    the shared one (then `cluster_id` is None); `datacenter` is None when the Seed was not read."""

    namespace: str
    cluster_id: str | None
    datacenter: Datacenter | None


@dataclass
class Observed:
    """Everything `collect` read; checks ask here and get `CouldNotCheck` for a failed read."""

    infra_context: str
    seed_context: str
    reads: dict[str, Read] = field(default_factory=dict)
    extra: dict[tuple[str, ...], Read] = field(default_factory=dict)  # targeted second reads
    versions: Mapping[str, list[str]] = field(default_factory=lambda: dict(SUPPORTED_VERSIONS))

    # -- plain reads -----------------------------------------------------------------------
    def read(self, key: kinds.Kind | str) -> Read:
        return self.reads[str(key)]

    def items(self, key: kinds.Kind | str) -> list[Any]:
        """The items, or `CouldNotCheck` with the reason."""
        read = self.read(key)
        if read.error is not None or read.items is None:
            raise CouldNotCheck(read.reason())
        return read.items

    def maybe(self, key: kinds.Kind | str) -> list[Any] | None:
        """The items, or None when the read failed (for evidence a check can do without)."""
        read = self.read(key)
        return None if read.error is not None else read.items

    def installed(self, key: kinds.Kind | str) -> list[Any] | None:
        """The items; None when the context does not serve the kind (not installed)."""
        read = self.read(key)
        if read.missing:
            return None
        return self.items(key)

    # -- the operators' CRs ----------------------------------------------------------------
    def kubevirt(self) -> dict[str, Any]:
        """The KubeVirt CR (the Deployed one if several), or `CouldNotCheck`."""
        return self._operator_cr(kinds.KUBEVIRTS, "KubeVirt", "kubevirt.installed")

    def cdi(self) -> dict[str, Any]:
        return self._operator_cr(kinds.CDIS, "CDI", "cdi.installed")

    def _operator_cr(self, kind: kinds.Kind, name: str, check: str) -> dict[str, Any]:
        found = self.installed(kind)
        if not found:
            raise CouldNotCheck(f"{name} is not installed (see {check})")
        deployed = [cr for cr in found if (cr.get("status") or {}).get("phase") == "Deployed"]
        return (deployed or found)[0]

    # -- the Seed side ---------------------------------------------------------------------
    def all_datacenters(self) -> list[Datacenter]:
        return self.items(DATACENTERS)

    def datacenters(self) -> list[Datacenter]:
        """The KubeVirt datacenters this infra cluster serves: those whose user-cluster
        namespaces exist here (all of them when none does, or namespaces are unreadable)."""
        found = self.all_datacenters()
        names = self.maybe(kinds.NAMESPACES)
        if names is None:
            return found
        here = {(n.get("metadata") or {}).get("name") for n in names}
        mine = [dc for dc in found if here & set(infra_namespaces(dc.kubevirt, dc.clusters))]
        return mine or found

    def maybe_datacenters(self) -> list[Datacenter] | None:
        try:
            return self.datacenters()
        except CouldNotCheck:
            return None

    def user_namespaces(self) -> dict[str, UserNamespace]:
        """The infra namespaces of user clusters, from the datacenters; without the Seed, the
        `cluster-<id>` namespaces of the infra cluster (`datacenter` None)."""
        datacenters = self.maybe_datacenters()
        if datacenters is not None:
            out: dict[str, UserNamespace] = {}
            for dc in datacenters:
                shared = (dc.kubevirt.get("namespacedMode") or {}).get("enabled") is True
                for cluster in dc.clusters:
                    for namespace in infra_namespaces(dc.kubevirt, [cluster]):
                        out.setdefault(
                            namespace, UserNamespace(namespace, None if shared else cluster, dc)
                        )
            return out
        names = self.maybe(kinds.NAMESPACES)
        if names is None:
            raise CouldNotCheck(
                f"{self.read(DATACENTERS).reason()}; and {self.read(kinds.NAMESPACES).reason()}"
            )
        out = {}
        for item in names:
            name = (item.get("metadata") or {}).get("name") or ""
            if match := USER_NAMESPACE.fullmatch(name):
                out[name] = UserNamespace(name, match.group(1), None)
        return out

    def seed_note(self) -> str:
        """Evidence for a check that went on without the Seed."""
        return f"without the Seed ({self.read(DATACENTERS).reason()}): KKP's defaults assumed"


# -- reading -------------------------------------------------------------------------------
async def _read(conn: Connection, what: str, call: Awaitable[Any]) -> Read:
    try:
        result = await call
    except KubeError as exc:
        return Read(what, conn.context, error=exc)
    items = result.get("items") if isinstance(result, dict) else result
    return Read(what, conn.context, list(items or ()))


async def collect(
    infra: Connection,
    seed: Connection | None = None,
    *,
    versions: Mapping[str, list[str]] | None = None,
) -> Observed:
    """Read everything the checks need, concurrently; never raises for a refused read."""
    seed = seed or infra
    jobs: dict[str, Awaitable[Read]] = {
        str(kind): _read(infra, str(kind), infra.get_json(kind.path())) for kind in INFRA_KINDS
    }
    jobs[STORAGE] = _read(infra, str(kinds.STORAGE_CLASSES), infra_storage_classes(infra))
    jobs[DATACENTERS] = _read(seed, str(kinds.SEEDS), read_datacenters(seed))
    jobs[str(kinds.CLUSTERS)] = _read(
        seed, str(kinds.CLUSTERS), seed.get_json(kinds.CLUSTERS.path())
    )
    done = await asyncio.gather(*jobs.values())
    observed = Observed(
        infra.context,
        seed.context,
        dict(zip(jobs, done, strict=True)),
        versions=dict(versions or SUPPORTED_VERSIONS),
    )
    await _second_reads(infra, observed)
    return observed


def monitoring_namespace(observed: Observed) -> str:
    """The namespace Prometheus runs in: the KubeVirt CR's, else a usual one that exists."""
    kubevirt = (observed.maybe(kinds.KUBEVIRTS) or [{}])[0]
    named = (kubevirt.get("spec") or {}).get("monitorNamespace")
    if named:
        return str(named)
    existing = {
        (n.get("metadata") or {}).get("name") for n in observed.maybe(kinds.NAMESPACES) or ()
    }
    return next((n for n in MONITORING_NAMESPACES if n in existing), "")


def selector_text(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def old_selector_services(observed: Observed) -> list[dict[str, Any]]:
    """LoadBalancer Services still selecting on the pre-v0.3.0 `cloud.kubevirt.io/` key."""
    return [
        svc
        for svc in observed.maybe(SERVICES) or ()
        if (svc.get("spec") or {}).get("type") == "LoadBalancer"
        and any(k.startswith(OLD_SELECTOR_PREFIX) for k in (svc["spec"].get("selector") or {}))
    ]


async def _second_reads(infra: Connection, observed: Observed) -> None:
    """Reads that depend on the first ones: the monitoring namespace's ServiceAccounts, and
    the pods an old and a fixed LoadBalancer selector match."""
    jobs: dict[tuple[str, ...], Awaitable[Read]] = {}
    namespace = monitoring_namespace(observed)
    if namespace:
        path = SERVICE_ACCOUNTS.path(namespace)
        jobs[("serviceaccounts", namespace)] = _read(
            infra, str(SERVICE_ACCOUNTS), infra.get_json(path)
        )
    for svc in old_selector_services(observed):
        meta = svc["metadata"]
        match = USER_NAMESPACE.fullmatch(meta.get("namespace") or "")
        selectors = [svc["spec"]["selector"]]
        if match:
            selectors.append({CLUSTER_NAME_LABEL: match.group(1)})
        for selector in selectors:
            text = selector_text(selector)
            path = kinds.PODS.path(meta["namespace"])
            call = infra.get_json(path, {"labelSelector": text})
            jobs[("pods", meta["namespace"], text)] = _read(infra, str(kinds.PODS), call)
    done = await asyncio.gather(*jobs.values())
    observed.extra.update(zip(jobs, done, strict=True))
