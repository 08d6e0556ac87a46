"""Running the YoWASP tools (yosys, nextpnr) as subprocesses, with progress and clear errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

#: Lines of a failed tool's log quoted in :class:`ToolError`.
TAIL_LINES = 20
#: An error line of Yosys or nextpnr (``ERROR: ...``).
ERROR_LINE = re.compile(r"^\s*ERROR:")

INSTALL_HINT = "install the synthesis tools with: pip install 'nitro_hw[synth]'"


class ToolError(RuntimeError):
    """A synthesis tool failed: names the tool, its exit status, its log and the log's last lines."""

    def __init__(self, tool: str, returncode: int | None, log: Path | None, tail: Sequence[str],
                 reason: str = "", errors: Sequence[str] = ()):
        self.tool, self.returncode, self.log, self.tail = tool, returncode, log, list(tail)
        self.errors = [e for e in errors if e not in self.tail]
        self.reason = reason or f"{tool} failed with exit status {returncode}"
        where = f" (full log: {log})" if log is not None else ""
        text = f"{self.reason}{where}"
        if self.errors:  # stderr overtakes a tool's buffered stdout: its errors may sit mid-log
            text += "; its errors:\n" + "\n".join("    " + line for line in self.errors)
        if self.tail:
            text += "; last lines of its log:\n" + "\n".join("    " + line for line in self.tail)
        super().__init__(text)

    def without_log(self, note: str) -> ToolError:
        """The same error for a log that is not kept, with ``note`` (how to keep it) instead."""
        return ToolError(self.tool, self.returncode, None, self.tail, reason=f"{self.reason} ({note})",
                         errors=self.errors)


def tool_path(name: str) -> str:
    """Absolute path of console script ``name``, looked up beside the running Python first.

    Raises
    ------
    ToolError
        If the script is not installed.
    """
    here = Path(sys.executable).parent
    found = shutil.which(name, path=os.pathsep.join([str(here), os.environ.get("PATH", "")]))
    if found is None:
        raise ToolError(name, None, None, [], reason=f"{name} is not installed; {INSTALL_HINT}")
    return found


def tool_env() -> dict[str, str]:
    """Environment for the tools, with a YoWASP cache directory that is writable.

    YoWASP caches the compiled WebAssembly (~200 MB, 30-50 s to build on first use) under
    ``$YOWASP_CACHE_DIR`` or the user cache directory (``~/.cache/YoWASP``). When neither
    is writable (a read-only or missing home on a CI runner), a directory under the system
    temporary directory is used instead, so a fresh machine always works.
    """
    env = dict(os.environ)
    if "YOWASP_CACHE_DIR" not in env:
        try:
            import platformdirs
            default = Path(platformdirs.user_cache_dir("YoWASP", appauthor=False))
        except ImportError:
            default = Path.home() / ".cache" / "YoWASP"
        if not _writable_dir(default):
            env["YOWASP_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "nitro_hw-yowasp-cache")
    return env


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def dist_version(dist: str) -> str | None:
    """Installed version of PyPI distribution ``dist``, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@cache
def nextpnr_version(tool: str) -> str:
    """Version line of a nextpnr build (``nextpnr-0.11.1``)."""
    out = subprocess.run([tool_path(tool), "--version"], capture_output=True, text=True,
                         env=tool_env(), check=False)
    m = re.search(r"Version\s+([^\s)]+)", out.stdout + out.stderr)
    return m.group(1) if m else (out.stdout + out.stderr).strip().splitlines()[-1]


def _pty_lines(fd: int) -> Iterator[str]:
    buf = b""
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every writer of the terminal has exited
                break
            if not chunk:
                break
            *lines, buf = (buf + chunk).split(b"\n")
            for line in lines:
                yield line.decode(errors="replace").rstrip("\r") + "\n"
        if buf:
            yield buf.decode(errors="replace")
    finally:
        os.close(fd)


def _spawn(cmd: list[str], cwd: Path, live: bool) -> tuple[subprocess.Popen, Iterator[str]]:
    """Start ``cmd`` with stdout and stderr merged; return it and an iterator over its lines.

    With ``live`` on POSIX the output goes to a pseudo-terminal: the WebAssembly tools use
    C stdio, which flushes a terminal line by line but a pipe only every few kilobytes, so
    a long nextpnr run would otherwise show no progress for minutes. Otherwise a pipe
    (Yosys 0.70 traps in ABC9 when its output is a terminal).
    """
    env = tool_env()
    if live and os.name == "posix":
        import pty
        import termios

        try:
            master, slave = pty.openpty()
        except OSError:
            master = slave = -1
        if master >= 0:
            attrs = termios.tcgetattr(slave)
            attrs[1] &= ~termios.OPOST  # no \n -> \r\n translation
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            try:
                proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=slave, stderr=slave)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            return proc, _pty_lines(master)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    assert proc.stdout is not None
    return proc, iter(proc.stdout)


def run_tool(tool: str, args: Sequence[str], *, cwd: Path, log: Path,
             on_line: Callable[[str], None] | None = None, timeout: float | None = None,
             live: bool = False) -> None:
    """Run console script ``tool`` with ``args`` in ``cwd``, writing its output to ``log``.

    Each output line goes to ``on_line`` as it appears (for progress display); ``live``
    makes that line by line for tools that buffer a pipe (see :func:`_spawn`).

    Raises
    ------
    ToolError
        When the tool is missing, exits with a non-zero status or exceeds ``timeout``
        seconds; the message names the tool and quotes the last lines of its log.
    """
    exe = tool_path(tool)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    errors: deque[str] = deque(maxlen=TAIL_LINES)  # "ERROR: ..." lines, wherever they appear
    timed_out = threading.Event()
    with open(log, "w", encoding="utf-8", buffering=1) as logf:  # line-buffered: tail -f shows progress
        proc, lines = _spawn([exe, *args], cwd, live)

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            for line in lines:
                logf.write(line)
                line = line.rstrip("\n")
                if line.strip():
                    tail.append(line)
                if ERROR_LINE.match(line):
                    errors.append(line)
                if on_line is not None:
                    on_line(line)
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
    if timed_out.is_set():
        raise ToolError(tool, None, log, tail, reason=f"{tool} timed out after {timeout} s", errors=errors)
    if rc != 0:
        raise ToolError(tool, rc, log, tail, errors=errors)
