"""What KubeVirt's virt-handlers and virt-controller would expose to Prometheus, from the store.

Nothing is sampled or stored: each scrape computes its values from the objects and the simulated
clock. A counter is the closed-form integral of a per-VMI rate (a load with a slow sine wobble
that never goes below zero) since the VMI started running, so counters only grow, however often
or rarely they are scraped. Text is built with plain %-templates because ten thousand VMIs make
over half a million series, far too many for prometheus_client's registry.

Settings read from `world.settings`: "migrations" (VMI uid -> MigrationProgress, kept by the
migration controller), "metrics_vmi_labels" (default True; False drops the
`kubernetes_vmi_label_*` labels, which make up most of the text of a large scrape) and
"metrics_legacy_names" (default False; True exports the migration series under the names
KubeVirt used before renaming them, `metrics_families.LEGACY_NAMES`).
"""

from __future__ import annotations

import math
import weakref
import zlib
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from kvtui.sim.controllers.podutil import resource_amount
from kvtui.sim.kubevirt import PODS, VMIMS, VMIS
from kvtui.sim.metrics_controller import (
    ControllerMetrics,
    Launcher,
    collection_rv,
    kubevirt_info_line,
    launcher_of,
)
from kvtui.sim.metrics_domain import (
    DomainProfile,
    domain_lines,
    drives_of,
    epoch,
    guest_memory_of,
    migration_chunks,
    vcpus_of,
    vmi_label_block,
)
from kvtui.sim.metrics_families import (
    CONTROLLER_FAMILIES,
    DOMAIN_FAMILIES,
    INFO_FAMILY,
    LEGACY_NAMES,
)
from kvtui.sim.model import MigrationProgress
from kvtui.sim.world import World

