"""Per-VMI domain statistics a virt-handler reports, as closed-form functions of simulated time.

Each running VMI gets a `DomainProfile` (rebuilt only when the VMI object changes) holding its
label block, its rates read from the `sim.kvtui.dev/` annotations, and %-templates shared by all
VMIs of its shape (vCPUs, NICs, disks). A scrape then only computes numbers and fills templates,
which keeps ten thousand VMIs affordable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from kvtui.sim.controllers.podutil import resource_amount
from kvtui.sim.metrics_families import DOMAIN_FAMILIES
from kvtui.sim.model import (
    ANN_CPU_LOAD,
    ANN_DIRTY_RATE,
    ANN_DISK_RATE,
    ANN_MEMORY_USED,
    ANN_NET_RATE,
    DEFAULT_CPU_LOAD,
    DEFAULT_DIRTY_RATE,
    DEFAULT_DISK_RATE,
    DEFAULT_MEMORY_USED,
    DEFAULT_NET_RATE,
    MigrationProgress,
)

_COUNTERS = frozenset(name for name, kind, _ in DOMAIN_FAMILIES if kind == "counter")
_KINDS = {name: kind for name, kind, _ in DOMAIN_FAMILIES}
_MEMORY = tuple(n for n in _KINDS if n.startswith("kubevirt_vmi_memory_"))
_NETWORK = tuple(n for n in _KINDS if n.startswith("kubevirt_vmi_network_") and "traffic" not in n)
_STORAGE = tuple(n for n in _KINDS if n.startswith("kubevirt_vmi_storage_"))
_VALUE_FAMILIES = tuple(n for n in _KINDS if not n.startswith("kubevirt_vmi_migration_"))

WOBBLE = 0.2  # load swings by ±20% ...
WOBBLE_PERIOD = 600.0  # ... over ten simulated minutes
_OMEGA = 2 * math.pi / WOBBLE_PERIOD
_SLACK = WOBBLE / _OMEGA  # a wobble integral strays at most 2 * _SLACK from the elapsed time
HYPERVISOR_CPU = 0.02  # CPU seconds per second qemu spends outside the vCPUs
CLOUDINIT_READ_RATE = 64 * 1024  # bytes/s the guest reads its cloud-init disk ...
CLOUDINIT_READ_SECONDS = 30.0  # ... during its first seconds
_SECONDS, _COUNT, _BYTES, _RATIO = "%.6f", "%.0f", "%.0f", "%.3f"
_MI = 1024 * 1024
# virt-launcher's fixed overhead (monitor, launcher, virtlogd, virtqemud, qemu) and per-vCPU part.
_LAUNCHER_STATIC_OVERHEAD = 220 * _MI
_LAUNCHER_PER_VCPU_OVERHEAD = 8 * _MI
_GRAPHICS_OVERHEAD = 32 * _MI
_ROOT_FS = ',disk_name="vda1",mount_point="/",file_system_type="ext4"'
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def escape(value: str) -> str:
    """A label value escaped for the text exposition format."""
    return value.translate(_ESCAPES)


def vmi_label_block(node: str, namespace: str, name: str, labels: Mapping[str, str]) -> str:
    """The labels virt-handler puts on every domain series: identity plus all VMI labels."""
    pairs = {"node": node, "namespace": namespace, "name": name}
    for key in sorted(labels):
        pairs["kubernetes_vmi_label_" + _INVALID_LABEL_CHARS.sub("_", key)] = str(labels[key])
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs.items())


def epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, None when absent or unreadable."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def vcpus_of(vmi: dict[str, Any]) -> int:
    """vCPUs of a VMI: current topology, else the spec's, else its CPU request rounded up."""
    status_topology = (vmi.get("status") or {}).get("currentCPUTopology") or {}
    domain = (vmi.get("spec") or {}).get("domain") or {}
    cpu = status_topology or domain.get("cpu") or {}
    if any(cpu.get(k) for k in ("cores", "sockets", "threads")):
        return max(
            1,
            int(cpu.get("cores") or 1)
            * int(cpu.get("sockets") or 1)
            * int(cpu.get("threads") or 1),
        )
    resources = domain.get("resources") or {}
    for part in ("limits", "requests"):
        value = (resources.get(part) or {}).get("cpu")
        if value is not None:
            try:
                return max(1, math.ceil(resource_amount("cpu", value) / 1000))
            except (TypeError, ValueError):
                pass
    return 1


