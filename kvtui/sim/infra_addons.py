"""Add-ons every infra cluster runs: virt-handler, NodeLocal DNS, the CNI, core Services.

DaemonSets here are templates only; the simulated DaemonSet controller places their pods.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from typing import Any

Obj = dict[str, Any]

SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/12")
CLUSTER_DNS_IP = "10.96.0.10"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def service_ip(namespace: str, name: str) -> str:
    """A stable ClusterIP for a Service, away from the well-known low addresses."""
    size = SERVICE_NETWORK.num_addresses - 512
    return str(SERVICE_NETWORK[256 + _digest(f"{namespace}/{name}") % size])


def stable_port(key: str) -> int:
    """A stable port in the NodePort range for `key`."""
    return 30000 + _digest(key) % 2768


def _daemonset(
    name: str,
    namespace: str,
    labels: dict[str, str],
    pod_spec: Obj,
    template_labels: dict[str, str] | None = None,
) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
            "template": {
                "metadata": {"labels": {**labels, **(template_labels or {})}},
                "spec": pod_spec,
            },
        },
    }


def virt_handler(version: str, kvm_taints: list[dict[str, Any]]) -> Obj:
    """virt-handler, tolerating every taint found on a KVM node so it runs on all of them."""
    tolerations = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    for taint in kvm_taints:
        tolerations.append({"key": taint["key"], "operator": "Exists", "effect": taint["effect"]})
    container = {
        "name": "virt-handler",
        "image": f"quay.io/kubevirt/virt-handler:{version}",
        "command": ["virt-handler"],
        "args": [
            "--port",
            "8443",
            "--hostname-override",
            "$(NODE_NAME)",
            "--pod-ip-address",
            "$(MY_POD_IP)",
            "--max-metric-requests",
            "3",
            "--console-server-port",
            "8186",
            "--graceful-shutdown-seconds",
            "315",
            "-v",
            "2",
        ],
        "ports": [{"name": "metrics", "containerPort": 8443, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "357Mi"}},
        "securityContext": {"privileged": True, "seLinuxOptions": {"level": "s0"}},
    }
    return _daemonset(
        "virt-handler",
        "kubevirt",
        {"kubevirt.io": "virt-handler"},
        {
            "serviceAccountName": "kubevirt-handler",
            "priorityClassName": "kubevirt-cluster-critical",
            "hostPID": True,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": tolerations,
            "containers": [container],
        },
        template_labels={
            "prometheus.kubevirt.io": "true",
            "app.kubernetes.io/component": "kubevirt",
            "app.kubernetes.io/managed-by": "virt-operator",
            "app.kubernetes.io/version": version,
        },
    )


_TOLERATE_ALL = [
    {"operator": "Exists", "effect": "NoSchedule"},
    {"operator": "Exists", "effect": "NoExecute"},
    {"key": "CriticalAddonsOnly", "operator": "Exists"},
]


_COREFILE = """\
cluster.local:53 {
    errors
    cache {
        success 9984 30
        denial 9984 5
    }
    reload
    loop
    bind @IP@
    forward . @DNS@ {
        force_tcp
    }
    prometheus :9253
    health @IP@:8080
}
in-addr.arpa:53 {
    errors
    cache 30
    reload
    loop
    bind @IP@
    forward . @DNS@ {
        force_tcp
    }
    prometheus :9253
}
.:53 {
    errors
    cache 30
    reload
    loop
    bind @IP@
    forward . /etc/resolv.conf
    prometheus :9253
}
"""


def node_local_dns(address: str) -> list[Obj]:
    """The infra cluster's NodeLocal DNS cache: DaemonSet plus the Corefile that binds it."""
    corefile = _COREFILE.replace("@IP@", address).replace("@DNS@", CLUSTER_DNS_IP)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "node-local-dns",
            "namespace": "kube-system",
            "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"},
        },
        "data": {"Corefile": corefile},
    }
    container = {
        "name": "node-cache",
        "image": "registry.k8s.io/dns/k8s-dns-node-cache:1.23.1",
        "args": [
            "-localip",
            address,
            "-conf",
            "/etc/Corefile",
            "-upstreamsvc",
            "kube-dns-upstream",
        ],
        "ports": [
            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9253, "protocol": "TCP"},
        ],
        "resources": {"requests": {"cpu": "25m", "memory": "5Mi"}},
        "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}},
    }
    ds = _daemonset(
        "node-local-dns",
        "kube-system",
        {"k8s-app": "node-local-dns"},
        {
            "priorityClassName": "system-node-critical",
            "serviceAccountName": "node-local-dns",
            "hostNetwork": True,
            "dnsPolicy": "Default",
            "tolerations": copy.deepcopy(_TOLERATE_ALL),
            "containers": [container],
        },
    )
    return [config, ds]


