"""Doctor checks of the KubeVirt CR: installed and Deployed, a supported version, the guide's
feature gates (knowing which newer KubeVirt made GA, dropped or deprecated, fact sheet §7.1),
sane live-migration settings (§6.5) and a cluster-wide eviction strategy (§5.4)."""

from __future__ import annotations

from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.doctor_fixes import KUBEVIRT_DISABLED_GATES, KUBEVIRT_GATES, feature_gates_fix
from kvtui.cluster.doctor_model import CheckSpec, Outcome, failure, ok, plural, warning
from kvtui.cluster.doctor_observe import Observed
from kvtui.cluster.doctor_versions import ABOVE, BELOW, position, range_text, release
from kvtui.cluster.views import byte_count

# The provider guide's required gates, in its order.
GUIDE_GATES = (
    "ExperimentalIgnitionSupport",
    "DataVolumes",
    "LiveMigration",
    "CPUManager",
    "CPUNodeDiscovery",
    "Sidecar",
    "Snapshot",
    "HotplugVolumes",
)
# Gates the guide lists that current KubeVirt no longer needs (fact sheet §7.1).
NOT_NEEDED = {
    "LiveMigration": "GA: always on, listing it is harmless",
    "CPUNodeDiscovery": "GA: always on, listing it is harmless",
    "DataVolumes": "no longer a KubeVirt feature gate (DataVolumes are always on)",
}
HOTPLUG_SUCCESSOR = ("HotplugVolumes", "DeclarativeHotplugVolumes", (1, 9))
MIGRATION_DEFAULTS: dict[str, Any] = {
    "parallelMigrationsPerCluster": 5,
    "parallelOutboundMigrationsPerNode": 2,
    "bandwidthPerMigration": "0Mi",
    "completionTimeoutPerGiB": 150,
    "progressTimeout": 150,
    "allowAutoConverge": False,
    "allowPostCopy": False,
}
SLOW_BANDWIDTH = 64 * 1024**2  # below this per migration, a busy guest rarely converges
SHORT_PROGRESS_TIMEOUT = 30
GOOD_EVICTION = ("LiveMigrate", "LiveMigrateIfPossible")
KUBEVIRT_RELEASES = "https://github.com/kubevirt/kubevirt/releases/download"


def _name(cr: dict[str, Any]) -> str:
    meta = cr.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta["name"]


def operator_state(cr: dict[str, Any], what: str) -> Outcome:
    """Installed and Deployed (shared with CDI): phase, and the Available/Degraded conditions."""
    status = cr.get("status") or {}
    phase = status.get("phase") or "(no phase yet)"
    conditions = {c.get("type"): c for c in status.get("conditions") or () if isinstance(c, dict)}
    evidence = [f"{what} {_name(cr)}: phase {phase}"]
    evidence += [
        f"condition {t}={c.get('status')}" + (f" ({c.get('reason')})" if c.get("reason") else "")
        for t, c in conditions.items()
        if t in ("Available", "Progressing", "Degraded")
    ]
    version = status.get("observedKubeVirtVersion") or status.get("observedVersion") or ""
    meta = cr.get("metadata") or {}
    where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
    steps = [
        f"kubectl describe {what.lower()} {meta.get('name')}{where} and the {what} operator's "
        "logs say why it is not Deployed.",
    ]
    degraded = (conditions.get("Degraded") or {}).get("status") == "True"
    if phase != "Deployed" or degraded:
        why = "Degraded" if phase == "Deployed" else f"phase {phase}"
        return failure(f"{what} {_name(cr)} is not healthy: {why}", evidence, instructions=steps)
    if (conditions.get("Available") or {}).get("status") not in (None, "True"):
        return warning(
            f"{what} {_name(cr)} is Deployed but not Available", evidence, instructions=steps
        )
    return ok(f"{what} {_name(cr)} is Deployed" + (f" ({version})" if version else ""), evidence)


def missing_operator(
    observed: Observed, kind: kinds.Kind, not_installed: str, no_cr: str, steps: list[str]
) -> tuple[list[dict] | None, Outcome | None]:
    """The CRs of an operator (KubeVirt, CDI), or the failure when it is not installed (the
    API is not served: the read's reason is the evidence) or has no CR to deploy."""
    found = observed.installed(kind)
    if found is None:
        reason = observed.read(kind).reason()
        return None, failure(not_installed, [reason], instructions=steps)
    if not found:
        return found, failure(no_cr, instructions=steps)
    return found, None


def installed(observed: Observed) -> Outcome:
    steps = [
        "Install KubeVirt as the guide says: export RELEASE=<supported version>; kubectl apply "
        f"-f {KUBEVIRT_RELEASES}/${{RELEASE}}/kubevirt-operator.yaml, then kubectl apply -f "
        f"{KUBEVIRT_RELEASES}/${{RELEASE}}/kubevirt-cr.yaml with the guide's feature gates.",
    ]
    found, missing = missing_operator(
        observed,
        kinds.KUBEVIRTS,
        "KubeVirt is not installed",
        "no KubeVirt CR: the operator has nothing to deploy",
        steps,
    )
    if missing is not None or found is None:
        return missing or failure("KubeVirt is not installed")
    outcome = operator_state(observed.kubevirt(), "KubeVirt")
    if len(found) > 1:
        extra = f"{len(found)} KubeVirt CRs: {', '.join(_name(cr) for cr in found)}"
        return warning(outcome.summary + f"; {extra}", (*outcome.evidence, extra))
    return outcome


