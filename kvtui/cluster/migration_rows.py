"""The Migrations pane's renderer: one VirtualMachineInstanceMigration becomes one table row.

Pure functions like the other presenters: where the guest moves, how far it got (from the
latest virt-handler sample), how long it took and what started it, and the phase timeline.
"""

from __future__ import annotations

import time

from kvtui.cluster.migration_metrics import MigrationSample, percent_done
from kvtui.cluster.presenters import ERROR, MUTED, NONE, WARN, Row, age, human_duration
from kvtui.cluster.views import Migration, timestamp

MIGRATION_COLUMNS = (
    "NAMESPACE",
    "NAME",
    "VMI",
    "PHASE",
    "SOURCE → TARGET",
    "PROGRESS",
    "DURATION",
    "TRIGGER",
    "AGE",
    "TIMELINE",
)
BAR_CELLS = 5
# What KubeVirt's migration queue gives each trigger unless told otherwise.
USUAL_PRIORITY = {"evacuation": "system-critical", "user": "user-triggered"}


def progress_cell(
    migration: Migration, sample: MigrationSample | None, converging: bool | None
) -> tuple[str, float]:
    """`▇▇▇▁▁ 63%` while running (`stalling` when the guest dirties memory faster than it is
    sent), full once Succeeded; the percentage (or -1) for sorting."""
    if migration.phase == "Succeeded":
        return f"{'▇' * BAR_CELLS} 100%", 100.0
    if sample is None or migration.final:
        return NONE, -1.0
    percent = percent_done(sample)
    if percent is None:
        return NONE, -1.0
    filled = min(BAR_CELLS, int(percent * BAR_CELLS / 100))
    cell = f"{'▇' * filled}{'▁' * (BAR_CELLS - filled)} {percent:.0f}%"
    return (f"{cell} stalling" if converging is False else cell), percent


def duration(migration: Migration, now: float) -> float | None:
    """Seconds from the request to the end (or to `now` while in flight)."""
    start = timestamp(migration.created)
    if start is None:
        return None
    transitions = migration.phase_transitions
    end = timestamp(migration.ended) or (
        timestamp(transitions[-1][1]) if migration.final and transitions else None
    )
    return (end if end is not None else now) - start


def timeline(migration: Migration, now: float) -> str:
    """`Pending 0s → Scheduling 2s → … → Succeeded`: each phase and how long it lasted; the
    current phase of one in flight counts up to `now`."""
    transitions = migration.phase_transitions
    parts = []
    for index, (phase, since) in enumerate(transitions):
        if index + 1 < len(transitions):
            until = timestamp(transitions[index + 1][1])
        else:
            until = None if migration.final else now
        start = timestamp(since)
        if until is None or start is None:
            parts.append(phase)
        else:
            parts.append(f"{phase} {human_duration(until - start)}")
    return " → ".join(parts) or NONE


def trigger(migration: Migration) -> str:
    """Who asked: KubeVirt's evacuation (a drain, the descheduler) or a user; and the priority
    KubeVirt's migration queue gives it, when it is not the usual one for that trigger."""
    who = "evacuation" if migration.evacuation else "user"
    priority = migration.priority
    if priority and priority != USUAL_PRIORITY[who]:
        return f"{who} ({priority})"
    return who


def route(migration: Migration) -> str:
    """`kv-node-1 → kv-node-2`; before a target is picked, the node the admin chose, if any."""
    source = migration.source_node or "?"
    target = migration.target_node
    if not target:
        target = f"{migration.requested_node} (chosen)" if migration.requested_node else "?"
    return f"{source} → {target}"


def migration_row(
    migration: Migration,
    sample: MigrationSample | None = None,
    converging: bool | None = None,
    now: float | None = None,
) -> Row:
    """NAMESPACE NAME VMI PHASE SOURCE→TARGET PROGRESS DURATION TRIGGER AGE TIMELINE."""
    now = time.time() if now is None else now
    namespace, name = migration.key
    phase = migration.phase or "Pending"
    progress, percent = progress_cell(migration, sample, converging)
    took = duration(migration, now)
    created = migration.created
    if phase == "Failed" or converging is False:
        health = ERROR
    elif phase == "Succeeded":
        health = MUTED  # history: nothing left to watch
    else:
        health = WARN  # a guest on the move
    moving = route(migration)
    started_by = trigger(migration)
    cells = (
        namespace,
        name,
        migration.vmi_name or NONE,
        phase,
        moving,
        progress,
        human_duration(took) if took is not None else NONE,
        started_by,
        age(created, now),
        timeline(migration, now),
    )
    then = timestamp(created)
    sort_keys = (
        namespace,
        name,
        migration.vmi_name,
        phase,
        moving,
        percent,
        took if took is not None else -1.0,
        started_by,
        now - then if then is not None else -1.0,
        then or 0.0,
    )
    return Row((namespace, name), cells, health, sort_keys)
