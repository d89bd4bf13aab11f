"""`kvtui netpol list|check`: the infra cluster's NetworkPolicies and the reachability explainer
without a screen.

A thin shell over `kvtui.cluster.netpol_cluster` and `netpol_query`: policies are read through
`--context`, the datacenters (origins, drift) through `--seed-context` (default: the same).
`check` exits 0 when the traffic is allowed, 1 when it is denied (with the proposed fix) and 2
on input it cannot use, so scripts can branch on it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from kvtui.commands import CommandError, open_session


def add_parsers(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    netpol = sub.add_parser(
        "netpol",
        parents=parents,
        help="NetworkPolicies per user cluster, and whether traffic may pass: list, check",
        description=(
            "The infra cluster's NetworkPolicies with their origin (KKP default, the "
            "datacenter's customNetworkPolicies, other), what they select and any drift from "
            "the datacenter; and the reachability explainer."
        ),
    )
    actions = netpol.add_subparsers(dest="netpol_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list", parents=parents, help="every NetworkPolicy (-n: one namespace), with its rules"
    )
    listing.add_argument("-o", "--output", choices=("text", "json"), default="text")
    check = actions.add_parser(
        "check",
        parents=parents,
        help="may traffic pass? exit 0 allowed, 1 denied, 2 bad input",
        description=(
            "Explain whether traffic passes both the source's egress and the destination's "
            "ingress, naming the deciding policy and rule; when denied, propose the smallest "
            "customNetworkPolicies entry that allows it. Exit 0 allowed, 1 denied, 2 bad input."
        ),
    )
    check.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="IP|CIDR|NS/POD|NS:LABELS",
        help="an address outside the cluster, a pod or VM (NS/NAME), or NS:key=value,...",
    )
    check.add_argument(
        "--to",
        dest="destination",
        required=True,
        metavar="NS/POD|NS:LABELS|IP",
        help="a pod, VM or Service (NS/NAME: a Service means the pods behind it), labels or IP",
    )
    check.add_argument("--port", required=True, metavar="P[/PROTO]", help="e.g. 443, 53/UDP")
    check.add_argument("-o", "--output", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    command = {"list": _list, "check": _check}[args.netpol_command]
    return asyncio.run(command(args))


async def _world(args: argparse.Namespace, namespace: str | None = None) -> Any:
    """One reading of the cluster; the Seed on its own context when one is given."""
    from kvtui.cluster.connection import Connection
    from kvtui.cluster.errors import KubeconfigError, KubeError
    from kvtui.cluster.netpol_cluster import read_world

    session = await open_session(args.kubeconfig, args.context, read_only=True)
    seed = None
    try:
        if args.seed_context and args.seed_context != session.context:
            seed = await Connection.open(args.kubeconfig, args.seed_context)
        return await read_world(session.connection, seed, namespace)
    except KubeconfigError as exc:
        raise CommandError(str(exc)) from None
    except KubeError as exc:
        raise CommandError(f"cannot read the NetworkPolicies: {exc}", code=1) from None
    finally:
        if seed is not None:
            await seed.close()
        await session.close()


# -- list ----------------------------------------------------------------------------------
async def _list(args: argparse.Namespace) -> int:
    from kvtui.cluster.netpol_cluster import policy_states

    world = await _world(args, args.namespace)
    states = policy_states(world, args.namespace)
    if args.output == "json":
        print(orjson.dumps([_state_json(s) for s in states], option=orjson.OPT_INDENT_2).decode())
        return 0
    if world.seed_note:
        print(f"kvtui: note: {world.seed_note}", file=sys.stderr)
    if not states:
        where = f"namespace {args.namespace}" if args.namespace else "any namespace"
        print(f"No NetworkPolicies in {where}.")
        return 0
    print(_listing(states))
    return 0


def _listing(states: list[Any]) -> str:
    """A table, each row followed by its rules as sentences (indented)."""
    from kvtui.cluster.netpol_cluster import ORIGIN_TEXT, pod_label, selection_text

    header = ["NAMESPACE", "NAME", "ORIGIN", "SELECTS", "DRIFT"]
    rows = [
        [
            s.namespace,
            s.name,
            ORIGIN_TEXT[s.origin],
            selection_text(pod_label(p) for p in s.selected),
            s.drift or "-",
        ]
        for s in states
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(header)]
    for state, row in zip(states, rows, strict=True):
        lines.append(line(row))
        lines += [f"    {sentence}" for sentence in state.sentences()]
    return "\n".join(lines)


def _state_json(state: Any) -> dict[str, Any]:
    from kvtui.cluster.netpol_cluster import pod_label

    return {
        "namespace": state.namespace,
        "name": state.name,
        "origin": state.origin,
        "datacenter": state.datacenter or None,
        "cluster": state.cluster or None,
        "missing": state.missing,
        "drift": state.drift or None,
        "selects": [pod_label(p) for p in state.selected],
        "sentences": state.sentences(),
        "spec": state.spec,
    }


# -- check ---------------------------------------------------------------------------------
async def _check(args: argparse.Namespace) -> int:
    from kvtui.cluster.netpol_query import check, propose
    from kvtui.cluster.netpol_resolve import EndpointError

    world = await _world(args)
    try:
        result = check(world, args.source, args.destination, args.port)
    except EndpointError as exc:
        raise CommandError(str(exc)) from None
    proposal = propose(world, result.denied[0]) if result.denied else None
    if args.output == "json":
        print(orjson.dumps(_check_json(result, proposal), option=orjson.OPT_INDENT_2).decode())
    else:
        print(_check_text(result, proposal))
    return 0 if result.allowed else 1


def _check_text(result: Any, proposal: Any) -> str:
    from kvtui.cluster.netpol_query import verdict_groups

    word = "allowed" if result.allowed else "denied"
    lines = [
        f"{result.port}/{result.protocol} from {result.source.text} to "
        f"{result.destination.text}: {word}"
    ]
    lines += [f"  note: {note}" for note in result.notes]
    for group in verdict_groups(result.verdicts):
        first = group[0]
        if len(group) > 1:
            names = ", ".join(str(v.destination) for v in group)
            lines.append(f"{len(group)} destinations decided alike ({names}):")
        lines += first.explanation.splitlines()
    if proposal is not None:
        lines += _fix_text(proposal)
    return "\n".join(lines)


def _fix_text(proposal: Any) -> list[str]:
    import yaml

    from kvtui.cluster.netpol_query import deciding_rules

    _, proposals, after = proposal
    lines = ["", "Proposed fix (the smallest policy that allows this connection):"]
    for item in proposals:
        lines += [f"  {line}" for line in item.lines()]
    if after.allowed:
        lines.append(f"  with it: allowed ({deciding_rules(after)})")
    else:
        lines.append(f"  with it: still denied: {after.sentence()}")
    in_dc = [p for p in proposals if p.datacenter]
    if in_dc:
        entries = yaml.safe_dump([p.entry for p in in_dc], sort_keys=False).rstrip()
        dc = in_dc[0].datacenter
        lines += ["", f"customNetworkPolicies entry for datacenter {dc}:"]
        lines += [f"  {line}" for line in entries.splitlines()]
        lines.append(
            f"Apply it: `kvtui datacenter get {dc} > {dc}.yaml`, add the entry under "
            f"customNetworkPolicies, `kvtui datacenter apply {dc} -f {dc}.yaml`; or in the app: "
            ":np, r, then f opens it in the datacenter editor."
        )
    others = [p for p in proposals if not p.datacenter]
    if others:
        objects = yaml.safe_dump_all([p.fix.policy for p in others], sort_keys=False).rstrip()
        lines += ["", "NetworkPolicy to apply by hand (kubectl apply -f):"]
        lines += [f"  {line}" for line in objects.splitlines()]
    return lines


def _side_json(side: Any) -> dict[str, Any]:
    decision = side.decision
    return {
        "outcome": side.outcome,
        "allowed": side.allowed,
        "decision": None
        if decision is None
        else {
            "policy": decision.policy,
            "rule": decision.rule,
            "peer": decision.peer,
            "port": decision.port,
            "text": decision.rule_text,
        },
        "refusals": [{"policy": r.policy, "reasons": list(r.reasons)} for r in side.refusals],
        "sentence": side.sentence(),
    }


def _check_json(result: Any, proposal: Any) -> dict[str, Any]:
    verdicts = [
        {
            "source": str(v.source),
            "destination": str(v.destination),
            "port": v.port,
            "protocol": v.protocol,
            "allowed": v.allowed,
            "egress": _side_json(v.egress),
            "ingress": _side_json(v.ingress),
            "sentence": v.sentence(),
        }
        for v in result.verdicts
    ]
    fix = None
    if proposal is not None:
        _, proposals, after = proposal
        fix = {
            "policies": [
                {
                    "namespace": p.fix.namespace,
                    "direction": p.fix.direction,
                    "datacenter": p.datacenter or None,
                    "entry": p.entry,
                    "effects": [
                        {
                            "namespace": e.namespace,
                            "clusters": [c.id for c in e.clusters],
                            "selects": list(e.selected),
                            "newly_isolated": list(e.newly_isolated),
                        }
                        for e in p.effects
                    ],
                }
                for p in proposals
            ],
            "allowed_after": after.allowed,
            "after": after.sentence(),
        }
    return {
        "from": result.source.text,
        "to": result.destination.text,
        "port": result.port,
        "protocol": result.protocol,
        "allowed": result.allowed,
        "notes": list(result.notes),
        "verdicts": verdicts,
        "fix": fix,
    }
