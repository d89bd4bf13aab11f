"""Doctor checks of CDI (installed, version, HonorWaitForFirstConsumer for local or
WaitForFirstConsumer storage: guide, Installation) and of the KubeVirt CR's monitoring fields
(guide, Setup Monitoring; fact sheet §7.1/§7.2)."""

from __future__ import annotations

from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.doctor_fixes import CDI_GATES, HONOR_WFFC, cdi_feature_gate_fix, monitoring_fix
from kvtui.cluster.doctor_kubevirt import missing_operator, operator_state, version_outcome
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, warning
from kvtui.cluster.doctor_observe import STORAGE, Observed, monitoring_namespace

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
# Provisioners whose volumes live on one node's disks.
LOCAL_PROVISIONERS = frozenset(
    {
        "rancher.io/local-path",
        "kubernetes.io/no-provisioner",
        "topolvm.io",
        "topolvm.cybozu.com",
        "openebs.io/local",
        "local.csi.openebs.io",
        "lvm.csi.metal-stack.io",
        "kubevirt.io.hostpath-provisioner",
        "kubevirt.io/hostpath-provisioner",
    }
)
CDI_RELEASES = "https://github.com/kubevirt/containerized-data-importer/releases/download"
PROMETHEUS_ACCOUNT = "prometheus-k8s"  # KubeVirt's default monitorAccount, kube-prometheus's SA


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def installed(observed: Observed) -> Outcome:
    steps = [
        "Install CDI as the guide says: export RELEASE=<supported version>; kubectl apply -f "
        f"{CDI_RELEASES}/${{RELEASE}}/cdi-operator.yaml, then kubectl apply -f "
        f"{CDI_RELEASES}/${{RELEASE}}/cdi-cr.yaml.",
    ]
    _, missing = missing_operator(
        observed,
        kinds.CDIS,
        "CDI is not installed: VMs get no disks",
        "no CDI CR: the CDI operator has nothing to deploy",
        steps,
    )
    return missing if missing is not None else operator_state(observed.cdi(), "CDI")


def version(observed: Observed) -> Outcome:
    status = observed.cdi().get("status") or {}
    current = status.get("observedVersion") or status.get("operatorVersion") or ""
    steps = [
        "Update one minor release at a time (N-1 → N): export RELEASE=<next>; kubectl apply -f "
        f"{CDI_RELEASES}/${{RELEASE}}/cdi-operator.yaml",
    ]
    outcome = version_outcome(
        "CDI", current, status.get("targetVersion") or "", list(observed.versions["cdi"]), steps
    )
    note = "the provider guide names CDI v1.60"
    return Outcome(
        outcome.status,
        outcome.summary,
        (*outcome.evidence, note),
        outcome.fix,
        outcome.instructions,
    )


def _storage_in_question(observed: Observed) -> tuple[list[tuple[str, dict | None, dict]], str]:
    """(name, infra StorageClass or None, datacenter entry) of the datacenters' infra storage
    classes; without the Seed, every StorageClass of the infra cluster (and a note)."""
    classes = {(sc.get("metadata") or {}).get("name"): sc for sc in observed.items(STORAGE)}
    datacenters = observed.maybe_datacenters()
    if datacenters is None:
        return [(name, sc, {}) for name, sc in sorted(classes.items())], observed.seed_note()
    seen: dict[str, tuple[str, dict | None, dict]] = {}
    for dc in datacenters:
        for entry in dc.kubevirt.get("infraStorageClasses") or ():
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str):
                seen.setdefault(name, (name, classes.get(name), entry))
    names = ", ".join(dc.ref.name for dc in datacenters)
    return list(seen.values()), f"infra storage classes of datacenter {names}"


def local_reasons(storage_class: dict | None, entry: dict) -> list[str]:
    """Why a class is local or binds late: the two cases CDI must honor."""
    reasons = []
    binding = (storage_class or {}).get("volumeBindingMode") or entry.get("volumeBindingMode")
    if binding == WAIT_FOR_FIRST_CONSUMER:
        reasons.append("binds WaitForFirstConsumer")
    provisioner = (storage_class or {}).get("provisioner") or ""
    if provisioner in LOCAL_PROVISIONERS:
        reasons.append(f"local provisioner {provisioner}")
    return reasons


