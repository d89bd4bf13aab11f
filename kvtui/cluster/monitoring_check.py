"""Is KubeVirt's monitoring set up as the guide's "Setup Monitoring" says, end to end?

Four links must hold for the KubeVirt dashboards (and the metrics pane) to have data: the
KubeVirt CR names the Prometheus namespace and account; prometheus-operator is installed
(ServiceMonitor CRD); a ServiceMonitor selects KubeVirt's `kubevirt-prometheus-metrics` Service
(virt-operator creates one in `monitorNamespace`); and Prometheus actually scrapes it, which
only Prometheus can tell (its targets, and whether `kubevirt_*` series exist). Each link is one
result in the doctor's shape (`doctor_model.CheckResult`), saying what is missing and how to
fix it. The KubeVirt CR's fields have a mechanical fix in the doctor (`monitoring.kubevirt`);
this check adds the live links the doctor cannot see without Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kvtui.cluster import kinds
from kvtui.cluster.connection import Connection
from kvtui.cluster.doctor_model import CheckResult, Status
from kvtui.cluster.errors import KubeError, NotFound
from kvtui.cluster.metrics_model import MetricsError
from kvtui.cluster.metrics_prometheus import PrometheusSource
from kvtui.cluster.metrics_prometheus_api import PromApi
from kvtui.cluster.placement import label_selector_matches

AREA = "monitoring"
DEFAULT_ACCOUNT = "prometheus-k8s"  # KubeVirt's default monitorAccount
METRICS_SERVICE = "kubevirt-prometheus-metrics"  # virt-operator's Service over every component
MONITORING_GROUP = "/apis/monitoring.coreos.com/v1"
# Present in every KubeVirt component's scrape / only in virt-handler's / only virt-controller's.
SERIES = {
    "kubevirt_info": "any KubeVirt component",
    "kubevirt_vmi_memory_domain_bytes": "virt-handler (per-VM statistics)",
    "kubevirt_vmi_info": "virt-controller (VMI phases, migrations)",
}
SERIES_QUERY = 'count by (__name__) ({__name__=~"' + "|".join(SERIES) + '"})'
_PATCH = (
    "kubectl patch kubevirt {name} -n {namespace} --type merge -p "
    '\'{{"spec":{{"monitorNamespace":"monitoring","monitorAccount":"prometheus-k8s"}}}}\''
)


def _result(
    check: str,
    title: str,
    status: Status,
    summary: str,
    evidence: Iterable[str] = (),
    instructions: Iterable[str] = (),
) -> CheckResult:
    return CheckResult(
        f"{AREA}.{check}",
        AREA,
        title,
        status,
        summary,
        tuple(evidence),
        None,
        tuple(instructions),
        summary.removeprefix("could not check: ") if status is Status.UNKNOWN else "",
    )


def _unknown(check: str, title: str, why: str) -> CheckResult:
    return _result(check, title, Status.UNKNOWN, f"could not check: {why}")


def prometheus_api(source: object) -> PromApi | None:
    """The Prometheus behind a metrics source, None for a direct scrape."""
    return source.api if isinstance(source, PrometheusSource) else None


async def check_monitoring(
    connection: Connection, prometheus: PromApi | None = None
) -> list[CheckResult]:
    """Every link, in order; a link that cannot be read says "could not check" and why."""
    results = []
    try:
        listed = await connection.get_json(kinds.KUBEVIRTS.path())
        kubevirt = next(iter(listed.get("items") or []), None)
    except KubeError as exc:
        kubevirt, why = None, str(exc)
    else:
        why = "no KubeVirt CR in the cluster"
    if kubevirt is None:
        results.append(_unknown("fields", "KubeVirt CR monitoring fields", why))
    else:
        results.append(_fields(kubevirt))
    results.append(await _operator(connection))
    if results[-1].status is Status.OK:
        results.append(await _service_monitor(connection, kubevirt))
    else:
        results.append(
            _unknown(
                "servicemonitor", "ServiceMonitor for KubeVirt", "prometheus-operator is missing"
            )
        )
    results.extend(await _prometheus(prometheus))
    return results


# -- the KubeVirt CR -------------------------------------------------------------------------
def _fields(kubevirt: dict[str, Any]) -> CheckResult:
    title = "KubeVirt CR monitoring fields"
    meta = kubevirt.get("metadata") or {}
    spec = kubevirt.get("spec") or {}
    namespace, account = spec.get("monitorNamespace"), spec.get("monitorAccount")
    evidence = [
        f"monitorNamespace: {namespace or '(unset)'}",
        f"monitorAccount: {account or '(unset)'}",
    ]
    if namespace and account:
        return _result("fields", title, Status.OK, f"Prometheus {namespace}/{account}", evidence)
    if not namespace:
        status = Status.FAILURE
        summary = "monitorNamespace not set: virt-operator creates no ServiceMonitor for your "
        summary += "Prometheus" if account else "Prometheus (nor is monitorAccount set)"
    else:
        status = Status.WARNING
        summary = f"monitorAccount not set: KubeVirt assumes {DEFAULT_ACCOUNT}"
    patch = _PATCH.format(name=meta.get("name", "kubevirt"), namespace=meta.get("namespace", ""))
    return _result(
        "fields",
        title,
        status,
        summary,
        evidence,
        [
            "Set them to prometheus-operator's namespace and Prometheus service account "
            f"(kvtui doctor --fix monitoring.kubevirt, or: {patch}).",
        ],
    )


# -- prometheus-operator ---------------------------------------------------------------------
async def _operator(connection: Connection) -> CheckResult:
    title = "prometheus-operator installed"
    try:
        await connection.get_json(MONITORING_GROUP)
    except NotFound:
        return _result(
            "operator",
            title,
            Status.FAILURE,
            "the ServiceMonitor CRD (monitoring.coreos.com/v1) is not served",
            instructions=[
                "Install prometheus-operator on the infra cluster (e.g. kube-prometheus), "
                "as the guide's Setup Monitoring says; virt-operator then creates KubeVirt's "
                "ServiceMonitor by itself.",
            ],
        )
    except KubeError as exc:
        return _unknown("operator", title, str(exc))
    return _result("operator", title, Status.OK, "monitoring.coreos.com/v1 is served")


def _selects_service(
    monitor: Mapping[str, Any], service: Mapping[str, Any], service_namespace: str
) -> bool:
    spec = monitor.get("spec") or {}
    namespaces = spec.get("namespaceSelector") or {}
    own = (monitor.get("metadata") or {}).get("namespace")
    if namespaces.get("any"):
        in_scope = True
    elif namespaces.get("matchNames"):
        in_scope = service_namespace in namespaces["matchNames"]
    else:
        in_scope = own == service_namespace
    labels = (service.get("metadata") or {}).get("labels") or {}
    port_names = {p.get("name") for p in (service.get("spec") or {}).get("ports") or ()}
    ports = {e.get("port") for e in spec.get("endpoints") or ()}
    return (
        in_scope
        and label_selector_matches(labels, spec.get("selector") or {})
        and bool(ports & port_names)
    )


async def _service_monitor(connection: Connection, kubevirt: dict[str, Any] | None) -> CheckResult:
    title = "ServiceMonitor for KubeVirt"
    kv_namespace = ((kubevirt or {}).get("metadata") or {}).get("namespace") or "kubevirt"
    try:
        service = await connection.get_json(
            f"/api/v1/namespaces/{kv_namespace}/services/{METRICS_SERVICE}"
        )
    except NotFound:
        return _result(
            "servicemonitor",
            title,
            Status.FAILURE,
            f"Service {kv_namespace}/{METRICS_SERVICE} does not exist",
            instructions=["virt-operator creates it: check that KubeVirt is Deployed."],
        )
    except KubeError as exc:
        return _unknown("servicemonitor", title, str(exc))
    try:
        monitors = (await connection.get_json(f"{MONITORING_GROUP}/servicemonitors")).get("items")
    except KubeError as exc:
        return _unknown("servicemonitor", title, str(exc))
    selecting = [m for m in monitors or () if _selects_service(m, service, kv_namespace)]
    names = [f"{m['metadata'].get('namespace')}/{m['metadata']['name']}" for m in selecting]
    if not selecting:
        spec = (kubevirt or {}).get("spec") or {}
        where = spec.get("serviceMonitorNamespace") or spec.get("monitorNamespace")
        return _result(
            "servicemonitor",
            title,
            Status.FAILURE,
            f"no ServiceMonitor selects {kv_namespace}/{METRICS_SERVICE}",
            [f"ServiceMonitors in the cluster: {len(monitors or [])}"],
            [
                f"virt-operator creates prometheus-kubevirt-rules in {where} once the KubeVirt "
                "CR names it and the CRD exists; check virt-operator's log."
                if where
                else "Set the KubeVirt CR's monitorNamespace first (see monitoring.fields).",
            ],
        )
    return _result(
        "servicemonitor",
        title,
        Status.OK,
        f"{', '.join(names)} selects {kv_namespace}/{METRICS_SERVICE}",
        names,
    )


# -- Prometheus itself -----------------------------------------------------------------------
def _kubevirt_targets(targets: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for target in targets.get("activeTargets") or ():
        labels = target.get("labels") or {}
        discovered = target.get("discoveredLabels") or {}
        text = " ".join(
            [
                str(target.get("scrapePool", "")),
                labels.get("job", ""),
                labels.get("service", ""),
                discovered.get("__meta_kubernetes_service_name", ""),
            ]
        )
        if "kubevirt" in text or "virt-handler" in text:
            found.append(target)
    return found


async def _prometheus(api: PromApi | None) -> list[CheckResult]:
    targets_title, series_title = "Prometheus scrapes KubeVirt", "KubeVirt series in Prometheus"
    if api is None:
        why = "no Prometheus configured or found (pass --prometheus-url)"
        return [_unknown("targets", targets_title, why), _unknown("series", series_title, why)]
    results = []
    try:
        targets = _kubevirt_targets(await api.targets())
    except MetricsError as exc:
        results.append(_unknown("targets", targets_title, str(exc)))
    else:
        down = [t for t in targets if t.get("health") != "up"]
        evidence = [
            f"{t.get('scrapeUrl', '?')}: {t.get('health')}"
            + (f" ({t['lastError']})" if t.get("lastError") else "")
            for t in targets
        ]
        if not targets:
            results.append(
                _result(
                    "targets",
                    targets_title,
                    Status.FAILURE,
                    f"{api.label} has no KubeVirt scrape target",
                    instructions=[
                        "Make the Prometheus CR select KubeVirt's ServiceMonitor "
                        "(serviceMonitorSelector, serviceMonitorNamespaceSelector) and let its "
                        "service account (monitorAccount) read endpoints in KubeVirt's namespace.",
                    ],
                )
            )
        elif down:
            results.append(
                _result(
                    "targets",
                    targets_title,
                    Status.WARNING,
                    f"{len(down)} of {len(targets)} KubeVirt targets are down",
                    evidence,
                )
            )
        else:
            results.append(
                _result(
                    "targets",
                    targets_title,
                    Status.OK,
                    f"{len(targets)} KubeVirt targets up",
                    evidence,
                )
            )
    try:
        answer = await api.query(SERIES_QUERY)
    except MetricsError as exc:
        results.append(_unknown("series", series_title, str(exc)))
        return results
    present = {(s.get("metric") or {}).get("__name__", "") for s in answer}
    missing = [f"{name} ({who})" for name, who in SERIES.items() if name not in present]
    if len(missing) == len(SERIES):
        status, summary = Status.FAILURE, f"{api.label} has no kubevirt_* series"
    elif missing:
        status, summary = Status.WARNING, f"missing: {'; '.join(missing)}"
    else:
        status, summary = Status.OK, "virt-handler and virt-controller series present"
    results.append(
        _result(
            "series",
            series_title,
            status,
            summary,
            [f"{name}: {'present' if name in present else 'missing'}" for name in SERIES],
            []
            if status is Status.OK
            else ["Check the targets above; a component not scraped has no series."],
        )
    )
    return results
