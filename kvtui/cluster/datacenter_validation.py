"""Check a datacenter's `kubevirt` block before anything is sent, each finding at its field.

Errors are what KKP's webhook, the Seed CRD or the objects KKP derives from the block would
reject: wrong types and enums, unknown keys (strict, like the webhook), bad IPs, CIDRs, URLs and
quantities, two default storage classes, classes missing on the infra cluster. Warnings are the
provider guide's known issues, which KKP accepts but which hurt later: local or
topology-constrained storage, block-only storage, the NodeLocal DNS collision, eviction
strategies machine-controller does not support.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kvtui.cluster import datacenter_fields as dcf
from kvtui.cluster import netpol_spec, schema
from kvtui.cluster.findings import (
    ERROR,
    Finding,
    Findings,
    errors,
    join,
    load_yaml,
    warnings,
    with_lines,
)
from kvtui.cluster.schema import is_str

__all__ = [
    "Finding",
    "errors",
    "parse_block",
    "validate",
    "validate_text",
    "volume_modes",
    "warnings",
]

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
# Pod DNS validation (k8s.io/kubernetes pkg/apis/core/validation): MaxDNSNameservers,
# MaxDNSSearchPaths, MaxDNSSearchListChars; a VM's dnsConfig is copied from the block.
MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048
_SPECIAL = {dcf.NETWORK_POLICY_SPEC: netpol_spec.check_spec}
_NOT_A_MAPPING = "the kubevirt block must be a mapping of DatacenterSpecKubevirt fields"


def validate(
    block: Mapping[str, Any], infra_storage_classes: Iterable[Mapping[str, Any]] | None = None
) -> list[Finding]:
    """Every error and warning for a `kubevirt` block; `infra_storage_classes` None skips the
    check that each infra storage class exists (and the warnings that need the class)."""
    out = Findings()
    if not isinstance(block, Mapping):
        out.error("", _NOT_A_MAPPING)
        return out.items
    schema.check(block, dcf.KUBEVIRT, "", out, _SPECIAL)
    classes = None
    if infra_storage_classes is not None:
        classes = {
            _mapping(sc.get("metadata")).get("name"): sc
            for sc in infra_storage_classes
            if isinstance(sc, Mapping)
        }
    _dns(block, out)
    _storage_classes(block, classes, out)
    _snapshot_classes(block, out)
    _custom_policies(block, out)
    _eviction(block, out)
    _namespaced_mode(block, out)
    return out.items


def parse_block(text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The block a YAML text holds; a syntax error is one error finding at its line (and no
    block). The text is only read, so an editor keeps it as the user typed it."""
    data, _, found = _parse(text)
    return data, found


