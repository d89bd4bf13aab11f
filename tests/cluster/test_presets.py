"""Scheduling presets: the fields, what the nodes make of them, machine-controller's translation,
the label catalogue, and the config file's `presets:` section."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kvtui.cluster import kinds
from kvtui.cluster.config import Config, ConfigError, load_config, save_presets
from kvtui.cluster.connection import Connection
from kvtui.cluster.findings import ERROR, WARNING
from kvtui.cluster.presets import (
    DO_NOT_SCHEDULE,
    HARD,
    HOSTNAME,
    PRESET_LABEL,
    SCHEDULE_ANYWAY,
    SOFT,
    ZONE,
    NodeAffinityPreset,
    Preset,
    SpreadConstraint,
    check_against_nodes,
    label_catalogue,
    machine_deployment_fragment,
    md_selector,
    parse_preset,
    parse_presets,
    preset_from_cloud_provider_spec,
    vm_affinity,
    vm_group,
    vm_scheduling,
    vm_topology_spread,
)
from kvtui.sim.runner import SimHandle


def node(name: str, zone: str | None = "zone-a", *, cordoned=False, ready=True, **labels) -> dict:
    all_labels = {HOSTNAME: name, "kubevirt.io/schedulable": "true", **labels}
    if zone:
        all_labels[ZONE] = zone
    return {
        "metadata": {"name": name, "labels": all_labels},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {
            "allocatable": {"cpu": "16", "memory": "64Gi", "devices.kubevirt.io/kvm": "1k"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


NODES = [
    node("n1", "zone-a", gpu="a100"),
    node("n2", "zone-a"),
    node("n3", "zone-b", gpu="t4", cordoned=True),
]


# -- fields ----------------------------------------------------------------------------------
def spread(**fields: Any) -> dict[str, Any]:
    base = {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": DO_NOT_SCHEDULE}
    return {"name": "p", "topologySpreadConstraints": [{**base, **fields}]}


@pytest.mark.parametrize(
    ("raw", "path", "severity", "message"),
    [
        (spread(maxSkew=0), "topologySpreadConstraints[0].maxSkew", ERROR, "integer ≥ 1, not 0"),
        (spread(maxSkew="2"), "topologySpreadConstraints[0].maxSkew", ERROR, "not '2'"),
        (spread(maxSkew=True), "topologySpreadConstraints[0].maxSkew", ERROR, "not True"),
        (spread(maxSkew=1.5), "topologySpreadConstraints[0].maxSkew", ERROR, "integer"),
        (
            spread(whenUnsatisfiable="Sometimes"),
            "topologySpreadConstraints[0].whenUnsatisfiable",
            ERROR,
            "DoNotSchedule or ScheduleAnyway",
        ),
        (spread(topologyKey=""), "topologySpreadConstraints[0].topologyKey", ERROR, "label key"),
        (
            spread(topologyKey="Topology.Example.com/zone"),
            "topologySpreadConstraints[0].topologyKey",
            ERROR,
            "prefix must be a DNS subdomain",
        ),
        (
            spread(topologyKey="zone name"),
            "topologySpreadConstraints[0].topologyKey",
            ERROR,
            "at most 63 letters",
        ),
        (spread(topologyKey="/zone"), "topologySpreadConstraints[0].topologyKey", ERROR, "prefix"),
        (spread(labelSelector={}), "topologySpreadConstraints[0].labelSelector", ERROR, "unknown"),
        (
            {
                "name": "p",
                "topologySpreadConstraints": [
                    {"topologyKey": ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY},
                    {"topologyKey": HOSTNAME},
                    {"topologyKey": ZONE, "maxSkew": 2},
                ],
            },
            "topologySpreadConstraints[2].topologyKey",
            ERROR,
            "already constrained by topologySpreadConstraints[0]",
        ),
        (
            {"name": "p", "topologySpreadConstraints": {}},
            "topologySpreadConstraints",
            ERROR,
            "list",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "Hard", "key": "gpu"}},
            "nodeAffinityPreset.type",
            ERROR,
            "hard or soft, not 'Hard'",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "hard", "key": "a b"}},
            "nodeAffinityPreset.key",
            ERROR,
            "at most 63",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "soft"}},
            "nodeAffinityPreset.key",
            ERROR,
            "label key",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "soft", "key": "gpu", "values": "t4"}},
            "nodeAffinityPreset.values",
            ERROR,
            "list",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "soft", "key": "gpu", "values": [4]}},
            "nodeAffinityPreset.values[0]",
            ERROR,
            "string",
        ),
        (
            {"name": "p", "nodeAffinityPreset": {"type": "soft", "key": "gpu", "values": ["a b"]}},
            "nodeAffinityPreset.values[0]",
            WARNING,
            "no node can match it",
        ),
        ({"name": ""}, "name", ERROR, "non-empty"),
        ({"name": "spread zones"}, "name", ERROR, "label value"),
        ({"name": "p", "affinity": {}}, "affinity", ERROR, "unknown field"),
        ([], "", ERROR, "must be a mapping"),
    ],
)
def test_field_findings(raw: Any, path: str, severity: str, message: str) -> None:
    preset, findings = parse_preset(raw)
    assert [(f.path, f.severity) for f in findings] == [(path, severity)], findings
    assert message in findings[0].message
    assert (preset is None) == (severity == ERROR)


def test_a_sound_preset_parses_and_round_trips() -> None:
    raw = {
        "name": "gpu-spread",
        "topologySpreadConstraints": [
            {"maxSkew": 2, "topologyKey": ZONE, "whenUnsatisfiable": DO_NOT_SCHEDULE},
            {"maxSkew": 1, "topologyKey": HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY},
        ],
        "nodeAffinityPreset": {"type": "soft", "key": "gpu", "values": []},
    }
    preset, findings = parse_preset(raw)
    assert findings == []
    assert preset == Preset(
        "gpu-spread",
        (SpreadConstraint(2, ZONE, DO_NOT_SCHEDULE), SpreadConstraint(1, HOSTNAME)),
        NodeAffinityPreset(SOFT, "gpu"),
    )
    assert preset.to_dict() == raw
    assert preset.affinity is not None and preset.affinity.operator == "Exists"
    # Defaults: maxSkew 1, DoNotSchedule (as in a Pod spec); no constraints at all is fine.
    assert parse_preset({"name": "x", "topologySpreadConstraints": [{"topologyKey": ZONE}]})[
        0
    ] == Preset("x", (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),))
    assert parse_preset({"name": "x"}) == (Preset("x"), [])


def test_preset_names_must_be_unique_in_a_list() -> None:
    presets, findings = parse_presets([{"name": "a"}, {"name": "b"}, {"name": "a"}])
    assert [p.name for p in presets] == ["a", "b"]
    assert [(f.path, f.message) for f in findings] == [
        ("presets[2].name", "'a' is also presets[0]")
    ]


# -- against the nodes ---------------------------------------------------------------------------
def affinity(kind: str, key: str, *values: str) -> Preset:
    return Preset("p", affinity=NodeAffinityPreset(kind, key, values))


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (affinity(HARD, "gpu", "a100"), []),
        (affinity(HARD, "gpu"), []),  # no values: any node that has the key
        # n3 carries gpu=t4 but is cordoned: no schedulable node matches.
        (affinity(HARD, "gpu", "t4"), [("nodeAffinityPreset", ERROR, "n3 match but cannot")]),
        (affinity(SOFT, "gpu", "t4"), [("nodeAffinityPreset", WARNING, "has no effect")]),
        (affinity(HARD, "ssd"), [("nodeAffinityPreset", ERROR, "no node matches at all")]),
        (
            Preset("p", (SpreadConstraint(1, "rack", DO_NOT_SCHEDULE),)),
            [("topologySpreadConstraints[0].topologyKey", ERROR, "no node carries rack")],
        ),
        (
            Preset("p", (SpreadConstraint(1, "rack", SCHEDULE_ANYWAY),)),
            [("topologySpreadConstraints[0].topologyKey", WARNING, "no node carries rack")],
        ),
        (Preset("p", (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),)), []),
        # The hard affinity leaves only n2 (no gpu label would match "rack" either way), and
        # gpu only exists on n1/n3: a spread on gpu among nodes without gpu is unsatisfiable.
        (
            Preset(
                "p",
                (SpreadConstraint(1, "gpu", DO_NOT_SCHEDULE),),
                NodeAffinityPreset(HARD, HOSTNAME, ("n2",)),
            ),
            [("topologySpreadConstraints[0].topologyKey", ERROR, "no eligible node carries gpu")],
        ),
    ],
)
def test_node_findings(preset: Preset, expected: list[tuple[str, str, str]]) -> None:
    findings = check_against_nodes(preset, NODES)
    assert [(f.path, f.severity) for f in findings] == [(p, s) for p, s, _ in expected]
    for finding, (_, _, message) in zip(findings, expected, strict=True):
        assert message in finding.message


def test_unready_and_tainted_nodes_do_not_count_as_matching() -> None:
    nodes = [
        node("n1", gpu="x", ready=False),
        {**node("n2", gpu="x"), "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}},
    ]
    [finding] = check_against_nodes(affinity(HARD, "gpu", "x"), nodes)
    assert finding.severity == ERROR and "n1, n2 match but cannot take VMs now" in finding.message
    assert check_against_nodes(affinity(HARD, "gpu", "x"), [node("n3", gpu="x")]) == []


# -- translation (machine-controller's testdata, fact sheet §4.4/§4.5) ---------------------------
MD_SPREAD = {"matchLabels": {"md": "md-name"}}

# pkg/cloudprovider/provider/kubevirt/testdata/affinity.yaml, spec.template.spec
AFFINITY_YAML = """
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: key1
              operator: In
              values: [foo1, foo2]
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector: {matchLabels: {md: md-name}}
"""
# .../testdata/affinity-no-values.yaml: the same, Exists and no values
AFFINITY_NO_VALUES_YAML = """
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: key1, operator: Exists}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector: {matchLabels: {md: md-name}}
"""
# .../testdata/topologyspreadconstraints.yaml: no affinity preset, two constraints
SPREAD_YAML = """
affinity: {}
topologySpreadConstraints:
  - {maxSkew: 2, topologyKey: key1, whenUnsatisfiable: DoNotSchedule,
     labelSelector: {matchLabels: {md: md-name}}}
  - {maxSkew: 3, topologyKey: key2, whenUnsatisfiable: ScheduleAnyway,
     labelSelector: {matchLabels: {md: md-name}}}
