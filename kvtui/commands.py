"""What the headless subcommands (`kvtui drain`, `kvtui datacenter`) share: their error type,
asking on a terminal, and opening a session with one-line errors.

Kept free of `kvtui.cluster` imports at module level so `kvtui sim` and `--version` start
without loading the app (tests/test_layering.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any


class CommandError(Exception):
    """A one-line error and the exit code (2: usage, 1: the cluster said no)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def interactive() -> bool:
    return sys.stdin.isatty()


def ask(question: str) -> str:
    """The answer typed on the terminal, lower-cased; "" at end of input."""
    try:
        return input(question).strip().lower()
    except EOFError:
        return ""


async def confirmed(question: str, verb: str) -> bool:
    """The admin's yes on the terminal to `question` (a "[y/N]" one); any other answer
    prints "Nothing changed.". No terminal to ask on: CommandError (exit 2) naming --yes."""
    if not interactive():
        raise CommandError(f"no terminal to confirm on: pass --yes to {verb}", code=2)
    if await asyncio.to_thread(ask, question) in ("y", "yes"):
        return True
    print("Nothing changed.")
    return False


def refuse_unless_writable(session: Any, hint: str = "") -> None:
    """A change goes ahead only on a writable context whose audit log can take it; else a
    CommandError (exit 1) with nothing changed. `hint` says where the change was shown."""
    if session.read_only:
        raise CommandError(
            f"context {session.context} is read-only: nothing may change{hint}", code=1
        )
    problem = session.audit.problem()
    if problem:
        raise CommandError(f"{problem}; nothing was changed", code=1)


async def open_session(
    kubeconfig: str | None,
    context: str | None,
    *,
    read_only: bool,
    watch: Sequence[Any] = (),
    what: str = "",
) -> Any:
    """A `Session` on `context` watching `watch`, synced; any failure is a CommandError."""
    from kvtui.cluster.config import ConfigError, load_config
    from kvtui.cluster.errors import KubeconfigError, KubeError
    from kvtui.cluster.session import Session

    try:
        config = load_config()
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    try:
        session = await Session.open(
            kubeconfig, context, config=config, read_only=read_only, watch=watch
        )
    except KubeconfigError as exc:
        raise CommandError(str(exc)) from None
    except KubeError as exc:
        raise CommandError(f"cannot connect{what}: {exc}") from None
    if watch and not await session.cache.wait_synced(60):
        await session.close()
        raise CommandError("the cluster's objects did not load within 60s")
    return session
