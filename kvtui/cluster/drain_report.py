"""The drain in words: the plan, one line per VM state change, and the verdict.

Plain text for `kvtui drain` and for pagers and tickets; the TUI draws its own tables from the
same plan and items, and reuses the summaries below so both say the same thing.
"""

from __future__ import annotations

from collections import Counter

from kvtui.cluster.drain import DrainPlan, Outcome, PodPlan
from kvtui.cluster.drain_run import DrainItem, State
from kvtui.cluster.presenters import human_duration


def gib(value: int) -> str:
    return f"{value / 1024**3:.1f}Gi"


def capacity_line(plan: DrainPlan) -> str:
    c = plan.capacity
    verdict = "fits" if c.fits else f"does NOT fit ({', '.join(c.unplaced)} has no node)"
    return (
        f"Capacity: moving pods need {c.needed_cpu_m / 1000:.1f} CPU, {gib(c.needed_memory)}; "
        f"{len(c.nodes)} schedulable KVM nodes have {c.free_cpu_m / 1000:.1f} CPU, "
        f"{gib(c.free_memory)} free: {verdict}"
    )


def clusters_line(plan: DrainPlan) -> str:
    if not plan.clusters:
        return "User clusters: none affected"
    parts = [f"{c.cluster} {c.on_node} of {c.total} VMs" for c in plan.clusters]
    return "User clusters on this node: " + "; ".join(parts)


def estimate_line(plan: DrainPlan) -> str:
    e = plan.estimate
    if not e.migrations:
        return "Estimate: no live migrations"
    text = (
        f"Estimate: ~{human_duration(e.seconds)} for {e.migrations} live migration"
        f"{'s' if e.migrations != 1 else ''}, {e.parallel} at a time"
    )
    return text + (f" ({'; '.join(e.notes)})" if e.notes else "")


def summary_line(plan: DrainPlan) -> str:
    counts = plan.counts()
    order = [o.value for o in Outcome]
    return ", ".join(f"{counts[o]} {o}" for o in order if counts[o])


def plan_text(plan: DrainPlan, context: str = "") -> list[str]:
    where = f" (context {context})" if context else ""
    state = " — already cordoned" if plan.cordoned else ""
    lines = [f"Drain plan for {plan.node}{where}{state}: {summary_line(plan)}"]
    rows = [p for p in plan.pods if p.outcome is not Outcome.IGNORE]
    if rows:
        width = max(len(f"{p.namespace}/{p.name}") for p in rows)
        lines.append(
            f"  {'VM / POD':<{width}}  {'STRATEGY':<21}  {'OUTCOME':<15}  {'TARGET':<10}  DETAIL"
        )
        for p in rows:
            strategy = p.strategy or ("-" if p.is_vm else "(pod)")
            lines.append(
                f"  {p.namespace + '/' + p.name:<{width}}  {strategy:<21}  "
                f"{p.outcome.value:<15}  {p.target or '-':<10}  {p.detail}"
            )
    ignored = [p for p in plan.pods if p.outcome is Outcome.IGNORE]
    if ignored:
        kinds = Counter(p.detail for p in ignored)
        lines.append(
            "  Ignored: "
            + ", ".join(f"{d}" + (f" ×{n}" if n > 1 else "") for d, n in kinds.items())
        )
    lines += [capacity_line(plan), clusters_line(plan), estimate_line(plan)]
    lines += [f"Warning: {w}" for w in plan.warnings]
    return lines


def change_line(item: DrainItem, elapsed: float) -> str:
    """One calm line per state change: `  0:42 cluster-x/vm-1  migrating (Running) → kv-node-3`."""
    minutes, seconds = divmod(int(elapsed), 60)
    where = f" → {item.target}" if item.target and not item.final else ""
    if item.final and item.target:
        where = f" on {item.target}"
    return f"{minutes:3d}:{seconds:02d} {item.plan.namespace}/{item.name}  {item.label}{where}"


PLAN_COLUMNS = ("VM / POD", "NAMESPACE", "STRATEGY", "OUTCOME", "LIKELY TARGET", "DETAIL")
BOARD_COLUMNS = ("VM / POD", "STATE", "SOURCE → TARGET", "ELAPSED", "PROGRESS", "LAST MESSAGE")


def plan_cells(plan: PodPlan) -> tuple[str, ...]:
    strategy = plan.strategy or ("-" if plan.is_vm else "(pod)")
    return (
        plan.name,
        plan.namespace,
        strategy,
        plan.outcome.value,
        plan.target or "-",
        plan.detail,
    )


def progress_text(item: DrainItem) -> str:
    """Data sent and left, and whether the guest's dirtying lets the copy converge."""
    if item.state is State.MIGRATED:
        return "done"
    if item.processed_bytes is None or item.remaining_bytes is None:
        return ""
    trend = {True: "converging", False: "NOT converging", None: ""}[item.converging]
    text = f"{gib(item.processed_bytes)} sent, {gib(item.remaining_bytes)} left"
    return f"{text}, {trend}" if trend else text


def board_cells(item: DrainItem, node: str, now: float) -> tuple[str, ...]:
    state = item.state.value
    if item.state is State.MIGRATING and item.phase:
        state = f"migrating: {item.phase}"
    elapsed = ""
    if item.started is not None:
        elapsed = human_duration((item.ended or now) - item.started)
    message = f"STUCK: {item.stuck}" if item.stuck else item.message
    target = item.target or (item.plan.target and f"({item.plan.target}?)") or "?"
    route = f"{node} → {target}" if item.plan.is_vm else node
    return (item.name, state, route, elapsed, progress_text(item), message)


def progress_counts(items: list[DrainItem]) -> tuple[int, int]:
    """(items at their end, all items) for the overall progress bar."""
    return sum(1 for i in items if i.final), len(items)