def validate_text(
    text: str, infra_storage_classes: Iterable[Mapping[str, Any]] | None = None
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse and validate a YAML text; each finding carries the line of its field."""
    data, root, found = _parse(text)
    if data is not None:
        found = found + with_lines(validate(data, infra_storage_classes), root)
    return data, sorted(found, key=lambda f: (f.line is None, f.line or 0))


def _parse(text: str) -> tuple[dict[str, Any] | None, Any, list[Finding]]:
    data, root, found = load_yaml(text)
    if root is None:
        return (None, None, found) if found else ({}, None, [])
    if not isinstance(data, dict):
        return None, root, [*found, Finding("", _NOT_A_MAPPING, ERROR, root.start_mark.line + 1)]
    return data, root, found


def volume_modes(storage_class: Mapping[str, Any]) -> list[str]:
    """The volume modes CDI offers for a class, preferred first, from the StorageProfile's
    `claimPropertySets` that `datacenter.infra_storage_classes` copies into each class."""
    modes: list[str] = []
    for claim in storage_class.get("claimPropertySets") or ():
        mode = claim.get("volumeMode") if isinstance(claim, Mapping) else None
        if is_str(mode) and mode not in modes:
            modes.append(mode)
    return modes


# -- rules across fields -------------------------------------------------------------------
def _items(block: Mapping[str, Any], name: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The mapping items of a list field with their paths (the rest was reported already)."""
    value = block.get(name)
    if not isinstance(value, list):
        return []
    return [(join(name, i), item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _dns(block: Mapping[str, Any], out: Findings) -> None:
    policy = dcf.effective(block, "dnsPolicy")
    config = _mapping(block.get("dnsConfig"))
    nameservers = config.get("nameservers")
    nameservers = nameservers if isinstance(nameservers, list) else []
    if policy == "None" and not any(nameservers):
        where = "dnsConfig.nameservers" if block.get("dnsConfig") is not None else "dnsPolicy"
        out.error(where, "dnsPolicy None needs at least one nameserver in dnsConfig.nameservers")
    if len(nameservers) > MAX_NAMESERVERS:
        out.error(
            join("dnsConfig.nameservers", MAX_NAMESERVERS),
            f"at most {MAX_NAMESERVERS} nameservers: the VMs' pods would be rejected",
        )
    for index, nameserver in enumerate(nameservers):
        if nameserver == dcf.NODE_LOCAL_DNS_ADDRESS:
            out.warn(
                join("dnsConfig.nameservers", index),
                f"{nameserver} is the NodeLocal DNS cache address every user cluster also uses: "
                "VMs asking it collide with their own cluster's cache (guide FAQ: DNS collision)",
            )
    searches = config.get("searches")
    if isinstance(searches, list):
        if len(searches) > MAX_SEARCHES:
            out.error(
                join("dnsConfig.searches", MAX_SEARCHES), f"at most {MAX_SEARCHES} search domains"
            )
        if sum(len(s) for s in searches if is_str(s)) + len(searches) > MAX_SEARCH_CHARS:
            out.error("dnsConfig.searches", f"longer than {MAX_SEARCH_CHARS} characters in all")
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        out.warn(
            "dnsPolicy",
            f"with {policy} the VMs inherit their pod's cluster DNS; where the infra cluster runs "
            f"NodeLocal DNS on {dcf.NODE_LOCAL_DNS_ADDRESS}, the address each user cluster's "
            "NodeLocal DNS uses too, lookups inside the VMs collide (guide FAQ: DNS collision). "
            "Set dnsPolicy None with dnsConfig.nameservers",
        )


def _named_items(
    block: Mapping[str, Any], field: str, key: str, out: Findings, default_of: str = ""
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(path, name, item) of each item of a list field named under `key`; a name listed twice
    is an error, and with `default_of` so is a second `isDefaultClass: true`."""
    first: dict[str, str] = {}
    default = ""
    named = []
    for path, item in _items(block, field):
        name = item.get(key)
        if not is_str(name) or not name:
            continue
        if name in first:
            out.error(join(path, key), f'"{name}" is listed twice (also {first[name]})')
        first.setdefault(name, path)
        if default_of and item.get("isDefaultClass") is True:
            if default:
                out.error(
                    join(path, "isDefaultClass"),
                    f'only one {default_of} may be the default, and "{default}" already is',
                )
            default = default or name
        named.append((path, name, item))
    return named


def _storage_classes(
    block: Mapping[str, Any], infra: dict[str, Mapping[str, Any]] | None, out: Findings
) -> None:
    named = _named_items(block, "infraStorageClasses", "name", out, "infra storage class")
    for path, name, item in named:
        infra_class = None if infra is None else infra.get(name)
        if infra is not None and infra_class is None:
            out.error(join(path, "name"), f'no StorageClass "{name}" on the infra cluster')
        _storage_warnings(item, infra_class, path, out)


def _storage_warnings(
    item: Mapping[str, Any], infra_class: Mapping[str, Any] | None, path: str, out: Findings
) -> None:
    """The guide's known issues for one class: topology-constrained and block-only storage."""
    reasons = []
    where = join(path, "name")
    if item.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER:
        reasons.append("volumeBindingMode WaitForFirstConsumer")
        where = join(path, "volumeBindingMode")
    elif (infra_class or {}).get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER:
        reasons.append("the infra StorageClass binds WaitForFirstConsumer")
    if infra_class is not None and infra_class.get("allowedTopologies"):
        reasons.append("the infra StorageClass has allowedTopologies")
    if reasons:
        out.warn(
            where,
            "local or topology-constrained storage is not recommended (guide, known issues; "
            f"kubevirt/csi-driver#66): {' and '.join(reasons)}",
        )
    if (
        infra_class is not None
        and volume_modes(infra_class) == ["Block"]
        and item.get("volumeProvisioner") != "infra-csi-driver"
    ):
        out.warn(
            join(path, "name"),
            "CDI offers only Block volume mode for this class, and the KubeVirt CSI driver does "
            "not support block volumes in user clusters (guide, known issues)",
        )


def _snapshot_classes(block: Mapping[str, Any], out: Findings) -> None:
    field, key = "infraVolumeSnapshotClasses", "infraVolumeSnapshotClass"
    _named_items(block, field, key, out, "snapshot class")


def _custom_policies(block: Mapping[str, Any], out: Findings) -> None:
    for path, name, _ in _named_items(block, "customNetworkPolicies", "name", out):
        if name in dcf.DEFAULT_POLICY_NAMES:
            out.warn(
                join(path, "name"),
                f'"{name}" is a policy KKP reconciles itself (fact sheet §2.1): the two would '
                "overwrite each other in every cluster namespace",
            )


def _eviction(block: Mapping[str, Any], out: Findings) -> None:
    strategy = block.get("vmEvictionStrategy")
    if strategy in dcf.EVICTION_STRATEGIES and strategy not in dcf.SUPPORTED_EVICTION_STRATEGIES:
        out.warn(
            "vmEvictionStrategy",
            f"machine-controller supports only External and LiveMigrate, not {strategy} "
            "(fact sheet §1.4): MachineDeployments of this datacenter may be rejected",
        )


def _namespaced_mode(block: Mapping[str, Any], out: Findings) -> None:
    namespaced = _mapping(block.get("namespacedMode")).get("enabled") is True
    if namespaced:
        out.warn("namespacedMode.enabled", "experimental: the KKP docs advise against production")
    network = _mapping(block.get("providerNetwork"))
    policy = _mapping(network.get("networkPolicy"))
    enabled = policy.get("enabled") is True or network.get("networkPolicyEnabled") is True
    if enabled and not namespaced:
        out.warn(
            "providerNetwork.networkPolicy",
            "takes effect only with namespacedMode.enabled (fact sheet §2.2)",
        )
    nameservers = _mapping(block.get("dnsConfig")).get("nameservers")
    if enabled and policy.get("mode") == "deny" and not nameservers:
        out.warn(
            "providerNetwork.networkPolicy.mode",
            "deny lets VMs reach no DNS server unless dnsConfig.nameservers lists them "
            "(fact sheet §2.2)",
        )
