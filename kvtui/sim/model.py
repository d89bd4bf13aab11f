"""Names and small records shared by the simulator's controllers, scenarios and metrics.

The simulation needs a few per-VM facts a real cluster measures (how busy the guest is, how fast
it dirties memory). Scenarios set them as annotations under `sim.kvtui.dev/` on the VM template,
so they travel VM → VMI → pod like any other template annotation and stay visible to kubectl.
"""

from __future__ import annotations

from dataclasses import dataclass

SIM_PREFIX = "sim.kvtui.dev/"
ANN_CPU_LOAD = SIM_PREFIX + "cpu-load"  # share of vCPUs busy, "0.0".."1.0"; default 0.2
ANN_DIRTY_RATE = SIM_PREFIX + "dirty-rate"  # guest memory dirtied per second, quantity; "16Mi"
ANN_NET_RATE = SIM_PREFIX + "net-rate"  # bytes/s received (transmit is half); default "1Mi"
ANN_DISK_RATE = SIM_PREFIX + "disk-rate"  # bytes/s read (write is half); default "512Ki"
ANN_MEMORY_USED = SIM_PREFIX + "memory-used"  # share of guest memory in use; default "0.5"

DEFAULT_CPU_LOAD = 0.2
DEFAULT_DIRTY_RATE = 16 * 1024 * 1024
DEFAULT_NET_RATE = 1024 * 1024
DEFAULT_DISK_RATE = 512 * 1024
DEFAULT_MEMORY_USED = 0.5

# Node capacity of the "bare-metal" hosts KubeVirt adds (fact sheet §7.3).
KVM_RESOURCE = "devices.kubevirt.io/kvm"
DEVICE_PLUGIN_RESOURCES = (
    "devices.kubevirt.io/kvm",
    "devices.kubevirt.io/tun",
    "devices.kubevirt.io/vhost-net",
)

# Well-known label keys.
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_SCHEDULABLE = "kubevirt.io/schedulable"
LABEL_VMI_NODE = "kubevirt.io/nodeName"
LABEL_MIGRATION_TARGET = "kubevirt.io/migrationTargetNodeName"


@dataclass
class MigrationProgress:
    """The pre-copy model's live numbers for one running migration (read by metrics)."""

    vmi_namespace: str
    vmi_name: str
    migration_name: str
    source_node: str
    target_node: str
    memory_bytes: int
    processed_bytes: int = 0
    remaining_bytes: int = 0
    dirty_rate: float = 0.0  # bytes/s the guest dirties now (lower under auto-converge)
    transfer_rate: float = 0.0  # bytes/s sent now
    started_at: float = 0.0  # simulated time
    last_progress_at: float = 0.0  # simulated time remaining_bytes last shrank noticeably
    iteration: int = 0
    mode: str = "PreCopy"