"""


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (affinity(HARD, "key1", "foo1", "foo2"), AFFINITY_YAML),
        (affinity(HARD, "key1"), AFFINITY_NO_VALUES_YAML),
        (
            Preset(
                "p",
                (
                    SpreadConstraint(2, "key1", DO_NOT_SCHEDULE),
                    SpreadConstraint(3, "key2", SCHEDULE_ANYWAY),
                ),
            ),
            SPREAD_YAML,
        ),
    ],
)
def test_vm_translation_matches_machine_controller_testdata(preset: Preset, expected: str) -> None:
    assert vm_scheduling(preset, md_selector("md-name")) == yaml.safe_load(expected)


def test_soft_affinity_is_preferred_with_weight_one() -> None:
    assert vm_affinity(affinity(SOFT, "gpu", "t4")) == {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "preference": {
                        "matchExpressions": [{"key": "gpu", "operator": "In", "values": ["t4"]}]
                    },
                }
            ]
        }
    }
    assert vm_affinity(Preset("p")) == {}


def test_machine_deployment_fragment_is_cloud_provider_spec_spelling() -> None:
    preset = Preset(
        "p", (SpreadConstraint(2, ZONE, DO_NOT_SCHEDULE),), NodeAffinityPreset(SOFT, "gpu")
    )
    fragment = machine_deployment_fragment(preset)
    assert fragment == {
        "affinity": {"nodeAffinityPreset": {"type": "soft", "key": "gpu", "values": []}},
        # maxSkew is a ConfigVarString in cloudProviderSpec: a string, not a number.
        "topologySpreadConstraints": [
            {"maxSkew": "2", "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
        ],
    }
    assert preset_from_cloud_provider_spec("p", fragment) == preset
    empty = machine_deployment_fragment(Preset("none"))
    assert empty == {
        "affinity": {"nodeAffinityPreset": {"type": "", "key": "", "values": []}},
        "topologySpreadConstraints": [],
    }
    # ... which machine-controller turns into its default spread.
    assert vm_topology_spread(Preset("none"), md_selector("w")) == [
        {
            "maxSkew": 1,
            "topologyKey": HOSTNAME,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"md": "w"}},
        }
    ]
    # machine-controller reads the type case-insensitively.
    upper = {"affinity": {"nodeAffinityPreset": {"type": "HARD", "key": "k", "values": ["v"]}}}
    assert preset_from_cloud_provider_spec("x", upper).affinity == NodeAffinityPreset(
        HARD, "k", ("v",)
    )


def test_vm_group_follows_machine_deployments_or_labels_by_preset() -> None:
    preset = Preset("spread")
    assert vm_group(preset, "ns", [{"md": "w"}, {"md": "w", "x": "y"}]).selector == md_selector("w")
    mixed = vm_group(preset, "ns", [{"md": "w"}, {"app": "bastion"}])
    assert mixed.selector == {"matchLabels": {PRESET_LABEL: "spread"}}
    assert mixed.label == (PRESET_LABEL, "spread")


# -- the label catalogue ---------------------------------------------------------------------------
def test_label_catalogue_counts_values() -> None:
    catalogue = label_catalogue(NODES)
    assert catalogue[ZONE] == {"zone-a": 2, "zone-b": 1}
    assert catalogue["gpu"] == {"a100": 1, "t4": 1}
    assert list(catalogue) == sorted(catalogue)


@pytest.fixture
async def conn(sim: SimHandle) -> AsyncIterator[Connection]:
    async with await Connection.open(str(sim.kubeconfig), sim.context) as connection:
        yield connection


async def test_label_catalogue_of_the_simulated_nodes(conn: Connection) -> None:
    nodes = (await conn.get_json(kinds.NODES.path()))["items"]
    catalogue = label_catalogue(nodes)
    assert catalogue[ZONE] == {"zone-a": 3, "zone-b": 2}
    assert catalogue[HOSTNAME] == {
        n: 1 for n in ["kv-cp-1", *(f"kv-node-{i}" for i in range(1, 5))]
    }
    assert catalogue["node-role.kubernetes.io/worker"] == {"": 4}
    assert catalogue["node-role.kubernetes.io/control-plane"] == {"": 1}
    assert catalogue["topology.kubernetes.io/region"] == {"eu-central": 5}
    # The control-plane node is tainted and has no KVM: a hard pin to it cannot work.
    pin = affinity(HARD, "node-role.kubernetes.io/control-plane")
    [finding] = check_against_nodes(pin, nodes)
    assert finding.severity == ERROR and "kv-cp-1 match but cannot take VMs" in finding.message
    assert check_against_nodes(affinity(HARD, "node-role.kubernetes.io/worker"), nodes) == []


# -- the config file ---------------------------------------------------------------------------
CONFIG = """\
# kvtui settings
theme: nord   # dark
presets:
  - name: zones
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}
    # old comment inside the section
