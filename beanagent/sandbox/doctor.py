"""`beanagent doctor`: versions, the sandbox layers this machine has, and a self-test that
runs canary attacks through a real sandbox and checks that each one fails."""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import tempfile
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

from beanagent.errors import SandboxError
from beanagent.sandbox.runner import Sandbox

PACKAGES = ("beanagent", "beancount", "beanquery", "beangulp", "ofxtools", "typer", "rich",
            "anthropic", "landlockpy", "pyseccomp")

LEDGER = """\
2024-01-01 open Assets:Bank USD
2024-01-01 open Expenses:Food
2024-01-02 * "Cafe"
  Assets:Bank  -4.50 USD
  Expenses:Food
"""


@dataclasses.dataclass(frozen=True)
class Canary:
    name: str
    blocked: bool
    detail: str


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _canaries(secret: Path, outside: Path, ledger: Path, port: int) -> dict[str, str]:
    """Each script prints ESCAPED only if its attack worked."""
    home = os.path.expanduser("~")
    tries = {
        "read a secret file outside the sandbox": f"print('ESCAPED', open({str(secret)!r}).read())",
        "read the host's environment in /proc":
            "import os\nprint('ESCAPED', open(f'/proc/{os.getppid()}/environ').read())",
        "list the home directory": f"import os\nprint('ESCAPED', os.listdir({home!r}))",
        "write a file outside the temp dir":
            f"open({str(outside / 'planted')!r}, 'w').write('x')\nprint('ESCAPED')",
        "append to the ledger": f"open({str(ledger)!r}, 'a').write(';x')\nprint('ESCAPED')",
        "TCP to 127.0.0.1": "import socket\n"
            f"socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('ESCAPED')",
        "UDP datagram": "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.sendto(b'x', ('127.0.0.1', {port}))\nprint('ESCAPED')",
        "run a program": "import subprocess\nsubprocess.run(['/bin/true'])\nprint('ESCAPED')",
        "fork a process": "import os\npid = os.fork()\nif pid == 0: os._exit(0)\nprint('ESCAPED')",
        "signal the sandbox server":
            "import os, signal\nos.kill(os.getppid(), signal.SIGCONT)\nprint('ESCAPED')",
        "ptrace the sandbox server": "import ctypes, os\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "if libc.ptrace(16, os.getppid(), 0, 0) == 0: print('ESCAPED')",
        "chmod a file": "import os\nopen('f', 'w').close()\nos.chmod('f', 0o4777)\n"
            "print('ESCAPED')",
        "make a symlink to a secret":
            f"import os\nos.symlink({str(secret)!r}, 'link')\nprint('ESCAPED')",
        "inject keystrokes (TIOCSTI)": "import fcntl, termios\n"
            "fcntl.ioctl(0, termios.TIOCSTI, b'x')\nprint('ESCAPED')",
    }
    return {name: textwrap.dedent(code) for name, code in tries.items()}


def self_test() -> tuple[list[Canary], dict[str, Any]]:
    """Run every canary in a real sandbox; returns the results and the layer report."""
    with tempfile.TemporaryDirectory(prefix="beanagent-doctor-") as tmp:
        root = Path(tmp)
        ledger = root / "books.beancount"
        ledger.write_text(LEDGER)
        secret = root / "secret.txt"
        secret.write_text("doctor-canary-secret\n")
        outside = root / "outside"
        outside.mkdir()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        results = []
        box = _start(ledger)
        try:
            layers = dict(box.layers, missing=box.missing_layers)
            for name, code in _canaries(secret, outside, ledger, port).items():
                before = ledger.read_text()
                try:
                    step = box.run(code, [])
                    output, detail = step.output, (step.error or step.output)
                except SandboxError as exc:  # the attack took the server down: it got through
                    box.close()
                    box = _start(ledger)
                    output, detail = "ESCAPED", str(exc)
                escaped = "ESCAPED" in output or "doctor-canary-secret" in output
                try:  # a connection that reached the listener, whatever the script said
                    listener.accept()[0].close()
                    escaped = True
                except BlockingIOError:
                    pass
                planted = outside / "planted"
                if planted.exists():
                    escaped = True
                    planted.unlink()
                if ledger.read_text() != before:
                    escaped = True
                lines = detail.strip().splitlines()
                results.append(Canary(name, not escaped, lines[-1] if lines else ""))
            after = box.run("print('alive')", [])
            results.append(Canary("the sandbox still works afterwards",
                                  after.ok and after.output == "alive\n", after.error or ""))
        finally:
            box.close()
        listener.close()
    return results, layers


def _start(ledger: Path) -> Sandbox:
    box = Sandbox(ledger.resolve(), step_timeout=5, allow_weak=True)
    box.reply_margin = 5
    box.start().run("pass", [])
    return box


def doctor_facts() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": {n: _version(n) for n in PACKAGES}}