__all__ = [
    "CONTENT_TYPE",
    "VirtMetrics",
    "iter_all_metrics",
    "render_all_metrics",
    "render_controller_metrics",
    "render_node_metrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_DOMAIN_META = {name: (kind, help_text) for name, kind, help_text in DOMAIN_FAMILIES}
DEFAULT_ROOT_DISK = 20 * 1024**3


class _Index:
    """One store version's view: running VMIs per node, launcher pods and migrations by uid."""

    def __init__(self, version: tuple[tuple[int, ...], bool]) -> None:
        self.version = version  # (last change of each watched collection, VMI labels wanted)
        self.by_node: dict[str, list[DomainProfile]] = {}
        self.by_uid: dict[str, DomainProfile] = {}
        self.launcher_pods: dict[str, tuple[Launcher, ...]] = {}  # by VMI uid
        self.vmim_names: dict[str, str] = {}  # VMIM uid -> name


class VirtMetrics:
    """Renders one world's metrics, caching what only changes when VMIs, pods or VMIMs do."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._profiles: dict[str, DomainProfile] = {}  # VMI uid -> profile of its last version
        self._index: _Index | None = None
        self._controller = ControllerMetrics(world.store)

    # -- public ----------------------------------------------------------------------------
    def node(self, node_name: str) -> str:
        """The text the virt-handler on `node_name` serves on /metrics.

        Only here, not in `all()`, does it carry its own `kubevirt_info`: in the combined text
        that series comes once, from the controller, as it has no label telling them apart.
        """
        info = [_header(*INFO_FAMILY), kubevirt_info_line(self.world.store)]
        return "".join(chain(info, *self._domain_families((node_name,))))

    def controller(self) -> str:
        """The text the leading virt-controller serves on /metrics."""
        return "".join(chain.from_iterable(self._controller_families()))

    def all(self) -> str:
        """Controller plus every node not known to be down, each family once."""
        return "".join(chain.from_iterable(self._all_families()))

    def iter_all(self) -> Iterator[str]:
        """`all()` one family at a time, for a server that streams a large response."""
        for family in self._all_families():
            yield "".join(family)

    def _all_families(self) -> Iterator[list[str]]:
        yield from self._controller_families()
        nodes = [
            n["metadata"]["name"] for n in self.world.store.list("/nodes") if not _node_is_down(n)
        ]
        yield from self._domain_families(nodes)

    # -- index -----------------------------------------------------------------------------
    def index(self) -> _Index:
        """The per-node view of the current objects (rebuilt when a watched collection moved).

        Keyed on the last change of the VMI, pod and VMIM collections rather than the global
        resourceVersion, so events and leases written every second do not force a rebuild.
        """
        store = self.world.store
        vmi_labels = bool(self.world.settings.get("metrics_vmi_labels", True))
        version = (
            tuple(collection_rv(store, key) for key in (VMIS, PODS, VMIMS)),
            vmi_labels,
        )
        cached = self._index
        if cached is not None and cached.version == version:
            return cached
        if cached is not None and cached.version[1] != vmi_labels:
            self._profiles = {}
        index = _Index(version)
        now = self.world.clock.now()
        profiles: dict[str, DomainProfile] = {}
        for vmi in store.list(VMIS):
            status = vmi.get("status") or {}
            node = status.get("nodeName")
            if status.get("phase") != "Running" or not node:
                continue
            meta = vmi["metadata"]
            uid = meta.get("uid", "")
            profile = self._profiles.get(uid)
            if profile is None or profile.rv != meta.get("resourceVersion", ""):
                profile = self._profile(vmi, node, profile, now, vmi_labels)
            profiles[uid] = profile
            index.by_node.setdefault(node, []).append(profile)
        for members in index.by_node.values():
            members.sort(key=lambda p: (p.namespace, p.name))
        self._profiles = index.by_uid = profiles
        for pod in store.list(PODS):
            launcher = launcher_of(pod)
            if launcher is not None:
                owner = pod["metadata"]["labels"]["kubevirt.io/created-by"]
                index.launcher_pods[owner] = (*index.launcher_pods.get(owner, ()), launcher)
        for vmim in store.list(VMIMS):
            index.vmim_names[vmim["metadata"].get("uid", "")] = vmim["metadata"]["name"]
        self._index = index
        return index

    def _profile(
        self,
        vmi: dict[str, Any],
        node: str,
        previous: DomainProfile | None,
        now: float,
        vmi_labels: bool,
    ) -> DomainProfile:
        meta = vmi["metadata"]
        status = vmi.get("status") or {}
        started = None
        for entry in status.get("phaseTransitionTimestamps") or ():
            if entry.get("phase") == "Running":
                started = epoch(entry.get("phaseTransitionTimestamp"))
        if started is None:
            started = epoch(meta.get("creationTimestamp")) or now
        uid = meta.get("uid", "")
        namespace = meta.get("namespace", "")
        devices = (((vmi.get("spec") or {}).get("domain") or {}).get("devices")) or {}
        ifaces = tuple(i["name"] for i in devices.get("interfaces") or () if i.get("name"))
        profile = DomainProfile(
            uid=uid,
            rv=meta.get("resourceVersion", ""),
            namespace=namespace,
            name=meta["name"],
            node=node,
            labels=vmi_label_block(
                node, namespace, meta["name"], (meta.get("labels") or {}) if vmi_labels else {}
            ),
            annotations=meta.get("annotations") or {},
            vcpus=vcpus_of(vmi),
            memory=guest_memory_of(vmi),
            started=started,
            wobble_phase=zlib.crc32(uid.encode()) / 2**32 * 2 * math.pi,
            ifaces=ifaces or ("default",),
            drives=drives_of(vmi),
            fs_capacity=self._root_disk_size(vmi),
        )
        profile.carry_from(previous, now)
        return profile

    def _root_disk_size(self, vmi: dict[str, Any]) -> int:
        """Size of the VMI's first PVC-backed volume (its root disk), 20Gi when unknown."""
        namespace = vmi["metadata"].get("namespace", "")
        for volume in (vmi.get("spec") or {}).get("volumes") or ():
            claim = (volume.get("dataVolume") or {}).get("name") or (
                volume.get("persistentVolumeClaim") or {}
            ).get("claimName")
            if not claim:
                continue
            pvc = self.world.store.get("/persistentvolumeclaims", namespace, claim) or {}
            size = ((pvc.get("status") or {}).get("capacity") or {}).get("storage") or (
                ((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}
            ).get("storage")
            try:
                return resource_amount("memory", size) if size else DEFAULT_ROOT_DISK
            except (TypeError, ValueError):
                return DEFAULT_ROOT_DISK
        return DEFAULT_ROOT_DISK

    # -- text ------------------------------------------------------------------------------
    def _migrations(self) -> dict[str, MigrationProgress]:
        return self.world.settings.get("migrations") or {}

    def _domain_families(self, nodes: Iterable[str]) -> Iterator[list[str]]:
        """Per family with samples: its HELP/TYPE header followed by its sample lines."""
        index = self.index()
        wanted = set(nodes)
        profiles = [p for node in sorted(wanted) for p in index.by_node.get(node, ())]
        for name, lines in domain_lines(profiles, self.world.clock.now()):
            if lines:
                yield [_header(name, *_DOMAIN_META[name]), *lines]
        migrating = [
            (index.by_uid[uid], progress)
            for uid, progress in sorted(self._migrations().items())
            if uid in index.by_uid and progress.source_node in wanted
        ]
        chunks = migration_chunks(migrating)
        legacy = self._legacy_names()
        for name, kind, help_text in DOMAIN_FAMILIES:
            if chunks.get(name):
                yield _family(name, kind, help_text, chunks[name], legacy)

    def _controller_families(self) -> Iterator[list[str]]:
        index = self.index()
        samples = self._controller.samples(
            index.launcher_pods, index.vmim_names, self._migrations()
        )
        legacy = self._legacy_names()
        for name, kind, help_text in CONTROLLER_FAMILIES:
            if samples.get(name):
                yield _family(name, kind, help_text, samples[name], legacy)

    def _legacy_names(self) -> bool:
        """Export the migration series under their pre-rename names (an older KubeVirt)."""
        return bool(self.world.settings.get("metrics_legacy_names", False))


def _family(name: str, kind: str, help_text: str, lines: list[str], legacy: bool) -> list[str]:
    """Header plus sample lines, under the family's legacy name when `legacy` and it has one."""
    shown = LEGACY_NAMES.get(name, name) if legacy else name
    if shown != name:
        lines = [shown + line[len(name) :] for line in lines]
    return [_header(shown, kind, help_text), *lines]


def _header(name: str, kind: str, help_text: str) -> str:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


def _node_is_down(node: dict[str, Any]) -> bool:
    """A node whose Ready condition is False/Unknown has no virt-handler to scrape."""
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond.get("status") != "True"
    return False


_RENDERERS: weakref.WeakKeyDictionary[World, VirtMetrics] = weakref.WeakKeyDictionary()


def _renderer(world: World) -> VirtMetrics:
    renderer = _RENDERERS.get(world)
    if renderer is None:
        renderer = _RENDERERS[world] = VirtMetrics(world)
    return renderer


def render_node_metrics(world: World, node_name: str) -> str:
    """Prometheus text (format 0.0.4) of the virt-handler on `node_name`."""
    return _renderer(world).node(node_name)


def render_controller_metrics(world: World) -> str:
    """Prometheus text (format 0.0.4) of the leading virt-controller."""
    return _renderer(world).controller()


def render_all_metrics(world: World) -> str:
    """Controller plus every node's virt-handler, each family once, for a single scrape target."""
    return _renderer(world).all()


def iter_all_metrics(world: World) -> Iterator[str]:
    """`render_all_metrics` in chunks (one per family) so a server can stream a large scrape."""
    return _renderer(world).iter_all()
