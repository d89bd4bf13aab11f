"""Fixtures for domain tests against a module's own simulator: the module defines `cluster`
(its scenario and seed) and gets a connection to it. (Not kubectl: the root conftest's serves
the modules that use the shared simulator.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kvtui.cluster.connection import Connection
from kvtui.sim.runner import SimHandle


@pytest.fixture
async def conn(cluster: SimHandle) -> AsyncIterator[Connection]:
    async with await Connection.open(str(cluster.kubeconfig), cluster.context) as connection:
        yield connection