def cni_daemonset(cni: str, version: str = "") -> Obj:
    """kube-ovn-cni (KubeOVN v1.12) or canal (Calico v3.26 + flannel), on every node;
    `version` (e.g. "v3.25.2") replaces the image tag of kube-ovn or calico-node."""
    if cni == "canal":
        containers = [
            {
                "name": "calico-node",
                "image": f"docker.io/calico/node:{version or 'v3.26.5'}",
                "resources": {"requests": {"cpu": "250m"}},
                "securityContext": {"privileged": True},
            },
            {
                "name": "kube-flannel",
                "image": "docker.io/flannel/flannel:v0.24.4",
                "command": ["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"],
                "securityContext": {"privileged": True},
            },
        ]
        return _daemonset(
            "canal",
            "kube-system",
            {"k8s-app": "canal"},
            {
                "priorityClassName": "system-node-critical",
                "serviceAccountName": "canal",
                "hostNetwork": True,
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": copy.deepcopy(_TOLERATE_ALL),
                "containers": containers,
            },
        )
    container = {
        "name": "cni-server",
        "image": f"docker.io/kubeovn/kube-ovn:{version or 'v1.12.30'}",
        "command": ["bash", "/kube-ovn/start-cniserver.sh"],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
        "securityContext": {"privileged": True, "runAsUser": 0},
    }
    return _daemonset(
        "kube-ovn-cni",
        "kube-system",
        {"app": "kube-ovn-cni"},
        {
            "priorityClassName": "system-node-critical",
            "serviceAccountName": "kube-ovn-cni",
            "hostNetwork": True,
            "hostPID": True,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"operator": "Exists"}],
            "containers": [container],
        },
        template_labels={"component": "network", "type": "infra"},
    )


def _service(
    name: str,
    namespace: str,
    selector: dict[str, str],
    ports: list[Obj],
    cluster_ip: str | None = None,
    labels: dict[str, str] | None = None,
) -> Obj:
    ip = cluster_ip or service_ip(namespace, name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": ports,
            "clusterIP": ip,
            "clusterIPs": [ip],
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


def core_services() -> list[Obj]:
    """The API server, cluster DNS and KubeVirt Services an infra cluster always has."""
    dns_ports = [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
    ]
    kubernetes = _service(
        "kubernetes",
        "default",
        {},
        [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        "10.96.0.1",
        {"component": "apiserver", "provider": "kubernetes"},
    )
    del kubernetes["spec"]["selector"]
    return [
        kubernetes,
        _service(
            "kube-dns",
            "kube-system",
            {"k8s-app": "kube-dns"},
            [*dns_ports, {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
            CLUSTER_DNS_IP,
            {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        ),
        _service(
            "kube-dns-upstream",
            "kube-system",
            {"k8s-app": "kube-dns"},
            dns_ports,
            labels={"k8s-app": "kube-dns"},
        ),
        _service(
            "kubevirt-prometheus-metrics",
            "kubevirt",
            {"prometheus.kubevirt.io": "true"},
            [{"name": "metrics", "port": 8443, "protocol": "TCP", "targetPort": "metrics"}],
            labels={"prometheus.kubevirt.io": "true", "kubevirt.io": ""},
        ),
        _service(
            "virt-api",
            "kubevirt",
            {"kubevirt.io": "virt-api"},
            [{"port": 443, "protocol": "TCP", "targetPort": 8443}],
            labels={"kubevirt.io": "virt-api"},
        ),
    ]


def prometheus_account() -> Obj:
    """The ServiceAccount prometheus-operator's Prometheus runs as (kube-prometheus names it
    prometheus-k8s): what the KubeVirt CR's `monitorAccount` should name (guide, monitoring)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "prometheus-k8s",
            "namespace": "monitoring",
            "labels": {
                "app.kubernetes.io/name": "prometheus",
                "app.kubernetes.io/part-of": "kube-prometheus",
            },
        },
    }


def seed_kubeconfig_secret(seed: str) -> Obj:
    """The Secret a Seed's `spec.kubeconfig` names (a stub, the simulation needs none)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": f"kubeconfig-{seed}", "namespace": "kubermatic"},
        "data": {"kubeconfig": "IyBzaW11bGF0ZWQgc2VlZCBrdWJlY29uZmlnCg=="},
    }
