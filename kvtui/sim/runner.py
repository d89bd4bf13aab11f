"""Start and stop a simulated cluster: on this event loop, or on a background thread.

`Simulator` is the async form `kvtui sim` uses; `running_simulator()` is the context manager
tests and `kvtui demo` use. Both write a kubeconfig (HTTPS URL, CA, bearer tokens) that stock
kubectl and the kubernetes client accept unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import os
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from kvtui.sim import metrics
from kvtui.sim.faults import Faults
from kvtui.sim.scenario import load_scenario
from kvtui.sim.server import ADMIN_USER, RESTRICTED_USER, VIEWER_USER, ApiConfig, ApiServer
from kvtui.sim.store import Store
from kvtui.sim.subresources import Subresources
from kvtui.sim.tls import make_serving_cert
from kvtui.sim.wiring import add_controllers
from kvtui.sim.world import SimClock, World

log = logging.getLogger("kvtui.sim")
T = TypeVar("T")

CONTEXT = "kvtui-sim"
READONLY_CONTEXT = "kvtui-sim-readonly"
RESTRICTED_CONTEXT = "kvtui-sim-restricted"
HISTORY_OFFSET = 24 * 3600  # the simulated cluster was set up a day ago
FAST_FORWARD_SECONDS = 30.0  # simulated seconds run at start to reach a steady state


def default_kubeconfig_path() -> Path:
    from platformdirs import user_state_path

    return user_state_path("kvtui") / "sim" / "kubeconfig"


@dataclass
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 0
    scenario: str = "default"
    speed: float = 1.0
    seed: int = 0
    nodes: int | None = None
    vms: int | None = None
    kubeconfig: Path | None = None
    metrics_port: int | None = 0  # None: no plain metrics listener; 0: any free port
    start: float | None = None  # simulated time at start (default: a day before now)
    faults: Faults = field(default_factory=Faults)
    # Resources (as kubectl names them: "nodes", "kubevirts.kubevirt.io") a third, restricted
    # token may not read; None: no such token or context.
    restricted: tuple[str, ...] | None = None
    missing_apis: tuple[str, ...] = ()  # API groups not served, as if their CRDs were missing


class Simulator:
    """One simulated cluster served on loopback (HTTPS API plus a plain /metrics listener)."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.token = secrets.token_urlsafe(24)
        self.readonly_token = secrets.token_urlsafe(24)
        self.restricted_token = secrets.token_urlsafe(24) if options.restricted is not None else ""
        self.url = ""
        self.metrics_url = ""
        self.kubeconfig = options.kubeconfig or default_kubeconfig_path()
        self._runners: list[web.AppRunner] = []
        self._world_task: asyncio.Task | None = None
        scenario = load_scenario(
            options.scenario, nodes=options.nodes, vms=options.vms, seed=options.seed
        )
        start = options.start if options.start is not None else time.time() - HISTORY_OFFSET
        self.clock = SimClock(options.speed, start=start)
        self.store = Store(self.clock.now)
        self.world = World(self.store, self.clock, seed=options.seed)
        self.world.settings.update(scenario.settings)
        self.world.settings["faults"] = options.faults
        add_controllers(self.world)
        self._settle(scenario.objects)
        tokens = {self.token: ADMIN_USER, self.readonly_token: VIEWER_USER}
        if self.restricted_token:
            tokens[self.restricted_token] = RESTRICTED_USER
        self.api = ApiServer(
            self.world,
            ApiConfig(
                tokens=tokens,
                faults=options.faults,
                restricted=frozenset(options.restricted or ()),
                missing_groups=frozenset(options.missing_apis),
            ),
        )
        self.api.subresources = Subresources(self.api)

    def _settle(self, objects: list) -> None:
        """Load the scenario and run it to its steady state before anyone can watch.

        Nothing is recorded for watchers meanwhile, and the cyclic garbage collector, which
        rescans the ever-growing heap during this burst of allocations, waits; afterwards the
        survivors are frozen out of its way.
        """
        self.store.recording = False
        gc.disable()
        try:
            self.store.load(objects)
            self.world.fast_forward(FAST_FORWARD_SECONDS)
        finally:
            gc.enable()
            gc.collect()
            gc.freeze()
            self.store.recording = True
            # Watching from before the start is like watching from before a compaction.
            self.store.compacted_rv = self.store.rv

    async def start(self) -> None:
        opts = self.options
        cert = make_serving_cert(opts.host)
        tls_dir = Path(tempfile.mkdtemp(prefix="kvtui-sim-tls-"))
        (tls_dir / "tls.crt").write_bytes(cert.cert_pem)
        (tls_dir / "tls.key").write_bytes(cert.key_pem)
        os.chmod(tls_dir / "tls.key", 0o600)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(tls_dir / "tls.crt", tls_dir / "tls.key")
        for leftover in tls_dir.iterdir():
            leftover.unlink()
        tls_dir.rmdir()
        port = await self._serve(self.api.app(), opts.host, opts.port, ctx)
        host = f"[{opts.host}]" if ":" in opts.host else opts.host
        self.url = f"https://{host}:{port}"
        if opts.metrics_port is not None:
            mport = await self._serve(self._metrics_app(), opts.host, opts.metrics_port, None)
            self.metrics_url = f"http://{host}:{mport}/metrics"
        self._write_kubeconfig(cert.ca_pem)
        self._world_task = asyncio.create_task(self.world.run(), name="kvtui-sim-world")

    async def _serve(
        self, app: web.Application, host: str, port: int, ctx: ssl.SSLContext | None
    ) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ctx, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        return sockets[0].getsockname()[1]

    def _metrics_app(self) -> web.Application:
        """Plain-HTTP scrape target for a real Prometheus: every node's virt-handler series."""

        async def all_metrics(request: web.Request) -> web.StreamResponse:
            # Streamed family by family: the large scenario's text is hundreds of MB, and
            # the API server must keep answering meanwhile.
            resp = web.StreamResponse(headers={"Content-Type": metrics.CONTENT_TYPE})
            await resp.prepare(request)
            for chunk in metrics.iter_all_metrics(self.world):
                await resp.write(chunk.encode())
            await resp.write_eof()
            return resp

        async def node_metrics(request: web.Request) -> web.Response:
            node = request.match_info["node"]
            if self.store.get("/nodes", None, node) is None:
                return web.Response(status=404, text=f"no node {node}\n")
            return web.Response(
                text=metrics.render_node_metrics(self.world, node),
                content_type="text/plain",
                charset="utf-8",
            )

        app = web.Application()
        app.router.add_get("/metrics", all_metrics)
        app.router.add_get("/metrics/{node}", node_metrics)
        return app

    def _write_kubeconfig(self, ca_pem: bytes) -> None:
        ca = base64.b64encode(ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT, "cluster": {"server": self.url, "certificate-authority-data": ca}}
            ],
            "users": [
                {"name": ADMIN_USER, "user": {"token": self.token}},
                {"name": VIEWER_USER, "user": {"token": self.readonly_token}},
            ],
            "contexts": [
                {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": ADMIN_USER}},
                {"name": READONLY_CONTEXT, "context": {"cluster": CONTEXT, "user": VIEWER_USER}},
            ],
            "current-context": CONTEXT,
            "preferences": {},
        }
        if self.restricted_token:
            user, context = RESTRICTED_USER, RESTRICTED_CONTEXT
            config["users"].append({"name": user, "user": {"token": self.restricted_token}})
            entry = {"name": context, "context": {"cluster": CONTEXT, "user": user}}
            config["contexts"].append(entry)
        path = Path(self.kubeconfig)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(config, fh, sort_keys=False)

    async def stop(self) -> None:
        if self._world_task:
            self._world_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._world_task
        self.api.drop_watches()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()


@dataclass
class SimHandle:
    """What a background simulator gives back: where it is, and a way to look inside."""

    url: str
    kubeconfig: Path
    token: str
    readonly_token: str
    metrics_url: str
    simulator: Simulator
    loop: asyncio.AbstractEventLoop

    @property
    def context(self) -> str:
        return CONTEXT

    @property
    def readonly_context(self) -> str:
        return READONLY_CONTEXT

    @property
    def restricted_context(self) -> str:
        """The context of the token denied `SimOptions.restricted` (only when that is set)."""
        if not self.simulator.restricted_token:
            raise LookupError("this simulator has no restricted token: pass restricted=(...)")
        return RESTRICTED_CONTEXT

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run `fn` on the simulator's loop thread (the store is not thread-safe)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)


@contextlib.contextmanager
def running_simulator(**kwargs: Any) -> Iterator[SimHandle]:
    """Run a simulator on a background thread for the duration of the `with` block."""
    options = SimOptions(**kwargs)
    if options.kubeconfig is None:
        tmp = Path(tempfile.mkdtemp(prefix="kvtui-sim-"))
        options.kubeconfig = tmp / "kubeconfig"
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    box: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            sim = Simulator(options)
            loop.run_until_complete(sim.start())
            box["sim"] = sim
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(sim.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="kvtui-sim", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        raise box["error"]
    sim: Simulator = box["sim"]
    try:
        yield SimHandle(
            sim.url, Path(sim.kubeconfig), sim.token, sim.readonly_token, sim.metrics_url, sim, loop
        )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
