"""A `kubectl describe`-like plain-text rendering of any object and its events."""

from __future__ import annotations

from typing import Any

import yaml

INTERESTING = ("spec", "status")


def _section(title: str, value: Any) -> list[str]:
    if value in (None, {}, []):
        return []
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
    return [f"{title}:", *("  " + line for line in text.splitlines())]


def describe(obj: dict, events: list[dict]) -> str:
    """Name, labels, annotations, conditions first, then spec and status, then events."""
    meta = obj.get("metadata") or {}
    lines = [f"Name:         {meta.get('name', '')}"]
    if meta.get("namespace"):
        lines.append(f"Namespace:    {meta['namespace']}")
    lines.append(f"Kind:         {obj.get('kind', '')} ({obj.get('apiVersion', '')})")
    lines.append(f"Created:      {meta.get('creationTimestamp', '')}")
    labels = meta.get("labels") or {}
    lines.append(
        "Labels:       " + (", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
    )
    owners = meta.get("ownerReferences") or []
    if owners:
        lines.append(
            "Controlled by: " + ", ".join(f"{o.get('kind')}/{o.get('name')}" for o in owners)
        )
    conditions = (obj.get("status") or {}).get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        for c in conditions:
            lines.append(
                f"  {c.get('type', ''):<24} {c.get('status', ''):<7} "
                f"{c.get('reason', '')} {c.get('message', '')}".rstrip()
            )
    for key in INTERESTING:
        value = obj.get(key)
        if key == "status" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "conditions"}
        lines += _section(key.capitalize(), value)
    lines.append("Events:" if events else "Events:       <none>")
    for e in events[-20:]:
        lines.append(
            f"  {e.get('lastTimestamp') or '':<21} {e.get('type', ''):<8} "
            f"{e.get('reason', ''):<18} {e.get('message', '')}"
        )
    return "\n".join(lines)
