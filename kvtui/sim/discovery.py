"""Discovery documents (`/api`, `/apis`, `/apis/<group>/<version>`) built from the registry.

These are the legacy (non-aggregated) discovery formats; kubectl and the client libraries fall
back to them when the server does not answer with aggregated discovery.
"""

from __future__ import annotations

from typing import Any

from kvtui.sim.resources import REGISTRY, SUBRESOURCE_GROUPS, Registry

KUBE_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4",
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean",
    "buildDate": "2024-12-10T18:05:46Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# Virtual resources served by handlers rather than the store: group -> version -> entries.
VIRTUAL_RESOURCES: dict[str, dict[str, list[dict[str, Any]]]] = {
    "authorization.k8s.io": {
        "v1": [
            {
                "name": "selfsubjectaccessreviews",
                "singularName": "selfsubjectaccessreview",
                "namespaced": False,
                "kind": "SelfSubjectAccessReview",
                "verbs": ["create"],
            },
        ]
    },
    "authentication.k8s.io": {
        "v1": [
            {
                "name": "selfsubjectreviews",
                "singularName": "selfsubjectreview",
                "namespaced": False,
                "kind": "SelfSubjectReview",
                "verbs": ["create"],
            },
        ]
    },
    "subresources.kubevirt.io": {
        "v1": [
            {
                "name": f"virtualmachines/{sub}",
                "singularName": "",
                "namespaced": True,
                "kind": "VirtualMachine",
                "verbs": ["update"],
            }
            for sub in ("start", "stop", "restart", "migrate", "evacuate/cancel")
        ]
        + [
            {
                "name": f"virtualmachineinstances/{sub}",
                "singularName": "",
                "namespaced": True,
                "kind": "VirtualMachineInstance",
                "verbs": ["update"],
            }
            for sub in ("evacuate/cancel",)
        ]
    },
}

_SUBRESOURCE_KINDS = {
    "status": None,  # same kind as the parent
    "eviction": ("policy", "v1", "Eviction"),
    "proxy": ("", "v1", "PodProxyOptions"),
    "log": ("", "v1", "Pod"),
    "scale": ("autoscaling", "v1", "Scale"),
}


def api_versions() -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _all_groups(registry: Registry) -> dict[str, list[str]]:
    groups = registry.group_versions()
    for group, versions in VIRTUAL_RESOURCES.items():
        for version in versions:
            if version not in groups.setdefault(group, []):
                groups[group].append(version)
    for group, versions in SUBRESOURCE_GROUPS.items():
        groups.setdefault(group, list(versions))
    return groups


def api_group(group: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": gvs,
        "preferredVersion": gvs[0],
    }


def api_group_list(registry: Registry = REGISTRY) -> dict:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(g, vs) for g, vs in _all_groups(registry).items()],
    }


def group_info(group: str, registry: Registry = REGISTRY) -> dict | None:
    versions = _all_groups(registry).get(group)
    return api_group(group, versions) if versions else None


def resource_list(group: str, version: str, registry: Registry = REGISTRY) -> dict | None:
    """The APIResourceList of one group version, with subresources as `<plural>/<sub>`."""
    gv = f"{group}/{version}" if group else version
    entries: list[dict[str, Any]] = []
    for res in registry.in_group_version(group, version):
        entry: dict[str, Any] = {
            "name": res.plural,
            "singularName": res.singular_name,
            "namespaced": res.namespaced,
            "kind": res.kind,
            "verbs": list(res.verbs),
        }
        if res.short_names:
            entry["shortNames"] = list(res.short_names)
        if res.categories:
            entry["categories"] = list(res.categories)
        entries.append(entry)
        for sub in res.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{res.plural}/{sub}",
                "singularName": "",
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": ["get", "patch", "update"],
            }
            target = _SUBRESOURCE_KINDS.get(sub)
            if target:
                sub_group, sub_version, sub_kind = target
                sub_entry.update(group=sub_group, version=sub_version, kind=sub_kind)
                sub_entry["verbs"] = {"eviction": ["create"], "log": ["get"]}.get(
                    sub, ["create", "delete", "get", "patch", "update"]
                )
            entries.append(sub_entry)
    entries.extend(VIRTUAL_RESOURCES.get(group, {}).get(version, []))
    if not entries:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}
