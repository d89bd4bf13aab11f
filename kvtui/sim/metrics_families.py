"""Names, types and help texts of the metric families the simulated KubeVirt exposes.

Help texts are KubeVirt's own (docs/observability/metrics.md), so a scrape reads like the real
thing. Order here is output order.
"""

from __future__ import annotations

_C, _G = "counter", "gauge"

# fmt: off
DOMAIN_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("kubevirt_vmi_cpu_usage_seconds_total", _C,
     "Total CPU time spent in all modes (sum of both vcpu and hypervisor usage)."),
    ("kubevirt_vmi_cpu_user_usage_seconds_total", _C,
     "Total CPU time spent in user mode."),
    ("kubevirt_vmi_cpu_system_usage_seconds_total", _C,
     "Total CPU time spent in system mode."),
    ("kubevirt_vmi_vcpu_seconds_total", _C,
     "Total amount of time spent in each state by each vcpu (cpu_time excluding hypervisor "
     "time). Where `id` is the vcpu identifier and `state` can be one of the following: "
     "[`OFFLINE`, `RUNNING`, `BLOCKED`]."),
    ("kubevirt_vmi_vcpu_wait_seconds_total", _C,
     "Amount of time spent by each vcpu while waiting on I/O."),
    ("kubevirt_vmi_vcpu_delay_seconds_total", _C,
     "Amount of time spent by each vcpu waiting in the queue instead of running."),
    ("kubevirt_vmi_memory_resident_bytes", _G,
     "Resident set size of the process running the domain."),
    ("kubevirt_vmi_memory_available_bytes", _G,
     "Amount of usable memory as seen by the domain. This value may not be accurate if a "
     "balloon driver is in use or if the guest OS does not initialize all assigned pages"),
    ("kubevirt_vmi_memory_unused_bytes", _G,
     "The amount of memory left completely unused by the system. Memory that is available "
     "but used for reclaimable caches should NOT be reported as free."),
    ("kubevirt_vmi_memory_cached_bytes", _G,
     "The amount of memory that is being used to cache I/O and is available to be reclaimed, "
     "corresponds to the sum of `Buffers` + `Cached` + `SwapCached` in `/proc/meminfo`."),
    ("kubevirt_vmi_memory_usable_bytes", _G,
     "The amount of memory which can be reclaimed by balloon without pushing the guest "
     "system to swap, corresponds to 'Available' in /proc/meminfo."),
    ("kubevirt_vmi_memory_domain_bytes", _G,
     "The amount of memory in bytes allocated to the domain. The `memory` value in domain "
     "xml file."),
    ("kubevirt_vmi_memory_actual_balloon_bytes", _G,
     "Current balloon size in bytes."),
    ("kubevirt_vmi_memory_swap_in_traffic_bytes", _G,
     "The total amount of data read from swap space of the guest in bytes."),
    ("kubevirt_vmi_memory_swap_out_traffic_bytes", _G,
     "The total amount of memory written out to swap space of the guest in bytes."),
    ("kubevirt_vmi_memory_pgmajfault_total", _C,
     "The number of page faults when disk IO was required."),
    ("kubevirt_vmi_memory_pgminfault_total", _C,
     "The number of other page faults, when disk IO was not required."),
    ("kubevirt_vmi_network_receive_bytes_total", _C,
     "Total network traffic received in bytes."),
    ("kubevirt_vmi_network_transmit_bytes_total", _C,
     "Total network traffic transmitted in bytes."),
    ("kubevirt_vmi_network_receive_packets_total", _C,
     "Total network traffic received packets."),
    ("kubevirt_vmi_network_transmit_packets_total", _C,
     "Total network traffic transmitted packets."),
    ("kubevirt_vmi_network_receive_errors_total", _C,
     "Total network received error packets."),
    ("kubevirt_vmi_network_transmit_errors_total", _C,
     "Total network transmitted error packets."),
    ("kubevirt_vmi_network_receive_packets_dropped_total", _C,
     "The total number of rx packets dropped on vNIC interfaces."),
    ("kubevirt_vmi_network_transmit_packets_dropped_total", _C,
     "The total number of tx packets dropped on vNIC interfaces."),
    ("kubevirt_vmi_network_traffic_bytes_total", _C,
     "[Deprecated] Total number of bytes sent and received."),
    ("kubevirt_vmi_storage_iops_read_total", _C,
     "Total number of I/O read operations."),
    ("kubevirt_vmi_storage_iops_write_total", _C,
     "Total number of I/O write operations."),
    ("kubevirt_vmi_storage_read_traffic_bytes_total", _C,
     "Total number of bytes read from storage."),
    ("kubevirt_vmi_storage_write_traffic_bytes_total", _C,
     "Total number of written bytes."),
    ("kubevirt_vmi_storage_read_times_seconds_total", _C,
     "Total time spent on read operations."),
    ("kubevirt_vmi_storage_write_times_seconds_total", _C,
     "Total time spent on write operations."),
    ("kubevirt_vmi_storage_flush_requests_total", _C,
     "Total storage flush requests."),
    ("kubevirt_vmi_storage_flush_times_seconds_total", _C,
     "Total time spent on cache flushing."),
    ("kubevirt_vmi_filesystem_capacity_bytes", _G,
     "Total VM filesystem capacity in bytes."),
    ("kubevirt_vmi_filesystem_used_bytes", _G,
     "Used VM filesystem capacity in bytes."),
    ("kubevirt_vmi_guest_load_1m", _G,
     "Guest system load average over 1 minute as reported by the guest agent."),
    ("kubevirt_vmi_guest_load_5m", _G,
     "Guest system load average over 5 minutes as reported by the guest agent."),
    ("kubevirt_vmi_guest_load_15m", _G,
     "Guest system load average over 15 minutes as reported by the guest agent."),
    ("kubevirt_vmi_dirty_rate_bytes_per_second", _G,
     "Guest dirty-rate in bytes per second."),
    ("kubevirt_vmi_migration_data_processed_bytes", _G,
     "The total Guest OS data processed and migrated to the new VM."),
    ("kubevirt_vmi_migration_data_remaining_bytes", _G,
     "The remaining guest OS data to be migrated to the new VM."),
    ("kubevirt_vmi_migration_dirty_memory_rate_bytes", _G,
     "The rate of memory being dirty in the Guest OS."),
    ("kubevirt_vmi_migration_memory_transfer_rate_bytes", _G,
     "The rate at which the memory is being transferred."),
    ("kubevirt_vmi_migration_data_bytes_total", _C,
     "The total Guest OS data to be migrated to the new VM."),
)

