"""The prometheus-operator objects of an infra cluster set up as the guide's "Setup Monitoring".

When the KubeVirt CR names a `monitorNamespace`, virt-operator creates KubeVirt's ServiceMonitor
there (name and selector from KubeVirt's `NewServiceMonitorCR`); the operator's own Prometheus CR
lives in the same namespace (its service account comes with the infra add-ons). No Prometheus pod
or Service is simulated: a test or the demo that runs a real Prometheus points a Service's
Endpoints at it (see `service_proxy.py`).
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

SERVICE_MONITOR = "prometheus-kubevirt-rules"  # virt-operator's KUBEVIRT_PROMETHEUS_RULE_NAME
PROMETHEUS_LABEL = ("prometheus.kubevirt.io", "true")
PROMETHEUS_CR = "k8s"  # kube-prometheus' Prometheus, served as prometheus-k8s


def monitoring_objects(kubevirt: Obj, kubevirt_namespace: str = "kubevirt") -> list[Obj]:
    """The Prometheus CR and KubeVirt's ServiceMonitor; none without a monitorNamespace."""
    spec = kubevirt.get("spec") or {}
    namespace = spec.get("monitorNamespace")
    if not namespace:
        return []
    account = spec.get("monitorAccount") or "prometheus-k8s"
    key, value = PROMETHEUS_LABEL
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {
                "name": PROMETHEUS_CR,
                "namespace": namespace,
                "labels": {"prometheus": PROMETHEUS_CR},
            },
            "spec": {
                "replicas": 1,
                "version": "v2.54.1",
                "serviceAccountName": account,
                "serviceMonitorSelector": {},
                "serviceMonitorNamespaceSelector": {},
                "scrapeInterval": "30s",
            },
            "status": {"availableReplicas": 1, "replicas": 1},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {
                "name": SERVICE_MONITOR,
                "namespace": spec.get("serviceMonitorNamespace") or namespace,
                "labels": {
                    "openshift.io/cluster-monitoring": "",
                    key: value,
                    "k8s-app": "kubevirt",
                },
            },
            "spec": {
                "selector": {"matchLabels": {key: value}},
                "namespaceSelector": {"matchNames": [kubevirt_namespace]},
                "endpoints": [
                    {
                        "port": "metrics",
                        "scheme": "https",
                        "tlsConfig": {"insecureSkipVerify": True},
                        "honorLabels": True,
                    }
                ],
            },
        },
    ]
