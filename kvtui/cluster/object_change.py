"""A planned change of some fields of one API object: what the audit log calls it, whether it
changes anything, its diff, and the minimal PATCH guarded by the resourceVersion it was read
at. Doctor fixes and preset changes are both this, with their own names and labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kvtui.cluster.datacenter_apply import diff_lines, guarded_patch, same_json

if TYPE_CHECKING:
    from kvtui.cluster import kinds


class ObjectChange:
    """Mixin for a (frozen) dataclass holding `kind`, `namespace`, `name`,
    `resource_version`, and the fields `before` and `after` relative to `patch_at`."""

    if TYPE_CHECKING:
        kind: kinds.Kind
        namespace: str | None
        name: str
        resource_version: str
        before: dict[str, Any]
        after: dict[str, Any]

    after_label: ClassVar[str] = "edited"  # the diff's name for the new side

    @property
    def patch_at(self) -> tuple[str, ...]:
        """Where in the object `before` and `after` sit (the object itself by default)."""
        return ()

    @property
    def short_kind(self) -> str:
        return self.kind.name.lower()

    @property
    def target(self) -> str:
        """The audit log's name for the object: `service/cluster-x/a8d…`, `cdi/cdi`."""
        short = self.short_kind
        return f"{short}/{self.namespace}/{self.name}" if self.namespace else f"{short}/{self.name}"

    @property
    def changed(self) -> bool:
        return not same_json(self.before, self.after)

    def diff(self) -> list[tuple[str, str]]:
        """The change as kinded unified-diff lines (empty when nothing changes)."""
        return diff_lines(
            self.before,
            self.after,
            old_label=f"{self.target} (live)",
            new_label=f"{self.target} ({self.after_label})",
        )

    def body(self) -> dict[str, Any]:
        """The merge patch: the changed fields only, guarded by the resourceVersion."""
        return guarded_patch(self.before, self.after, self.resource_version, self.patch_at)