def version_outcome(
    what: str, observed_version: str, target: str, bounds: list[str], steps: list[str]
) -> Outcome:
    """A component's version against its configured range (shared with CDI)."""
    evidence = [
        f"observed {observed_version or '(none)'}, target {target or '(none)'}",
        f"supported: {range_text(bounds)} (config supported_versions)",
    ]
    parsed = release(observed_version)
    if parsed is None:
        return warning(f"{what} reports no version yet", evidence, instructions=steps)
    where = position(parsed, bounds)
    if where == BELOW:
        return failure(
            f"{what} {observed_version} is older than the supported {range_text(bounds)}",
            evidence,
            instructions=steps,
        )
    if where == ABOVE:
        return warning(
            f"{what} {observed_version} is newer than the supported {range_text(bounds)}",
            evidence,
            instructions=[
                "Check KKP's compatibility matrix for this version; if it is supported, widen "
                "supported_versions in kvtui's config.",
            ],
        )
    if target and release(target) != parsed:
        return warning(f"{what} is being updated: {observed_version} → {target}", evidence)
    return ok(f"{what} {observed_version} is supported ({range_text(bounds)})", evidence)


def version(observed: Observed) -> Outcome:
    status = observed.kubevirt().get("status") or {}
    current = status.get("observedKubeVirtVersion") or status.get("operatorVersion") or ""
    steps = [
        "Update one minor release at a time (N-1 → N), staging first: export RELEASE=<next>; "
        f"kubectl apply -f {KUBEVIRT_RELEASES}/${{RELEASE}}/kubevirt-operator.yaml",
    ]
    outcome = version_outcome(
        "KubeVirt",
        current,
        status.get("targetKubeVirtVersion") or "",
        list(observed.versions["kubevirt"]),
        steps,
    )
    note = "the provider guide names KubeVirt 1.2.2; Kubermatic Virtualization ships 1.5 and 1.6"
    return Outcome(
        outcome.status,
        outcome.summary,
        (*outcome.evidence, note),
        outcome.fix,
        outcome.instructions,
    )


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def required_gates(running: tuple[int, ...] | None) -> list[str]:
    """The guide's gates this KubeVirt still needs; from v1.9 HotplugVolumes is deprecated in
    favour of DeclarativeHotplugVolumes."""
    old, new, since = HOTPLUG_SUCCESSOR
    gates = [g for g in GUIDE_GATES if g not in NOT_NEEDED]
    if running is not None and running >= since:
        gates = [new if g == old else g for g in gates]
    return gates


def feature_gates(observed: Observed) -> Outcome:
    kubevirt = observed.kubevirt()
    enabled = [str(g) for g in _at(kubevirt, KUBEVIRT_GATES) or ()]
    disabled = [str(g) for g in _at(kubevirt, KUBEVIRT_DISABLED_GATES) or ()]
    running = release((kubevirt.get("status") or {}).get("observedKubeVirtVersion") or "")
    needed = required_gates(running)
    old, new, _ = HOTPLUG_SUCCESSOR
    missing = [
        g
        for g in needed
        if (g not in enabled or g in disabled) and not (g == new and old in enabled)
    ]
    evidence = [f"enabled: {', '.join(enabled) or '(none)'}"]
    if disabled:
        evidence.append(f"disabled: {', '.join(disabled)}")
    for gate in GUIDE_GATES:
        if gate in NOT_NEEDED:
            evidence.append(f"{gate}: {NOT_NEEDED[gate]}")
        elif gate == old and new in needed:
            evidence.append(f"{old}: deprecated since v1.9, {new} replaces it")
        elif gate in missing:
            evidence.append(f"{gate}: missing" + (" (disabled)" if gate in disabled else ""))
    if new in missing:
        evidence.append(f"{new}: missing")
    if not missing:
        return ok(
            f"every feature gate the guide requires is enabled on {_name(kubevirt)}", evidence
        )
    fix = feature_gates_fix("kubevirt.feature-gates", kubevirt, missing)
    return failure(
        f"{plural(len(missing), 'required feature gate')} missing: {', '.join(missing)}",
        evidence,
        fix=fix,
        instructions=[
            f"Add {', '.join(missing)} to spec.configuration.developerConfiguration.featureGates "
            f"of the KubeVirt CR {_name(kubevirt)} (kvtui doctor --fix kubevirt.feature-gates).",
        ],
    )


