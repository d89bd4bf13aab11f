"""The drain journal: one private file per (context, node), written whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kvtui.cluster.drain_journal import RUNNING, DrainJournal, default_journal_dir

PLAN = {"node": "kv-node-1", "pods": [{"namespace": "ns", "pod": "virt-launcher-a", "vmi": "a"}]}
OPTIONS = {"timeout": 120.0, "dry_run": False}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def journal(tmp_path: Path) -> DrainJournal:
    return DrainJournal(tmp_path / "state" / "drains")


def test_the_default_directory_is_in_the_user_state_dir() -> None:
    state = Path(os.environ["XDG_STATE_HOME"])  # set per test by conftest
    assert default_journal_dir() == state / "kvtui" / "drains"
    assert DrainJournal().directory == state / "kvtui" / "drains"


def test_start_then_load(journal: DrainJournal) -> None:
    started = journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    assert started.status == RUNNING and started.verdict == ""
    loaded = journal.load("prod", "kv-node-1")
    assert loaded == started
    assert loaded.plan == PLAN and loaded.options == OPTIONS
    assert journal.load("prod", "kv-node-2") is None
    assert journal.load("staging", "kv-node-1") is None


def test_finish_records_the_verdict(journal: DrainJournal) -> None:
    entry = journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    journal.finish(entry, "drained", "kv-node-1 drained in 42s: 2 migrated")
    loaded = journal.load("prod", "kv-node-1")
    assert loaded.status == "drained"
    assert loaded.verdict == "kv-node-1 drained in 42s: 2 migrated"
    assert loaded.started == entry.started and loaded.plan == PLAN
    assert journal.running("prod") == []


def test_running_lists_unfinished_drains_of_one_context(journal: DrainJournal) -> None:
    assert journal.running("prod") == []  # no directory yet
    a = journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    b = journal.start("prod", "kv-node-2", OPTIONS, PLAN)
    journal.start("staging", "kv-node-1", OPTIONS, PLAN)
    done = journal.start("prod", "kv-node-3", OPTIONS, PLAN)
    journal.finish(done, "timed out", "kv-node-3 timed out after 10s")
    assert journal.running("prod") == [a, b]
    assert [e.context for e in journal.running("staging")] == ["staging"]
    assert journal.running("other") == []


def test_files_are_private(journal: DrainJournal) -> None:
    entry = journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    [path] = journal.directory.iterdir()
    assert mode(journal.directory) == 0o700
    assert mode(path) == 0o600
    journal.finish(entry, "drained", "done")  # the rewrite keeps them private
    assert mode(path) == 0o600


def test_names_from_the_kubeconfig_stay_inside_the_directory(journal: DrainJournal) -> None:
    context = "arn:aws:eks:eu-west-1:123:cluster/../../infra"
    journal.start(context, "../kv-node-1", OPTIONS, PLAN)
    [path] = journal.directory.iterdir()
    assert path.parent == journal.directory and path.suffix == ".json"
    assert journal.load(context, "../kv-node-1").context == context


def test_contexts_that_differ_only_in_punctuation_keep_their_own_drains(
    journal: DrainJournal,
) -> None:
    journal.start("infra:eu", "kv-node-1", OPTIONS, {"node": "kv-node-1", "from": "colon"})
    journal.start("infra_eu", "kv-node-1", OPTIONS, {"node": "kv-node-1", "from": "underscore"})
    assert journal.load("infra:eu", "kv-node-1").plan["from"] == "colon"
    assert journal.load("infra_eu", "kv-node-1").plan["from"] == "underscore"
    assert [e.context for e in journal.running("infra:eu")] == ["infra:eu"]


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b"null", b'"running"', b'{"context": "prod"}'],
    ids=["empty", "broken", "list", "null", "string", "missing-fields"],
)
def test_a_corrupt_file_is_ignored(journal: DrainJournal, content: bytes) -> None:
    journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    [path] = journal.directory.iterdir()
    path.write_bytes(content)
    journal.start("prod", "kv-node-2", OPTIONS, PLAN)
    assert journal.load("prod", "kv-node-1") is None
    assert [e.node for e in journal.running("prod")] == ["kv-node-2"]


def test_an_unreadable_file_is_ignored(journal: DrainJournal) -> None:
    journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    [path] = journal.directory.iterdir()
    path.unlink()
    path.mkdir()  # a directory where the file should be cannot be read, even by root
    journal.start("prod", "kv-node-2", OPTIONS, PLAN)
    assert journal.load("prod", "kv-node-1") is None
    assert [e.node for e in journal.running("prod")] == ["kv-node-2"]


def test_writes_are_atomic(journal: DrainJournal, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = journal.start("prod", "kv-node-1", OPTIONS, PLAN)
    journal.finish(entry, "drained", "done")
    assert [p.suffix for p in journal.directory.iterdir()] == [".json"]

    entry.options = {"not serialisable": object()}
    with pytest.raises(TypeError):
        journal.finish(entry, "stopped", "never written")
    entry.options = OPTIONS

    def no_rename(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", no_rename)
    with pytest.raises(OSError):
        journal.finish(entry, "stopped", "never written either")
    monkeypatch.undo()

    loaded = journal.load("prod", "kv-node-1")
    assert loaded.status == "drained" and loaded.verdict == "done"
    assert [p.suffix for p in journal.directory.iterdir()] == [".json"]
