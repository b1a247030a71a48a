"""Run a program in its own process group: live output lines, a time limit, cancellation, no orphans.

:func:`run_process` starts the command with ``start_new_session=True`` (so its pid
is also its process-group id), reads stdout and stderr from one pipe without
threads, hands every line to a callback as soon as it is printed, and stops the
*whole group* (the program and everything it started) with SIGTERM, then SIGKILL,
when the time limit passes or the caller asks it to stop. Members of the group
still alive when the program exits are killed too.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessOutcome", "run_process"]


@dataclass(frozen=True)
class ProcessOutcome:
    """How a run ended: exit status (negative: killed by that signal), and whether we stopped it."""

    returncode: int | None
    timed_out: bool
    cancelled: bool


def _kill_group(proc: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM the process group, wait ``grace_s``, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    _reap_group(proc)


def _reap_group(proc: subprocess.Popen[bytes]) -> None:
    # Linux keeps a pid number reserved while a process group of that id has members,
    # so this never signals an unrelated process even after the leader was reaped.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)


def _split_lines(buffer: bytearray, *, limit: int = 65536) -> list[str]:
    lines: list[str] = []
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > limit:  # an endless line: cut it
                lines.append(buffer[:limit].decode("utf-8", errors="replace"))
                del buffer[:limit]
            return lines
        lines.append(buffer[:end].decode("utf-8", errors="replace"))
        del buffer[:end + 1]


def run_process(cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                on_line: Callable[[str], None], should_stop: Callable[[], bool] | None = None,
                on_process: Callable[[subprocess.Popen[bytes]], None] | None = None,
                kill_grace_s: float = 2.0, poll_s: float = 0.1) -> ProcessOutcome:
    """Run ``cmd`` in a new session, feed each output line to ``on_line``, enforce the limits.

    stdout and stderr share one pipe, read without threads through a selector,
    so a line is seen as soon as it is printed. Past ``timeout_s`` (or when
    ``should_stop()`` turns true) the whole process group is terminated, then
    killed. Leftover members of the group are killed when the leader exits, too.

    Parameters
    ----------
    cmd : Sequence[str]
        Program and arguments (no shell).
    cwd : pathlib.Path
        Working directory.
    env : Mapping[str, str]
        The whole environment of the program.
    timeout_s : float
        Wall-clock limit in seconds (``math.inf``: none).
    on_line : callable
        ``on_line(text)`` for each output line (without its newline), in order.
    should_stop : callable, optional
        Polled every ``poll_s``; ``True`` stops the group.
    on_process : callable, optional
        Receives the :class:`subprocess.Popen` right after it starts.
    kill_grace_s : float
        Seconds between SIGTERM and SIGKILL.
    poll_s : float
        Longest wait for output before checking the limits again, in seconds.

    Returns
    -------
    ProcessOutcome

    Raises
    ------
    OSError
        When the program cannot be started (``FileNotFoundError`` when it does not exist).
    """
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout_s
    timed_out = cancelled = False
    buffer = bytearray()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    try:
        if on_process is not None:
            on_process(proc)
        eof = False
        drain_until: float | None = None
        while not eof:
            for _key, _ in selector.select(timeout=poll_s):
                chunk = _read(fd)
                if chunk is None:
                    continue
                if not chunk:
                    eof = True
                    break
                buffer.extend(chunk)
                for line in _split_lines(buffer):
                    on_line(line)
            if eof:
                break
            now = time.monotonic()
            if proc.poll() is not None:
                # The leader is gone; a grandchild may still hold the pipe open. Drain briefly, then stop.
                drain_until = drain_until or now + 1.0
                if now >= drain_until:
                    break
                continue
            if now >= deadline:
                timed_out = True
            elif should_stop is not None and should_stop():
                cancelled = True
            if timed_out or cancelled:
                _kill_group(proc, grace_s=kill_grace_s)
                break
    finally:
        selector.close()
        if buffer:
            on_line(buffer.decode("utf-8", errors="replace"))
        if proc.poll() is None:
            _kill_group(proc, grace_s=kill_grace_s)
        _reap_group(proc)
        proc.stdout.close()
    return ProcessOutcome(returncode=proc.returncode, timed_out=timed_out, cancelled=cancelled)


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""