def migrations(observed: Observed) -> Outcome:
    kubevirt = observed.kubevirt()
    given = _at(kubevirt, ("spec", "configuration", "migrations")) or {}
    settings = {**MIGRATION_DEFAULTS, **given}
    evidence = [
        f"{key}: {settings[key]}" + ("" if key in given else " (default)")
        for key in sorted(settings)
    ]
    problems: list[tuple[bool, str]] = []  # (fails, why)
    cluster, per_node = (
        settings["parallelMigrationsPerCluster"],
        settings["parallelOutboundMigrationsPerNode"],
    )
    if not isinstance(cluster, int) or cluster < 1:
        problems.append((True, f"parallelMigrationsPerCluster {cluster}: no migration can run"))
    if not isinstance(per_node, int) or per_node < 1:
        problems.append(
            (
                True,
                f"parallelOutboundMigrationsPerNode {per_node}: nothing leaves "
                "a node, drains never finish",
            )
        )
    elif isinstance(cluster, int) and per_node > cluster:
        problems.append(
            (
                False,
                f"parallelOutboundMigrationsPerNode {per_node} is above "
                f"parallelMigrationsPerCluster {cluster}: never reached",
            )
        )
    bandwidth = byte_count(settings["bandwidthPerMigration"])
    if 0 < bandwidth < SLOW_BANDWIDTH:
        problems.append(
            (
                False,
                f"bandwidthPerMigration {settings['bandwidthPerMigration']}: "
                "busy guests dirty memory faster than that and never converge",
            )
        )
    for key in ("completionTimeoutPerGiB", "progressTimeout"):
        value = settings[key]
        if isinstance(value, int) and value < SHORT_PROGRESS_TIMEOUT:
            problems.append((False, f"{key} {value}s cancels migrations of busy guests early"))
    if settings["allowPostCopy"] is True:
        problems.append(
            (False, "allowPostCopy true: a network failure during post-copy loses the guest")
        )
    if settings.get("unsafeMigrationOverride") is True:
        problems.append(
            (False, "unsafeMigrationOverride true: migrations KubeVirt deems unsafe go ahead")
        )
    if not problems:
        return ok("live-migration settings are sane", evidence)
    steps = [
        f"Edit spec.configuration.migrations of the KubeVirt CR {_name(kubevirt)} "
        "(kubectl edit kubevirt -n kubevirt kubevirt); KubeVirt's defaults are "
        + ", ".join(f"{k} {v}" for k, v in MIGRATION_DEFAULTS.items())
        + ".",
    ]
    lines = [why for _, why in problems] + evidence
    summary = "; ".join(why for _, why in problems)
    if any(fails for fails, _ in problems):
        return failure(summary, lines, instructions=steps)
    return warning(summary, lines, instructions=steps)


def eviction_strategy(observed: Observed) -> Outcome:
    kubevirt = observed.kubevirt()
    strategy = _at(kubevirt, ("spec", "configuration", "evictionStrategy"))
    evidence = [
        f"spec.configuration.evictionStrategy: {strategy or '(unset: KubeVirt default None)'}",
        "it applies to every VMI that sets no evictionStrategy of its own; KKP's machines "
        "always set one (the datacenter's vmEvictionStrategy, External if empty)",
    ]
    if strategy in GOOD_EVICTION:
        return ok(f"VMs without their own strategy live-migrate on a drain ({strategy})", evidence)
    patch = '{"spec":{"configuration":{"evictionStrategy":"LiveMigrate"}}}'
    steps = [
        f"kubectl patch kubevirt -n {(kubevirt.get('metadata') or {}).get('namespace')} "
        f"{(kubevirt.get('metadata') or {}).get('name')} --type merge -p '{patch}'",
    ]
    if strategy == "External":
        return warning(
            "cluster-wide evictionStrategy External: VMs that are not KKP machines block "
            "drains until someone moves them",
            evidence,
            instructions=steps,
        )
    return warning(
        f"cluster-wide evictionStrategy {strategy or 'None (unset)'}: a drain shuts down "
        "VMs that set no strategy of their own",
        evidence,
        instructions=steps,
    )


CHECKS = (
    CheckSpec(
        "kubevirt.installed",
        "kubevirt",
        "KubeVirt installed and Deployed",
        "the KubeVirt CR exists, its phase is Deployed and it is not Degraded",
        installed,
    ),
    CheckSpec(
        "kubevirt.version",
        "kubevirt",
        "KubeVirt version",
        "the observed KubeVirt version lies in the configured supported range "
        "(default 1.2.2 to 1.6.x)",
        version,
    ),
    CheckSpec(
        "kubevirt.feature-gates",
        "kubevirt",
        "KubeVirt feature gates",
        "the guide's feature gates are enabled (GA, removed and deprecated ones accounted for)",
        feature_gates,
        fixable=True,
    ),
    CheckSpec(
        "kubevirt.migrations",
        "kubevirt",
        "Live-migration settings",
        "spec.configuration.migrations lets migrations run and converge",
        migrations,
    ),
    CheckSpec(
        "kubevirt.eviction-strategy",
        "kubevirt",
        "Cluster-wide eviction strategy",
        "spec.configuration.evictionStrategy live-migrates VMs on a drain",
        eviction_strategy,
    ),
)