def honor_wffc(observed: Observed) -> Outcome:
    cdi = observed.cdi()
    gates = [str(g) for g in _at(cdi, CDI_GATES) or ()]
    considered, scope = _storage_in_question(observed)
    needing = [(name, local_reasons(sc, entry)) for name, sc, entry in considered]
    needing = [(name, why) for name, why in needing if why]
    evidence = [f"CDI feature gates: {', '.join(gates) or '(none)'}", f"looked at: {scope}"]
    evidence += [f"{name}: {' and '.join(why)}" for name, why in needing]
    if not needing:
        return ok(
            f"not needed: no local or {WAIT_FOR_FIRST_CONSUMER} infra storage class", evidence
        )
    names = ", ".join(name for name, _ in needing)
    if HONOR_WFFC in gates:
        return ok(f"{HONOR_WFFC} is enabled for {names}", evidence)
    return failure(
        f"{HONOR_WFFC} is missing from the CDI CR although {names} "
        f"{'is' if len(needing) == 1 else 'are'} local or {WAIT_FOR_FIRST_CONSUMER}",
        evidence,
        fix=cdi_feature_gate_fix("cdi.honor-wffc", cdi),
        instructions=[
            f"Add {HONOR_WFFC} to spec.config.featureGates of the CDI CR "
            "(kvtui doctor --fix cdi.honor-wffc); without it CDI imports disks on whatever "
            "node it picks, and the VM cannot start elsewhere.",
        ],
    )


def _prometheus_account(names: list[str]) -> str:
    if PROMETHEUS_ACCOUNT in names:
        return PROMETHEUS_ACCOUNT
    candidates = [
        n
        for n in sorted(names)
        if "prometheus" in n and not any(x in n for x in ("operator", "exporter", "state-metrics"))
    ]
    return candidates[0] if candidates else ""


def monitoring(observed: Observed) -> Outcome:
    kubevirt = observed.kubevirt()
    spec = kubevirt.get("spec") or {}
    namespace, account = spec.get("monitorNamespace"), spec.get("monitorAccount")
    evidence = [
        f"monitorNamespace: {namespace or '(unset)'}",
        f"monitorAccount: {account or '(unset)'}",
    ]
    problems = []
    if not namespace:
        problems.append(
            "monitorNamespace is not set: KubeVirt falls back to an OpenShift "
            "default, so no ServiceMonitor reaches your Prometheus"
        )
    if not account:
        problems.append(f"monitorAccount is not set: KubeVirt assumes {PROMETHEUS_ACCOUNT}")
    target_ns = monitoring_namespace(observed)
    existing = observed.maybe(kinds.NAMESPACES)
    names_here = {(n.get("metadata") or {}).get("name") for n in existing or ()}
    if target_ns and existing is not None and target_ns not in names_here:
        problems.append(f"namespace {target_ns} does not exist")
    accounts_read = observed.extra.get(("serviceaccounts", target_ns))
    names = None
    if accounts_read is not None and accounts_read.error is None:
        names = [(a.get("metadata") or {}).get("name") or "" for a in accounts_read.items or ()]
        evidence.append(f"ServiceAccounts in {target_ns}: {', '.join(sorted(names)) or '(none)'}")
    elif accounts_read is not None:
        evidence.append(f"ServiceAccounts not read: {accounts_read.reason()}")
    wanted_account = account or (_prometheus_account(names) if names is not None else "")
    if account and names is not None and account not in names:
        problems.append(f"ServiceAccount {target_ns}/{account} does not exist")
    if not problems:
        return ok(f"monitoring set up: Prometheus {namespace}/{account}", evidence)
    fix = None
    if target_ns and wanted_account and (not namespace or not account):
        fix = monitoring_fix("monitoring.kubevirt", kubevirt, target_ns, wanted_account)
    steps = [
        "Install prometheus-operator on the infra cluster, then set spec.monitorNamespace and "
        "spec.monitorAccount of the KubeVirt CR to its namespace and ServiceAccount"
        + (" (kvtui doctor --fix monitoring.kubevirt)" if fix else "")
        + ".",
        "Then import the KubeVirt dashboards (kubevirt/monitoring) into Grafana.",
    ]
    return warning("; ".join(problems), evidence, fix=fix, instructions=steps)


CHECKS = (
    CheckSpec(
        "cdi.installed",
        "cdi",
        "CDI installed and Deployed",
        "the CDI CR exists, its phase is Deployed and it is not Degraded",
        installed,
    ),
    CheckSpec(
        "cdi.version",
        "cdi",
        "CDI version",
        "the observed CDI version lies in the configured supported range (default 1.60 to 1.64.x)",
        version,
    ),
    CheckSpec(
        "cdi.honor-wffc",
        "cdi",
        "CDI honors WaitForFirstConsumer",
        f"{HONOR_WFFC} is a CDI feature gate when an infra storage class is local or "
        f"binds {WAIT_FOR_FIRST_CONSUMER}",
        honor_wffc,
        fixable=True,
    ),
)
MONITORING_CHECKS = (
    CheckSpec(
        "monitoring.kubevirt",
        "monitoring",
        "KubeVirt monitoring fields",
        "spec.monitorNamespace and spec.monitorAccount of the KubeVirt CR name an "
        "existing Prometheus namespace and ServiceAccount",
        monitoring,
        fixable=True,
    ),
)