def guest_memory_of(vmi: dict[str, Any]) -> int:
    """Guest memory in bytes: `memory.guest`, else the memory request (1Gi when neither)."""
    domain = (vmi.get("spec") or {}).get("domain") or {}
    resources = domain.get("resources") or {}
    for value in (
        (domain.get("memory") or {}).get("guest"),
        (resources.get("requests") or {}).get("memory"),
        (resources.get("limits") or {}).get("memory"),
    ):
        if value is not None:
            try:
                return resource_amount("memory", value)
            except (TypeError, ValueError):
                pass
    return 1024 * _MI


def launcher_memory_overhead(vmi: dict[str, Any]) -> int:
    """Rough GetMemoryOverhead: fixed daemons, page tables, per-vCPU stacks and a graphics card."""
    return (
        _LAUNCHER_STATIC_OVERHEAD
        + guest_memory_of(vmi) // 512
        + _LAUNCHER_PER_VCPU_OVERHEAD * vcpus_of(vmi)
        + _GRAPHICS_OVERHEAD
    )


def drives_of(vmi: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(disk name, "root" | "data" | "cloudinit") per disk; the first non-cloud-init is root."""
    spec = vmi.get("spec") or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or ()}
    disks = [
        d["name"]
        for d in ((spec.get("domain") or {}).get("devices") or {}).get("disks") or ()
        if d.get("name")
    ] or ["datavolumedisk", "cloudinitdisk"]
    drives, root_seen = [], False
    for name in disks:
        volume = volumes.get(name) or {}
        if (
            "cloudInitNoCloud" in volume
            or "cloudInitConfigDrive" in volume
            or (not volume and "cloudinit" in name)
        ):
            drives.append((name, "cloudinit"))
        else:
            drives.append((name, "data" if root_seen else "root"))
            root_seen = True
    return tuple(drives)


def wobble_integral(start: float, end: float, phase: float) -> float:
    """∫ (1 + WOBBLE·sin(ωt + phase)) dt over [start, end]: never negative, never shrinking."""
    return (end - start) + _SLACK * (
        math.cos(_OMEGA * start + phase) - math.cos(_OMEGA * end + phase)
    )


def _share(text: Any, default: float) -> float:
    try:
        return min(1.0, max(0.0, float(text)))
    except (TypeError, ValueError):
        return default


def _rate(text: Any, default: int) -> int:
    if text is None:
        return default
    try:
        return max(0, resource_amount("memory", text))
    except (TypeError, ValueError):
        return default


def _series(
    vcpus: int, ifaces: tuple[str, ...], drives: tuple[tuple[str, str], ...]
) -> Iterator[tuple[str, str, str]]:
    """(family, extra labels, number format) in the order `DomainProfile.values` fills them."""
    yield "kubevirt_vmi_cpu_usage_seconds_total", "", _SECONDS
    yield "kubevirt_vmi_cpu_user_usage_seconds_total", "", _SECONDS
    yield "kubevirt_vmi_cpu_system_usage_seconds_total", "", _SECONDS
    for family in ("vcpu_seconds", "vcpu_wait_seconds", "vcpu_delay_seconds"):
        state = ',state="running"' if family == "vcpu_seconds" else ""
        for i in range(vcpus):
            yield f"kubevirt_vmi_{family}_total", f',id="{i}"{state}', _SECONDS
    for name in _MEMORY:
        yield name, "", _BYTES if _KINDS[name] == "gauge" else _COUNT
    for name in _NETWORK:
        fmt = _BYTES if "bytes" in name else _COUNT
        for iface in ifaces:
            yield name, f',interface="{escape(iface)}"', fmt
    for iface in ifaces:
        for direction in ("rx", "tx"):
            yield (
                "kubevirt_vmi_network_traffic_bytes_total",
                f',interface="{escape(iface)}",type="{direction}"',
                _BYTES,
            )
    for name in _STORAGE:
        fmt = _SECONDS if "seconds" in name else _COUNT
        for drive, _kind in drives:
            yield name, f',drive="{escape(drive)}"', fmt
    yield "kubevirt_vmi_filesystem_capacity_bytes", _ROOT_FS, _BYTES
    yield "kubevirt_vmi_filesystem_used_bytes", _ROOT_FS, _BYTES
    for name in ("1m", "5m", "15m"):
        yield f"kubevirt_vmi_guest_load_{name}", "", _RATIO
    yield "kubevirt_vmi_dirty_rate_bytes_per_second", "", _BYTES


@lru_cache(maxsize=1024)
def _layout(
    vcpus: int, ifaces: tuple[str, ...], drives: tuple[tuple[str, str], ...]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Per family, a %-template taking (labels, number) pairs, and its series' extra labels.

    Shared by every VMI of the same shape, so ten thousand VMIs hold a handful of templates.
    """
    parts: dict[str, list[str]] = {}
    keys: dict[str, list[str]] = {}
    for family, extra, fmt in _series(vcpus, ifaces, drives):
        parts.setdefault(family, []).append(f"{family}{{%s{extra.replace('%', '%%')}}} {fmt}\n")
        keys.setdefault(family, []).append(extra)
    return (
        {family: "".join(lines) for family, lines in parts.items()},
        {family: tuple(k) for family, k in keys.items()},
    )


class DomainProfile:
    """What one version of a running VMI contributes to a scrape, minus the moment's numbers."""

    # fmt: off
    __slots__ = ("base", "dirty_rate", "disk_rate", "drives", "fs_capacity", "fs_used_share",
                 "ifaces", "keys", "labels", "load", "memory", "memory_used", "name", "namespace",
                 "net_rate", "node", "rv", "since", "started", "templates", "uid", "vcpus",
                 "wobble_phase")
    # fmt: on

    def __init__(
        self,
        *,
        uid: str,
        rv: str,
        namespace: str,
        name: str,
        node: str,
        labels: str,
        annotations: Mapping[str, str],
        vcpus: int,
        memory: int,
        started: float,
        wobble_phase: float,
        ifaces: tuple[str, ...],
        drives: tuple[tuple[str, str], ...],
        fs_capacity: int,
    ) -> None:
        self.uid, self.rv, self.namespace, self.name, self.node = uid, rv, namespace, name, node
        self.labels = labels
        self.vcpus, self.memory, self.started = vcpus, memory, started
        self.wobble_phase = wobble_phase  # where in its load cycle this VMI is (from its uid)
        self.ifaces, self.drives, self.fs_capacity = ifaces, drives, fs_capacity
        self.fs_used_share = 0.2 + 0.4 * ((wobble_phase * 1000) % 1.0)
        self.load = _share(annotations.get(ANN_CPU_LOAD), DEFAULT_CPU_LOAD)
        self.memory_used = _share(annotations.get(ANN_MEMORY_USED), DEFAULT_MEMORY_USED)
        self.dirty_rate = _rate(annotations.get(ANN_DIRTY_RATE), DEFAULT_DIRTY_RATE)
        self.net_rate = _rate(annotations.get(ANN_NET_RATE), DEFAULT_NET_RATE)
        self.disk_rate = _rate(annotations.get(ANN_DISK_RATE), DEFAULT_DISK_RATE)
        self.since = started  # counters are base + integral of the rates since `since`
        self.base: dict[tuple[str, str], float] | None = None
        self.templates, self.keys = _layout(vcpus, ifaces, drives)

    def rate_key(self) -> tuple[Any, ...]:
        return (
            self.vcpus,
            self.load,
            self.net_rate,
            self.disk_rate,
            self.ifaces,
            self.drives,
            self.started,
        )

    def carry_from(self, previous: DomainProfile | None, now: float) -> None:
        """Continue the previous version's counters so that a changed rate never lowers them."""
        if previous is None:
            return
        if previous.rate_key() == self.rate_key():
            self.since, self.base = previous.since, previous.base
            return
        values = previous.values(now)
        self.base = {
            (family, key): value
            for family, keys in previous.keys.items()
            if family in _COUNTERS
            for key, value in zip(keys, values[family], strict=True)
        }
        self.since = max(now, self.started)

    def values(self, now: float) -> dict[str, list[float]]:
        """Every number of this VMI's series at simulated time `now`, per family."""
        since, phase = self.since, self.wobble_phase
        t = now if now > since else since
        elapsed = t - since
        load, vcpus = self.load, self.vcpus
        guest_cpu = vcpus * load * wobble_integral(since, t, phase)
        hypervisor = HYPERVISOR_CPU * elapsed
        wait = 0.01 * load * elapsed
        delay = 0.003 * load * elapsed
        memory = self.memory
        used = memory * min(
            0.98, max(0.02, self.memory_used * (1 + 0.05 * math.sin(_OMEGA * 0.5 * now + phase)))
        )
        cached = min(memory * 0.12, memory - used)
        n_ifaces = len(self.ifaces)
        rx = self.net_rate / n_ifaces * wobble_integral(since, t, phase + 1.7)
        tx = 0.5 * self.net_rate / n_ifaces * wobble_integral(since, t, phase + 2.3)
        wave = math.sin(_OMEGA * now + phase)
        values: dict[str, list[float]] = {
            "kubevirt_vmi_cpu_usage_seconds_total": [guest_cpu + hypervisor],
            "kubevirt_vmi_cpu_user_usage_seconds_total": [0.85 * guest_cpu],
            "kubevirt_vmi_cpu_system_usage_seconds_total": [0.15 * guest_cpu + hypervisor],
            "kubevirt_vmi_vcpu_seconds_total": [
                load * wobble_integral(since, t, phase + 0.9 * i) for i in range(vcpus)
            ],
            "kubevirt_vmi_vcpu_wait_seconds_total": [wait] * vcpus,
            "kubevirt_vmi_vcpu_delay_seconds_total": [delay] * vcpus,
            "kubevirt_vmi_memory_resident_bytes": [used + cached + 64 * 1024 * 1024],
            "kubevirt_vmi_memory_available_bytes": [memory],
            "kubevirt_vmi_memory_unused_bytes": [memory - used - cached],
            "kubevirt_vmi_memory_cached_bytes": [cached],
            "kubevirt_vmi_memory_usable_bytes": [memory - used],
            "kubevirt_vmi_memory_domain_bytes": [memory],
            "kubevirt_vmi_memory_actual_balloon_bytes": [memory],
            "kubevirt_vmi_memory_swap_in_traffic_bytes": [0],
            "kubevirt_vmi_memory_swap_out_traffic_bytes": [0],
            "kubevirt_vmi_memory_pgmajfault_total": [0.05 * elapsed],
            "kubevirt_vmi_memory_pgminfault_total": [(20 + 200 * load) * elapsed],
            "kubevirt_vmi_network_receive_bytes_total": [rx] * n_ifaces,
            "kubevirt_vmi_network_transmit_bytes_total": [tx] * n_ifaces,
            "kubevirt_vmi_network_receive_packets_total": [rx / 1200] * n_ifaces,
            "kubevirt_vmi_network_transmit_packets_total": [tx / 800] * n_ifaces,
            "kubevirt_vmi_network_receive_errors_total": [0] * n_ifaces,
            "kubevirt_vmi_network_transmit_errors_total": [0] * n_ifaces,
            "kubevirt_vmi_network_receive_packets_dropped_total": [0] * n_ifaces,
            "kubevirt_vmi_network_transmit_packets_dropped_total": [0] * n_ifaces,
            "kubevirt_vmi_network_traffic_bytes_total": [rx, tx] * n_ifaces,
        }
        self._storage_values(values, since, t)
        capacity = self.fs_capacity
        age = max(0.0, now - self.started)
        values["kubevirt_vmi_filesystem_capacity_bytes"] = [capacity]
        values["kubevirt_vmi_filesystem_used_bytes"] = [
            capacity * (self.fs_used_share + 0.1 * (1 - math.exp(-age / 86400)))
        ]
        values["kubevirt_vmi_guest_load_1m"] = [vcpus * load * (1 + WOBBLE * wave)]
        values["kubevirt_vmi_guest_load_5m"] = [
            vcpus * load * (1 + 0.5 * WOBBLE * math.sin(_OMEGA * (now - 150) + phase))
        ]
        values["kubevirt_vmi_guest_load_15m"] = [
            vcpus * load * (1 + 0.15 * WOBBLE * math.sin(_OMEGA * (now - 450) + phase))
        ]
        values["kubevirt_vmi_dirty_rate_bytes_per_second"] = [
            self.dirty_rate * (1 + WOBBLE * math.sin(_OMEGA * now + phase + 0.5))
        ]
        if self.base:
            base = self.base
            for family, keys in self.keys.items():
                if family in _COUNTERS:
                    numbers = values[family]
                    for i, key in enumerate(keys):
                        numbers[i] += base.get((family, key), 0.0)
        return values

    def _storage_values(self, values: dict[str, list[float]], since: float, t: float) -> None:
        elapsed = t - since
        read_int = wobble_integral(since, t, self.wobble_phase + 3.1)
        write_int = wobble_integral(since, t, self.wobble_phase + 3.9)
        for name in _STORAGE:
            values[name] = []
        for _drive, kind in self.drives:
            if kind == "cloudinit":
                boot = CLOUDINIT_READ_SECONDS
                read = CLOUDINIT_READ_RATE * max(
                    0.0, min(t - self.started, boot) - min(since - self.started, boot)
                )
                write = flushes = 0.0
            else:
                share = 1.0 if kind == "root" else 0.25
                read = share * self.disk_rate * read_int
                write = share * 0.5 * self.disk_rate * write_int
                flushes = share * 0.2 * elapsed
            reads, writes = read / 16384, write / 8192
            numbers = (reads, writes, read, write, reads * 0.0004, writes * 0.0009, flushes,
                       flushes * 0.003)  # fmt: skip
            for name, number in zip(_STORAGE, numbers, strict=True):
                values[name].append(number)


def domain_lines(profiles: Iterable[DomainProfile], now: float) -> Iterator[tuple[str, list[str]]]:
    """(family, sample lines) of every domain family, in output order, one family at a time.

    All numbers are taken at the same `now` up front; the text is made lazily, family by
    family, so a streaming server can hand the event loop back between families.
    """
    numbers = [(p.templates, p.labels, p.values(now)) for p in profiles]
    for family in _VALUE_FAMILIES:
        lines = []
        for templates, labels, values in numbers:
            row = values[family]
            if len(row) == 1:
                lines.append(templates[family] % (labels, row[0]))
            else:
                args: list[Any] = [labels] * (2 * len(row))
                args[1::2] = row
                lines.append(templates[family] % tuple(args))
        yield family, lines


def migration_chunks(
    migrations: Iterable[tuple[DomainProfile, MigrationProgress]],
) -> dict[str, list[str]]:
    """The source virt-handler's live migration series (libvirt's job info) per family."""
    out: dict[str, list[str]] = {}
    for profile, progress in migrations:
        labels = profile.labels
        for family, number in (
            ("kubevirt_vmi_migration_data_processed_bytes", progress.processed_bytes),
            ("kubevirt_vmi_migration_data_remaining_bytes", progress.remaining_bytes),
            ("kubevirt_vmi_migration_dirty_memory_rate_bytes", progress.dirty_rate),
            ("kubevirt_vmi_migration_memory_transfer_rate_bytes", progress.transfer_rate),
            ("kubevirt_vmi_migration_data_bytes_total", progress.memory_bytes),
        ):
            out.setdefault(family, []).append(f"{family}{{{labels}}} {float(number):.0f}\n")
    return out