# about the next setting
refresh_hz: 4
"""


def test_presets_round_trip_through_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    path.chmod(0o640)
    config = load_config(path)
    assert config.presets == [Preset("zones", (SpreadConstraint(1, ZONE, DO_NOT_SCHEDULE),))]
    assert (config.theme, config.refresh_hz) == ("nord", 4.0)

    new = [
        Preset("gpu", affinity=NodeAffinityPreset(SOFT, "gpu", ("t4",))),
        Preset("zones", (SpreadConstraint(2, ZONE, SCHEDULE_ANYWAY),)),
    ]
    save_presets(new, path)
    text = path.read_text()
    assert load_config(path) == Config(theme="nord", refresh_hz=4.0, presets=new)
    # Only the section changed: every other line, comments included, is as it was.
    assert text.startswith("# kvtui settings\ntheme: nord   # dark\npresets:\n")
    assert text.endswith("# about the next setting\nrefresh_hz: 4\n")
    assert "old comment" not in text
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary file left

    save_presets([], path)
    assert load_config(path).presets == []
    assert path.read_text().endswith("presets: []\n# about the next setting\nrefresh_hz: 4\n")


def test_saving_presets_appends_or_creates(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("theme: nord")  # no final newline
    preset = Preset("p", affinity=NodeAffinityPreset(HARD, "gpu"))
    save_presets([preset], path)
    assert path.read_text().startswith("theme: nord\npresets:\n")
    assert load_config(path).presets == [preset]

    fresh = tmp_path / "sub" / "config.yaml"
    save_presets([preset], fresh)
    assert load_config(fresh) == Config(presets=[preset])


def test_saving_into_a_broken_file_is_refused_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("theme: [nord\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: cannot save presets"):
        save_presets([Preset("p")], path)
    assert path.read_text() == "theme: [nord\n"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("presets: zones\n", r"config.yaml:2: presets: must be a list of presets"),
        (
            "presets:\n  - name: z\n    topologySpreadConstraints:\n      - topologyKey: zone\n"
            "        maxSkew: 0\n",
            r"config.yaml:6: presets\[0\].topologySpreadConstraints\[0\].maxSkew: must be an "
            r"integer ≥ 1, not 0",
        ),
        (
            "presets:\n  - name: z\n  - name: y\n    nodeAffinityPreset: {type: firm, key: k}\n",
            r"config.yaml:5: presets\[1\].nodeAffinityPreset.type: must be hard or soft",
        ),
        (
            "presets:\n  - name: z\n  - name: z\n",
            r"config.yaml:4: presets\[1\].name: 'z' is also presets\[0\]",
        ),
    ],
)
def test_a_bad_presets_section_names_the_line(tmp_path: Path, section: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("theme: nord\n" + section)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
