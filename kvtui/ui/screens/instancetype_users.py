"""The VMs that use one instance type or preference: the VMs pane cut to them (enter opens a
VM's health, as there)."""

from __future__ import annotations

from collections.abc import Iterable

from kvtui.cluster.presenters import Row
from kvtui.cluster.session import Session
from kvtui.cluster.views import Migration
from kvtui.ui.actions import Safety
from kvtui.ui.screens.vms import VmsScreen

VmKey = tuple[str, str]


class TemplateUsersScreen(VmsScreen):
    """Live rows of the VMs a template's users were when the pane last read them."""

    show_back = True

    def __init__(self, session: Session, safety: Safety, template: str, users: Iterable[VmKey]):
        super().__init__(session, safety)
        self.subtitle = f"used by {template}"
        self.users = frozenset(users)

    def _row(self, key: VmKey, default: str, migrations: dict[VmKey, Migration]) -> Row | None:
        if key not in self.users:
            return None
        return super()._row(key, default, migrations)
