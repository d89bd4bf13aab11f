"""Label and field selectors must accept, reject and match exactly what kube-apiserver does."""

from __future__ import annotations

import pytest

from kvtui.sim.selectors import (
    LabelSelector,
    SelectorError,
    label_selector_from_dict,
    node_selector_term_matches,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "cores": "8"}


# --------------------------------------------------------------------------- label selectors


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_selector_matches_everything(text: str) -> None:
    sel = parse_label_selector(text)
    assert sel.empty
    assert sel.matches({})
    assert sel.matches(None)
    assert sel.matches(LABELS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches when the key is absent
        ("missing=x", False),
        ("app in (web,db)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),  # notin matches when the key is absent
        ("missing in (web)", False),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=frontend", True),
        ("app=web,tier=backend", False),
        ("app in (web, db),!missing,env", True),
        ("cores>4", True),
        ("cores>8", False),
        ("cores<9", True),
        ("app>1", False),  # non-numeric label value never satisfies gt/lt
        ("missing<5", False),
        ("app=", False),
        ("missing in ()", False),
    ],
)
def test_label_selector_matching(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_empty_value_equality() -> None:
    assert parse_label_selector("k=").matches({"k": ""})
    assert not parse_label_selector("k=").matches({})
    assert parse_label_selector("k in ()").matches({"k": ""})


@pytest.mark.parametrize(
    "text",
    [
        "  app  =  web  ",
        "app=web , tier in ( frontend , x )",
        "app=web,\ttier\nin (frontend)",
    ],
)
def test_whitespace_tolerant(text: str) -> None:
    assert parse_label_selector(text).matches(LABELS)


def test_commas_inside_parentheses_belong_to_the_set() -> None:
    sel = parse_label_selector("app in (db,web),env notin (dev,test)")
    assert [r.key for r in sel.requirements] == ["app", "env"]
    assert sel.requirements[0].values == ("db", "web")
    assert sel.matches(LABELS)


def test_in_and_notin_are_plain_words_in_value_position() -> None:
    sel = parse_label_selector("in=notin,x in (in, notin)")
    assert sel.matches({"in": "notin", "x": "in"})
    assert not sel.matches({"in": "notin", "x": "out"})


@pytest.mark.parametrize(
    ("text", "values"),
    [("k in (,a)", ("", "a")), ("k in (a,,b)", ("", "a", "b")), ("k in (a,)", ("", "a"))],
)
def test_empty_members_in_sets(text: str, values: tuple[str, ...]) -> None:
    assert parse_label_selector(text).requirements[0].values == values


def test_requirements_are_sorted_and_stringify() -> None:
    sel = parse_label_selector("z=1,a in (c,b),!m,e,n>3")
    assert str(sel) == "a in (b,c),e,!m,n>3,z=1"
    assert parse_label_selector(str(sel)) == sel


def test_prefixed_keys() -> None:
    sel = parse_label_selector("kubevirt.io/domain=vm1,node-role.kubernetes.io/worker")
    assert sel.matches({"kubevirt.io/domain": "vm1", "node-role.kubernetes.io/worker": ""})
    assert not sel.matches({"kubevirt.io/domain": "vm1"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a in (b", "unable to parse requirement"),
        ("a b", "expected: in, notin, =, ==, !=, gt, lt"),
        ("a notin b", "expected: '('"),
        ("a in (b c)", "expected: ',' or ')'"),
        ("!a=b", "expected: ',' or 'end of string'"),
        ("a=b,", "identifier after ','"),
        (",a", "expected: !, identifier, or 'end of string'"),
        ("a=b c", "expected: ',' or 'end of string'"),
        ("a===b", "expected: identifier"),
        ("a=(b)", "expected: identifier"),
        ("=b", "expected: !, identifier"),
        ("a/b/c=x", "qualified name"),
        ("/a=x", "prefix part must be non-empty"),
        ("Example.com/a=x", "prefix part"),
        ("a/=x", "name part must be non-empty"),
        ("-a=x", "name part must consist"),
        ("a" * 64 + "=x", "no more than 63 characters"),
        ("a=" + "x" * 64, "no more than 63 characters"),
        ("a=-x", "a valid label"),
        ("a=x_", "a valid label"),
        ("a in (ok,bad!)", "unable to parse requirement"),
        ("a>b", "must be an integer"),
        ("a>-1", "a valid label"),  # the integer still has to be a valid label value
        ("a>", "must be an integer"),
    ],
)
def test_invalid_label_selectors(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert fragment in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_label_selector_exact() -> None:
    sel = parse_label_selector("app=web,tier in (frontend),env in (a,b),x!=y")
    assert sel.exact("app") == "web"
    assert sel.exact("tier") == "frontend"
    assert sel.exact("env") is None
    assert sel.exact("x") is None
    assert sel.exact("missing") is None


# --------------------------------------------------------------------------- structured form


def test_nil_structured_selector_matches_nothing_by_default() -> None:
    assert not label_selector_from_dict(None).matches(LABELS)
    assert not label_selector_from_dict(None).matches({})
    assert not label_selector_from_dict(None).empty
    assert label_selector_from_dict(None, nil_matches_all=True).matches(LABELS)


@pytest.mark.parametrize("sel", [{}, {"matchLabels": {}}, {"matchExpressions": []}])
def test_empty_structured_selector_matches_everything(sel: dict) -> None:
    result = label_selector_from_dict(sel)
    assert result.empty
    assert result.matches(LABELS)
    assert result.matches(None)


def test_structured_selector() -> None:
    sel = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "cores", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert sel.matches(LABELS)
    assert not sel.matches({**LABELS, "legacy": "yes"})
    assert not sel.matches({**LABELS, "env": "dev"})
    assert not sel.matches({k: v for k, v in LABELS.items() if k != "cores"})
    assert isinstance(sel, LabelSelector)


@pytest.mark.parametrize(
    ("sel", "fragment"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "not a valid"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "empty"),
        ({"matchLabels": {"bad key": "x"}}, "Invalid value"),
        ({"matchLabels": {"a": "bad value"}}, "Invalid value"),
        ({"matchExpressions": ["a"]}, "invalid"),
    ],
)
def test_invalid_structured_selector(sel: dict, fragment: str) -> None:
    with pytest.raises(SelectorError, match=fragment):
        label_selector_from_dict(sel)


# --------------------------------------------------------------------------- node selector terms

NODE_LABELS = {"kubernetes.io/hostname": "node-1", "zone": "a", "gpus": "4"}
NODE_FIELDS = {"metadata.name": "node-1"}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ({}, False),  # an empty term matches nothing
        ({"matchExpressions": [], "matchFields": []}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "ssd", "operator": "DoesNotExist"}]}, True),
        ({"matchExpressions": [{"key": "gpus", "operator": "Gt", "values": ["3"]}]}, True),
        ({"matchExpressions": [{"key": "gpus", "operator": "Gt", "values": ["4"]}]}, False),
        ({"matchExpressions": [{"key": "gpus", "operator": "Lt", "values": ["5"]}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["1"]}]}, False),
        (
            {
                "matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "gpus", "operator": "Lt", "values": ["2"]},
                ]
            },
            False,
        ),
        ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}, True),
        (
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]},
            False,
        ),
        (
            {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-2"]}]},
            True,
        ),
        (
            {
                "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
                "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}],
            },
            False,
        ),
        # invalid requirements make the term match nothing, as in the scheduler
        ({"matchExpressions": [{"key": "zone", "operator": "Bogus", "values": ["a"]}]}, False),
        ({"matchExpressions": [{"key": "gpus", "operator": "Gt", "values": ["x"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": []}]}, False),
        (
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a", "b"]}]},
            False,
        ),
        ({"matchFields": [{"key": "metadata.name", "operator": "Exists"}]}, False),
    ],
)
def test_node_selector_term(term: dict, expected: bool) -> None:
    assert node_selector_term_matches(term, NODE_LABELS, NODE_FIELDS) is expected


def test_node_selector_term_without_labels() -> None:
    term = {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}
    assert node_selector_term_matches(term, None, NODE_FIELDS)


# --------------------------------------------------------------------------- field selectors

POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}
POD = {
    "metadata": {"name": "virt-launcher-vm1-abcde", "namespace": "vms"},
    "spec": {"nodeName": "node-1"},
    "status": {"phase": "Running"},
}
NODE = {"metadata": {"name": "node-1"}, "spec": {}}
NODE_ONLY = {"metadata.name", "spec.unschedulable"}
EVENT_FIELDS = {
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "reason",
    "type",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("spec.nodeName=node-1", True),
        ("spec.nodeName==node-1", True),
        ("spec.nodeName!=node-1", False),
        ("spec.nodeName=node-2", False),
        ("status.phase!=Succeeded,status.phase!=Failed", True),
        ("metadata.namespace=vms,metadata.name=virt-launcher-vm1-abcde", True),
        ("metadata.namespace=vms,status.phase=Pending", False),
        ("spec.nodeName=", False),
        ("spec.nodeName=node-1,", True),  # empty trailing term is ignored
    ],
)
def test_field_selector_matching(text: str, expected: bool) -> None:
    assert parse_field_selector(text, POD_FIELDS).matches(POD) is expected


def test_missing_field_compares_as_empty_string() -> None:
    pending = {"metadata": {"name": "p", "namespace": "vms"}, "spec": {}, "status": {}}
    assert parse_field_selector("spec.nodeName=", POD_FIELDS).matches(pending)
    assert not parse_field_selector("spec.nodeName!=", POD_FIELDS).matches(pending)
    assert parse_field_selector("status.phase=", POD_FIELDS).matches({"spec": None})


def test_booleans_render_like_go_and_unschedulable_defaults_false() -> None:
    cordoned = {"metadata": {"name": "node-2"}, "spec": {"unschedulable": True}}
    sel = parse_field_selector("spec.unschedulable=true", NODE_ONLY)
    assert sel.matches(cordoned)
    assert not sel.matches(NODE)
    # Go renders the typed bool, so a node without the field is "false", not "".
    assert parse_field_selector("spec.unschedulable=false", NODE_ONLY).matches(NODE)
    assert parse_field_selector("spec.unschedulable!=true", NODE_ONLY).matches(NODE)


def test_event_fields() -> None:
    event = {
        "involvedObject": {"kind": "VirtualMachineInstance", "name": "vm1", "uid": "u-1"},
        "reason": "Started",
        "type": "Normal",
    }
    sel = parse_field_selector(
        "involvedObject.kind=VirtualMachineInstance,involvedObject.name=vm1,type!=Warning",
        EVENT_FIELDS,
    )
    assert sel.matches(event)
    assert parse_field_selector("involvedObject.namespace=", EVENT_FIELDS).matches(event)
    assert not parse_field_selector("involvedObject.uid=u-2", EVENT_FIELDS).matches(event)


def test_escaped_values() -> None:
    obj = {"reason": r"a,b=c\d"}
    sel = parse_field_selector(r"reason=a\,b\=c\\d", {"reason"})
    assert sel.terms[0].value == r"a,b=c\d"
    assert sel.matches(obj)
    assert parse_field_selector(str(sel), {"reason"}) == sel


def test_double_equals_value_starting_with_equals_needs_escape() -> None:
    assert parse_field_selector(r"reason==\=x", {"reason"}).matches({"reason": "=x"})
    with pytest.raises(SelectorError, match="unescaped character"):
        parse_field_selector("reason===x", {"reason"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("spec.host=node-1", "field label not supported: spec.host"),
        ("metadata.name = x", "field label not supported: metadata.name "),
        ("=x", "field label not supported: "),
        ("spec.nodeName", "can't understand 'spec.nodeName'"),
        ("spec.nodeName=a=b", "unescaped character"),
        (r"spec.nodeName=a\x", r"invalid escape sequence: \x"),
        ("spec.nodeName=a\\", "invalid escape sequence"),
        ("spec.nodeName<5", "can't understand"),
    ],
)
def test_invalid_field_selectors(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_field_selector(text, POD_FIELDS)
    assert fragment in str(exc.value)


def test_syntax_errors_win_over_unsupported_fields() -> None:
    with pytest.raises(SelectorError, match="can't understand"):
        parse_field_selector("aaa=1,zzz", POD_FIELDS)


def test_field_selector_exact() -> None:
    sel = parse_field_selector("status.phase!=Failed,spec.nodeName==node-1", POD_FIELDS)
    assert sel.exact("spec.nodeName") == "node-1"
    assert sel.exact("status.phase") is None
    assert sel.exact("metadata.name") is None
    assert parse_field_selector("", POD_FIELDS).empty