CONTROLLER_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("kubevirt_info", _G,
     "Version information."),
    ("kubevirt_virt_controller_ready_status", _G,
     "Indication for a virt-controller that is ready to take the lead."),
    ("kubevirt_virt_controller_leading_status", _G,
     "Indication for an operating virt-controller."),
    ("kubevirt_vmi_migrations_in_pending_phase", _G,
     "Number of current pending migrations."),
    ("kubevirt_vmi_migrations_in_scheduling_phase", _G,
     "Number of current scheduling migrations."),
    ("kubevirt_vmi_migrations_in_unset_phase", _G,
     "Number of current unset migrations. These are pending items the virt-controller hasn't "
     "processed yet from the queue."),
    ("kubevirt_vmi_migrations_in_running_phase", _G,
     "Number of current running migrations."),
    ("kubevirt_vmi_migration_succeeded", _G,
     "Indicates if the VMI migration succeeded."),
    ("kubevirt_vmi_migration_failed", _G,
     "Indicates if the VMI migration failed."),
    ("kubevirt_vmi_number_of_outdated", _G,
     "Indication for the total number of VirtualMachineInstance workloads that are not "
     "running within the most up-to-date version of the virt-launcher environment."),
    ("kubevirt_vmi_info", _G,
     "Information about VirtualMachineInstances."),
    ("kubevirt_vmi_non_evictable", _G,
     "Indication for a VirtualMachine that its eviction strategy is set to Live Migration "
     "but is not migratable."),
    ("kubevirt_vmi_status_addresses", _G,
     "The addresses of a VirtualMachineInstance. This metric provides the address of an "
     "available network interface associated with the VMI in the 'address' label, and about "
     "the type of address, such as internal IP, in the 'type' label."),
    ("kubevirt_vmi_launcher_memory_overhead_bytes", _G,
     "Estimation of the memory amount required for virt-launcher's infrastructure components "
     "(e.g. libvirt, QEMU)."),
    ("kubevirt_vmi_migration_start_time_seconds", _G,
     "The time at which the migration started."),
    ("kubevirt_vmi_migration_end_time_seconds", _G,
     "The time at which the migration ended."),
    ("kubevirt_vm_info", _G,
     "Information about Virtual Machines."),
)
# fmt: on
INFO_FAMILY = CONTROLLER_FAMILIES[0]

# What KubeVirt called the migration series before renaming them (its metrics docs list the old
# names as deprecated). The world setting "metrics_legacy_names" makes the simulator export
# these instead, like an older virt-handler and virt-controller would.
LEGACY_NAMES: dict[str, str] = {
    "kubevirt_vmi_migration_data_processed_bytes": "kubevirt_migrate_vmi_data_processed_bytes",
    "kubevirt_vmi_migration_data_remaining_bytes": "kubevirt_migrate_vmi_data_remaining_bytes",
    "kubevirt_vmi_migration_dirty_memory_rate_bytes": (
        "kubevirt_migrate_vmi_dirty_memory_rate_bytes"
    ),
    "kubevirt_vmi_migration_memory_transfer_rate_bytes": (
        "kubevirt_migrate_vmi_memory_transfer_rate_bytes"
    ),
    "kubevirt_vmi_migration_data_bytes_total": "kubevirt_vmi_migration_data_total_bytes",
    "kubevirt_vmi_migrations_in_pending_phase": "kubevirt_migrate_vmi_pending_count",
    "kubevirt_vmi_migrations_in_scheduling_phase": "kubevirt_migrate_vmi_scheduling_count",
    "kubevirt_vmi_migrations_in_running_phase": "kubevirt_migrate_vmi_running_count",
    "kubevirt_vmi_migration_succeeded": "kubevirt_migrate_vmi_succeeded",
    "kubevirt_vmi_migration_failed": "kubevirt_migrate_vmi_failed",
}
