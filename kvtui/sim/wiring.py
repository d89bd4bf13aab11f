"""Which controllers make up the simulated cluster, in the order they run each step."""

from __future__ import annotations

from kvtui.sim.controllers.daemonsets import DaemonSetController
from kvtui.sim.controllers.gc import GarbageCollector
from kvtui.sim.controllers.kubelet import Kubelet
from kvtui.sim.controllers.machines import add_kkp_controllers
from kvtui.sim.controllers.migration import EvacuationController, MigrationController
from kvtui.sim.controllers.scheduler import Scheduler
from kvtui.sim.controllers.vm import VmController
from kvtui.sim.controllers.vmi import VmiController
from kvtui.sim.world import World


def add_controllers(world: World) -> None:
    """kube-controller-manager, kube-scheduler, kubelets, KubeVirt and KKP, as controllers."""
    world.add(GarbageCollector(world))
    add_kkp_controllers(world)
    world.add(VmController(world))
    world.add(VmiController(world))
    world.add(EvacuationController(world))
    world.add(MigrationController(world))
    world.add(Scheduler(world))
    world.add(Kubelet(world))
    world.add(DaemonSetController(world))
