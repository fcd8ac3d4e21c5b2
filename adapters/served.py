"""A served process: a fresh interpreter that answers messages over a pipe, and the handle
that starts it, talks to it and kills it.

Every process the suite starts speaks this one protocol: the check workers
(``conformance/running/``) and the Keras backend helpers (``adapters/keras_backends.py``).
In the child, ``handler = factory(*args)`` runs once (set-up that must precede a
framework's import goes there), then each message is answered with every reply that
``handler(message)`` yields (a batch of checks is answered check by check, a helper call
once); ``None`` or the pipe's end stops it, after ``handler.close()`` if it has one.

Processes start with ``spawn`` (fresh interpreters: CUDA and the frameworks' thread pools do
not survive ``fork``). Killing takes the process group (when the process leads its own) and
every descendant found in /proc, so a child that moved to a new session
(``start_new_session=True``) dies with it. Linux only for the descendants (``/proc``);
elsewhere only the process itself and its group are killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import signal
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
_PPID = re.compile(r"^PPid:\s+(\d+)", re.MULTILINE)
_JOIN_S = 30.0

Handler = Callable[[Any], Iterable[Any]]


class ServedProcessError(RuntimeError):
    """The served process did not answer in time (and was killed), or died."""


def process_table() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, its /proc status text)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in _PROC.glob("[0-9]*"):
        try:
            status = (entry / "status").read_text(encoding="ascii")
        except OSError:  # the process ended between listing and reading
            continue
        ppid = _PPID.search(status)
        if ppid:
            table[int(entry.name)] = (int(ppid.group(1)), status)
    return table


def descends_from(pid: int, root: int, table: dict[int, tuple[int, str]]) -> bool:
    """Whether ``pid`` is ``root`` or one of its descendants in ``table``."""
    ancestor = pid
    while ancestor not in (root, 0, 1) and ancestor in table:
        ancestor = table[ancestor][0]
    return ancestor == root


def descendants(root: int) -> list[int]:
    """Every live process descended from ``root`` (children in new sessions and process
    groups included; not ``root`` itself), read from /proc."""
    table = process_table()
    return [pid for pid in table if pid != root and descends_from(pid, root, table)]


def describe_exit(exitcode: int | None) -> str:
    """How a process ended, for a message: the signal's name and meaning, or the status."""
    if exitcode is None:
        return "it stopped answering"
    if exitcode < 0:
        try:
            number = signal.Signals(-exitcode)
        except ValueError:
            return f"it was killed by signal {-exitcode}"
        meaning = signal.strsignal(number) or ""
        note = " (out of memory, or killed from outside)" if number is signal.SIGKILL else ""
        return f"it was killed by {number.name} ({meaning}){note}"
    return f"it exited with status {exitcode}"


def _serve(
    conn: Connection, factory: Callable[..., Handler], args: tuple[Any, ...], own_group: bool
) -> None:
    if own_group:  # killed with its children; a terminal's Ctrl-C reaches only its starter
        os.setpgid(0, 0)
    handler = factory(*args)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the process that started it is gone
            break
        if message is None:
            break
        for reply in handler(message):
            conn.send(reply)
    close = getattr(handler, "close", None)
    if close is not None:
        close()


class ServedProcess:
    """The handle on one served process. ``name`` says what it is in messages ("the Keras
    jax helper"); ``own_group`` makes it lead its own process group; ``daemon`` processes
    are killed when their starter exits, but may not start processes of their own."""

    def __init__(
        self,
        name: str,
        factory: Callable[..., Handler],
        args: tuple[Any, ...] = (),
        *,
        own_group: bool = False,
        daemon: bool = True,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.name, self.own_group = name, own_group
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, factory, args, own_group), daemon=daemon, name=name
        )
        self.process.start()
        child.close()  # the process's death then reads as EOF here

    def send(self, message: Any) -> None:
        """OSError when the process is gone."""
        self.conn.send(message)

    def receive(self) -> Any:
        """The next reply; EOFError/OSError when the process died."""
        return self.conn.recv()

    def request(self, message: Any, timeout: float) -> Any:
        """Send ``message`` and return its one reply. A process that does not answer in
        ``timeout`` seconds is killed, one that died is reaped; both raise
        ``ServedProcessError``, and the handle is then spent."""
        try:
            self.send(message)
            if not self.conn.poll(timeout):
                self.kill()
                raise ServedProcessError(
                    f"{self.name} did not answer in {timeout:g} s; it was killed"
                )
            return self.receive()
        except (EOFError, OSError) as exc:
            how = self.died()
            raise ServedProcessError(f"{self.name} died ({type(exc).__name__}): {how}") from None

    def kill(self) -> str:
        """Kill the process and every process it started; how it had ended, if it had."""
        exitcode = self.process.exitcode
        pid = self.process.pid
        if pid is not None:
            tree = descendants(pid)
            if self.own_group:  # the group outlives its leader while members are left
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            for child in tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(timeout=_JOIN_S)
        self.conn.close()
        return describe_exit(exitcode)

    def died(self) -> str:
        """After EOF: how the process ended (waiting briefly for its exit status)."""
        self.process.join(timeout=5)
        exitcode = self.process.exitcode
        self.kill()  # what it started may outlive it
        return describe_exit(exitcode)

    def stop(self) -> None:
        """Ask the process to finish; kill it (and what it left running) if it does not."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=_JOIN_S)
        self.kill()
