"""The three wings meet only at the Kubernetes API: check it in fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module", ["kvtui.sim.runner", "kvtui.cli"])
def test_simulator_and_cli_start_without_the_app_or_textual(module: str) -> None:
    loaded = _modules_after_import(module)
    assert not {m for m in loaded if m.startswith(("kvtui.cluster", "kvtui.ui"))}
    assert "textual" not in loaded


def test_simulator_imports_nothing_from_the_app() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "kvtui" / "sim"
    offenders = [
        str(path)
        for path in root.rglob("*.py")
        if any(
            line.strip().startswith(
                ("from kvtui.cluster", "import kvtui.cluster", "from kvtui.ui", "import kvtui.ui")
            )
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
