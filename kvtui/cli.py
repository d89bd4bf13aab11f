"""The `kvtui` command: entry points over the simulator (and, later, the app and its tools).

Each subcommand is a thin shell: parse flags, call into the package, turn failures into one
readable line and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kvtui import (
    __version__,
    datacenter_cli,
    doctor_cli,
    drain_cli,
    instancetype_cli,
    netpol_cli,
    preset_cli,
)
from kvtui.commands import CommandError

if TYPE_CHECKING:  # imported where used: `kvtui sim` must not load the app's modules
    from kvtui.cluster.metrics_prometheus_api import PrometheusSettings
    from kvtui.prometheus_runner import PrometheusRunner
    from kvtui.sim.runner import SimHandle


class CliError(Exception):
    """A problem to report in one line, with the exit code to use."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{host!r} is not an IP address") from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(
            f"{host} is not a loopback address; the simulator only listens on loopback"
        )
    return host


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _share(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError("a share is between 0 and 1")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _connection_flags(defaults: bool) -> argparse.ArgumentParser:
    """Connection flags, accepted before and after a subcommand's name."""
    value = None if defaults else argparse.SUPPRESS
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("connection")
    group.add_argument(
        "--kubeconfig",
        default=value,
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )
    group.add_argument("--context", default=value, help="infra cluster context")
    group.add_argument(
        "--seed-context", default=value, help="KKP seed cluster context (default: --context)"
    )
    group.add_argument(
        "-n", "--namespace", default=value, help="only this namespace (default: all)"
    )
    group.add_argument(
        "--read-only",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="nothing that changes the cluster is offered",
    )
    group.add_argument(
        "--prometheus-url",
        default=value,
        help="Prometheus to query (default: one found in the KubeVirt CR's monitorNamespace, "
        "else the virt-handlers are scraped directly)",
    )
    group.add_argument(
        "--prometheus-token",
        default=value,
        metavar="TOKEN",
        help=f"bearer token for --prometheus-url (better: ${PROMETHEUS_TOKEN_ENV})",
    )
    group.add_argument(
        "--prometheus-basic-auth-file",
        default=value,
        metavar="FILE",
        help=f"file holding user:password for --prometheus-url (or ${PROMETHEUS_BASIC_AUTH_ENV})",
    )
    group.add_argument(
        "--prometheus-ca", default=value, metavar="FILE", help="CA file for --prometheus-url"
    )
    group.add_argument(
        "--prometheus-insecure",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="do not verify the certificate of --prometheus-url",
    )
    group.add_argument(
        "--prometheus-rate-window",
        default=value,
        metavar="DURATION",
        help="rate() window, at least 4 scrape intervals (default 2m)",
    )
    return flags


PROMETHEUS_TOKEN_ENV = "KVTUI_PROMETHEUS_TOKEN"
PROMETHEUS_BASIC_AUTH_ENV = "KVTUI_PROMETHEUS_BASIC_AUTH"  # user:password


def _prometheus_settings(args: argparse.Namespace) -> PrometheusSettings:
    """The metrics pane's PrometheusSettings from the flags; secrets never reach a message."""
    import os

    from kvtui.cluster.metrics_prometheus_api import PrometheusSettings, window_seconds

    url = args.prometheus_url
    if url and not url.startswith(("http://", "https://")):
        raise CliError(f"--prometheus-url {url!r}: must start with http:// or https://")
    token = args.prometheus_token or os.environ.get(PROMETHEUS_TOKEN_ENV) or None
    basic = os.environ.get(PROMETHEUS_BASIC_AUTH_ENV)
    if args.prometheus_basic_auth_file:
        try:
            basic = Path(args.prometheus_basic_auth_file).read_text().strip()
        except OSError as exc:
            raise CliError(
                f"cannot read --prometheus-basic-auth-file {args.prometheus_basic_auth_file}: "
                f"{exc.strerror or exc}"
            ) from None
    auth = None
    if basic:
        user, colon, password = basic.partition(":")
        if not colon or not user:
            raise CliError("Prometheus basic auth must be given as user:password")
        auth = (user, password)
    if args.prometheus_ca and not Path(args.prometheus_ca).is_file():
        raise CliError(f"--prometheus-ca {args.prometheus_ca}: no such file")
    settings = PrometheusSettings(
        url=url or None,
        token=token,
        basic_auth=auth,
        ca_file=args.prometheus_ca,
        insecure=bool(args.prometheus_insecure),
    )
    if args.prometheus_rate_window:
        try:
            window_seconds(args.prometheus_rate_window)
        except ValueError as exc:
            raise CliError(f"--prometheus-rate-window: {exc}") from None
        settings = dataclasses.replace(settings, rate_window=args.prometheus_rate_window)
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvtui",
        parents=[_connection_flags(defaults=True)],
        description="Terminal UI for KubeVirt infrastructure clusters under Kubermatic KKP.",
    )
    parser.add_argument("--version", action="version", version=f"kvtui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    later = _connection_flags(defaults=False)

    demo = sub.add_parser(
        "demo",
        parents=[later],
        help="the app against a simulated cluster started for it",
        description="Start the simulated KubeVirt cluster in the background and the app "
        "against it; quitting the app stops both.",
    )
    demo.add_argument(
        "--scenario",
        default="default",
        help="simulator scenario (default, large, stuck-migration, drain-bench, or a file)",
    )
    demo.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    drain_cli.add_parsers(sub, [later])
    datacenter_cli.add_parsers(sub, [later])
    netpol_cli.add_parsers(sub, [later])
    doctor_cli.add_parsers(sub, [later])
    instancetype_cli.add_parsers(sub, [later])
    preset_cli.add_parsers(sub, [later])

    sim = sub.add_parser(
        "sim",
        help="serve a simulated KubeVirt infrastructure cluster (Kubernetes API)",
        description="Serve a simulated KubeVirt infrastructure cluster over the real "
        "Kubernetes API on loopback, until interrupted.",
    )
    sim.add_argument(
        "--host",
        type=_loopback,
        default="127.0.0.1",
        help="loopback address to listen on (default 127.0.0.1)",
    )
    sim.add_argument(
        "--port", type=_port, default=0, help="API server port (default: any free port)"
    )
    sim.add_argument(
        "--scenario",
        default="default",
        help="built-in scenario (default, large, stuck-migration, drain-bench) or a YAML file",
    )
    sim.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    sim.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sim.add_argument("--nodes", type=_count, help="scale the scenario to N nodes")
    sim.add_argument("--vms", type=_count, help="scale the scenario to N VMs")
    sim.add_argument(
        "--kubeconfig",
        type=Path,
        help="where to write the kubeconfig (default: in the user state dir)",
    )
    sim.add_argument(
        "--metrics-port",
        type=_port,
        default=0,
        help="port of the plain-HTTP /metrics endpoint for Prometheus (default: any free port)",
    )
    faults = sim.add_argument_group("fault injection (also at run time: /_sim/faults)")
    faults.add_argument(
        "--fault-latency-ms",
        type=_non_negative_float,
        default=0.0,
        help="add this much latency to every API request",
    )
    faults.add_argument(
        "--fault-429",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="answer this share of API requests with 429 and Retry-After",
    )
    faults.add_argument(
        "--fault-500",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="answer this share of API requests with 500",
    )
    faults.add_argument(
        "--fault-watch-seconds",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="close every watch after S seconds",
    )
    faults.add_argument(
        "--fail-migration",
        action="append",
        default=[],
        metavar="VMI",
        help="make migrations of this VMI fail (repeatable)",
    )
    faults.add_argument(
        "--stall-migration",
        action="append",
        default=[],
        metavar="VMI",
        help="make migrations of this VMI never converge (repeatable)",
    )
    return parser


def run_sim(args: argparse.Namespace) -> int:
    from kvtui.sim.faults import Faults
    from kvtui.sim.runner import SimOptions, Simulator
    from kvtui.sim.scenario import ScenarioError

    faults = Faults(
        latency_ms=args.fault_latency_ms,
        error_429_share=args.fault_429,
        error_500_share=args.fault_500,
        watch_max_seconds=args.fault_watch_seconds,
        fail_migrations=args.fail_migration,
        stall_migrations=args.stall_migration,
    )
    options = SimOptions(
        host=args.host,
        port=args.port,
        scenario=args.scenario,
        speed=args.speed,
        seed=args.seed,
        nodes=args.nodes,
        vms=args.vms,
        kubeconfig=args.kubeconfig,
        metrics_port=args.metrics_port,
        faults=faults,
    )

    async def serve() -> None:
        try:
            sim = Simulator(options)
        except ScenarioError as exc:
            raise CliError(f"scenario: {exc}") from None
        try:
            await sim.start()
        except OSError as exc:
            raise CliError(
                f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}"
            ) from None
        print(_banner(sim), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("kvtui sim: stopping", flush=True)
        await sim.stop()

    asyncio.run(serve())
    return 0


def _banner(sim: object) -> str:
    from kvtui.sim.runner import CONTEXT, READONLY_CONTEXT, Simulator

    assert isinstance(sim, Simulator)
    store = sim.store
    handler = next(
        (
            p["metadata"]["name"]
            for p in store.list("/pods", "kubevirt")
            if (p["metadata"].get("labels") or {}).get("kubevirt.io") == "virt-handler"
        ),
        "<virt-handler pod>",
    )
    lines = [
        f"kvtui sim: scenario {sim.options.scenario!r}: {store.count('/nodes')} nodes, "
        f"{store.count('kubevirt.io/virtualmachineinstances')} VMIs, speed "
        f"{sim.options.speed:g}x",
        f"  API server:  {sim.url}",
        f"  kubeconfig:  {sim.kubeconfig}",
        f"               export KUBECONFIG={sim.kubeconfig}",
        f"  contexts:    {CONTEXT} (admin), {READONLY_CONTEXT} (read-only: writes get 403)",
    ]
    if sim.metrics_url:
        lines.append(
            f"  metrics:     {sim.metrics_url}  (every virt-handler; scrape with Prometheus)"
        )
    lines.append(
        f"               {sim.url}/api/v1/namespaces/kubevirt/pods/{handler}/proxy/metrics"
    )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def run_app(
    args: argparse.Namespace, kubeconfig: str | None = None, context: str | None = None
) -> int:
    """Open a session (one-line errors on failure), then run the TUI until it quits."""
    from kvtui.cluster.config import ConfigError, load_config
    from kvtui.cluster.errors import KubeconfigError, KubeError
    from kvtui.cluster.session import Session
    from kvtui.ui.app import KvtuiApp

    kubeconfig = kubeconfig or args.kubeconfig
    try:
        config = load_config()
    except ConfigError as exc:
        raise CliError(str(exc)) from None

    prometheus = _prometheus_settings(args)

    async def connect(ctx: str | None) -> Session:
        return await Session.open(
            kubeconfig,
            ctx,
            config=config,
            namespace=args.namespace,
            read_only=args.read_only,
            prometheus=prometheus,
        )

    async def run() -> None:
        try:
            session = await connect(context or args.context)
        except KubeconfigError as exc:
            raise CliError(str(exc)) from None
        except KubeError as exc:
            raise CliError(f"cannot connect: {exc}") from None
        seed_context = args.seed_context
        open_seed = None
        if seed_context and seed_context != (context or args.context):

            async def open_seed() -> Session:
                return await connect(seed_context)

        app = KvtuiApp(session, connect=connect, open_seed_session=open_seed)
        try:
            await app.run_async()
        finally:
            await app.session.close()

    asyncio.run(run())
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from kvtui.sim.runner import running_simulator
    from kvtui.sim.scenario import ScenarioError

    print(f"kvtui demo: starting the simulated cluster (scenario {args.scenario!r})...", flush=True)
    try:
        with running_simulator(scenario=args.scenario, speed=args.speed) as sim:
            prometheus = _demo_prometheus(args, sim)
            try:
                return run_app(args, kubeconfig=str(sim.kubeconfig), context=sim.context)
            finally:
                if prometheus is not None:
                    prometheus.close()
    except ScenarioError as exc:
        raise CliError(f"scenario: {exc}") from None


def _demo_prometheus(args: argparse.Namespace, sim: SimHandle) -> PrometheusRunner | None:
    """A real Prometheus scraping the simulator, its URL put in `args`; None without one."""
    from kvtui.prometheus_runner import (
        PrometheusError,
        PrometheusRunner,
        ScrapeTarget,
        prometheus_binary,
    )

    if args.prometheus_url or not sim.metrics_url:
        return None
    if prometheus_binary() is None:
        print(
            "kvtui demo: no prometheus binary (apt-get install prometheus): "
            "the metrics pane scrapes the virt-handlers directly",
            flush=True,
        )
        return None
    vmis = sim.call(lambda: sim.simulator.store.count("kubevirt.io/virtualmachineinstances"))
    interval = 2.0 if vmis <= 1000 else 30.0  # a large scenario's scrape is hundreds of MB
    runner = PrometheusRunner([ScrapeTarget(sim.metrics_url)], scrape_interval=interval)
    try:
        runner.start()
        runner.wait_for_samples(timeout=3 * interval + 10)
    except PrometheusError as exc:
        runner.close()
        print(f"kvtui demo: Prometheus did not start ({exc}); scraping directly", flush=True)
        return None
    print(f"kvtui demo: Prometheus {runner.url} scrapes the simulator every {interval:g}s")
    args.prometheus_url = runner.url
    args.prometheus_rate_window = args.prometheus_rate_window or f"{4 * interval:g}s"
    return runner


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (
        ("kubeconfig", None),
        ("context", None),
        ("namespace", None),
        ("read_only", False),
        ("seed_context", None),
        ("prometheus_url", None),
        ("prometheus_token", None),
        ("prometheus_basic_auth_file", None),
        ("prometheus_ca", None),
        ("prometheus_insecure", False),
        ("prometheus_rate_window", None),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        if args.command == "sim":
            return run_sim(args)
        if args.command == "demo":
            return run_demo(args)
        if args.command == "drain":
            return drain_cli.run_drain(args)
        if args.command == "uncordon":
            return drain_cli.run_uncordon(args)
        if args.command == "datacenter":
            return datacenter_cli.run(args)
        if args.command == "netpol":
            return netpol_cli.run(args)
        if args.command == "instancetype":
            return instancetype_cli.run(args)
        if args.command == "preset":
            return preset_cli.run(args)
        if args.command == "doctor":
            return doctor_cli.run_doctor(args)
        if args.command == "snapshot":
            return doctor_cli.run_snapshot(args)
        return run_app(args)
    except (CliError, CommandError) as exc:
        print(f"kvtui: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
