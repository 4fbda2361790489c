"""pytest: a real video call between two processes using the ctypes binding.

Starts ``anychat-server`` (path from ``ANYCHAT_SERVER``, else
``target/debug/anychat-server`` of this repository), then
``call_party.py callee`` and ``call_party.py caller`` against it, and
asserts that both exit 0. The library is ``ANYCHAT_LIB`` if set, else
``libanychat.so`` next to the server binary (``deps/`` first)."""

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PARTY = HERE / "call_party.py"
WAIT = 30.0


def server_path():
    p = os.environ.get("ANYCHAT_SERVER")
    return Path(p) if p else ROOT / "target" / "debug" / "anychat-server"


def library_path(server):
    p = os.environ.get("ANYCHAT_LIB")
    if p:
        return Path(p)
    for d in (server.parent / "deps", server.parent):
        if (d / "libanychat.so").is_file():
            return d / "libanychat.so"
    raise AssertionError(f"no libanychat.so next to {server} (run cargo build, or set ANYCHAT_LIB)")


def lines_of(proc):
    """A queue of the process's stdout lines; None at end of output."""
    q = queue.Queue()

    def pump():
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def expect(q, prefix, deadline, transcript, who):
    while True:
        left = deadline - time.monotonic()
        try:
            line = q.get(timeout=max(left, 0.001))
        except queue.Empty:
            raise AssertionError(f"{who}: no line '{prefix}' in time; output:\n" + "\n".join(transcript))
        if line is None:
            raise AssertionError(f"{who}: exited before '{prefix}'; output:\n" + "\n".join(transcript))
        transcript.append(line)
        if line.startswith(prefix):
            return line


def spawn(args, env):
    return subprocess.Popen(
        [sys.executable, "-B", str(PARTY), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def finish(proc, q, transcript, deadline):
    """Waits for the process's output to end, then for its exit code."""
    while True:
        left = deadline - time.monotonic()
        try:
            line = q.get(timeout=max(left, 0.001))
        except queue.Empty:
            proc.kill()
            proc.wait()
            transcript.append("<killed: timeout>")
            return None
        if line is None:
            return proc.wait(timeout=max(deadline - time.monotonic(), 1))
        transcript.append(line)


def test_call_between_two_processes():
    server = server_path()
    assert server.is_file(), f"no server binary at {server} (cargo build, or set ANYCHAT_SERVER)"
    lib = library_path(server)
    env = dict(os.environ, ANYCHAT_LIB=str(lib), PYTHONDONTWRITEBYTECODE="1")
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(lib.parent), os.environ.get("LD_LIBRARY_PATH")]))
    srv = subprocess.Popen(
        [str(server), "--listen", "127.0.0.1:0", "--business-listen", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    procs = []
    try:
        srv_lines = lines_of(srv)
        deadline = time.monotonic() + WAIT
        first = expect(srv_lines, "anychat-server listening on ", deadline, [], "server")
        port = first.rsplit(":", 1)[1]

        callee_out = []
        callee = spawn(["callee", "127.0.0.1", port, "bob"], env)
        procs.append(callee)
        callee_q = lines_of(callee)
        uid = expect(callee_q, "userid ", deadline, callee_out, "callee").split()[1]

        caller_out = []
        caller = spawn(["caller", "127.0.0.1", port, "alice", uid], env)
        procs.append(caller)
        caller_q = lines_of(caller)

        rc_caller = finish(caller, caller_q, caller_out, deadline)
        rc_callee = finish(callee, callee_q, callee_out, deadline)
        report = "\n--- callee:\n" + "\n".join(callee_out) + "\n--- caller:\n" + "\n".join(caller_out)
        assert rc_caller == 0, f"caller exit {rc_caller}{report}"
        assert rc_callee == 0, f"callee exit {rc_callee}{report}"
        assert "caller done" in caller_out and "callee done" in callee_out, report
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        srv.kill()
        srv.wait()
