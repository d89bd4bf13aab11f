"""The settings file: defaults, where it lives, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvtui.cluster.config import Config, ConfigError, config_path, is_read_only, load_config


def test_missing_file_means_defaults(tmp_path: Path):
    config = load_config(tmp_path / "nope.yaml")
    assert config == Config()
    assert (config.refresh_hz, config.theme, config.arm_minutes) == (10.0, "textual-dark", 10.0)
    assert (config.read_only_contexts, config.columns) == ([], {})


def test_config_path_follows_xdg_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("KVTUI_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "kvtui" / "config.yaml"
    monkeypatch.setenv("KVTUI_CONFIG", str(tmp_path / "elsewhere.yaml"))
    assert config_path() == tmp_path / "elsewhere.yaml"


def test_loads_every_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "read_only_contexts: [prod-*, audit]\n"
        "refresh_hz: 4\n"
        "theme: nord\n"
        "columns:\n"
        "  nodes: [name, status, vms]\n"
        "  vms: [namespace, name]\n"
        "arm_minutes: 2.5\n"
        "drain_timeout_minutes: 5\n"
        "stuck_seconds: 20\n"
    )
    monkeypatch.setenv("KVTUI_CONFIG", str(path))
    config = load_config()
    assert config == Config(
        read_only_contexts=["prod-*", "audit"],
        refresh_hz=4.0,
        theme="nord",
        columns={"nodes": ["name", "status", "vms"], "vms": ["namespace", "name"]},
        arm_minutes=2.5,
        drain_timeout_minutes=5.0,
        stuck_seconds=20.0,
    )
    assert isinstance(config.refresh_hz, float)


def test_read_only_contexts_match_names_and_patterns():
    config = Config(read_only_contexts=["prod-*", "audit"])
    assert is_read_only(config, "prod-eu")
    assert is_read_only(config, "audit")
    assert not is_read_only(config, "audit-2")
    assert not is_read_only(config, "staging")
    assert not is_read_only(Config(), "prod-eu")


def test_empty_file_means_defaults(tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text("# nothing yet\n")
    assert load_config(path) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("theme: nord\nrefresh_hz: [1\n", r"config.yaml:3: not valid YAML"),
        ("theme: nord\nrefresh_hz: fast\n", r"config.yaml:2: refresh_hz must be a number"),
        ("refresh_hz: true\n", r"config.yaml:1: refresh_hz must be a number"),
        ("refresh_hz: 0\n", r"config.yaml:1: refresh_hz must be a number in \(0, 100\]"),
        ("\n\nread_only_contexts: prod\n", r"config.yaml:3: read_only_contexts must be a list"),
        ("columns:\n  nodes: name\n", r"config.yaml:1: columns must map pane names"),
        ("arm_minutes: -1\n", r"config.yaml:1: arm_minutes must be a number of minutes"),
        ("stuck_seconds: 0\n", r"config.yaml:1: stuck_seconds must be a number of seconds"),
        ("theme: nord\nthem: dark\n", r"config.yaml:2: unknown setting 'them' \(known: "),
        ("- a list\n", r"config.yaml:1: expected a mapping"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(caught.value).startswith(str(path))


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory
