"""The small commands: `query` and `doctor` (output via render helpers)."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def run_query(ledger_path: Path, bql: str, as_json: bool) -> None:
    from beanagent.ledger import LedgerView
    from beanagent.load import load_ledger
    from beanagent.render_query import render_rows

    ledger = load_ledger(ledger_path, str(ledger_path))
    view = LedgerView(ledger.entries, ledger.options)
    try:
        rows = view.query(bql)
    except Exception as exc:  # beanquery's parse/compile errors: the user's query is wrong
        name = type(exc).__module__ or ""
        if not name.startswith("beanquery"):
            raise
        raise BadInputError(f"query failed: {str(exc).splitlines()[0] if str(exc) else exc}"
                            ) from None
    if as_json:
        sys.stdout.write(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows],
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        render_rows(rows)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0. Asked with the syscall itself (no binding
    is installed yet: the sandbox layers come with the fork-server work)."""
    import ctypes
    import platform as _platform

    if _platform.system() != "Linux" or _platform.machine() not in ("x86_64", "aarch64"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): 444 on both.
        version = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def doctor_facts() -> dict[str, Any]:
    import resource

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {n: _version(n) for n in ("beanagent", "beancount", "beanquery",
                                               "beangulp", "ofxtools", "typer", "rich",
                                               "anthropic")},
    }
    layers: dict[str, str] = {
        "separate process, scrubbed environment, no tty": "active",
        "wall-clock timeout, output and result caps": "active",
        "fresh forked child per script": "active",
        "rlimits (CPU, memory, file size, open files, core)":
            "active" if hasattr(resource, "RLIMIT_AS") else "missing",
        "user + network namespace": "not yet used (planned)",
    }
    abi = landlock_abi()
    layers["Landlock"] = (f"available in the kernel (ABI {abi}), not yet applied (planned)"
                          if abi > 0 else "unavailable on this system")
    status = Path("/proc/self/status")
    has_seccomp = status.exists() and "Seccomp:" in status.read_text()
    layers["seccomp"] = ("available in the kernel, not yet applied (planned)" if has_seccomp
                         else "unavailable on this system")
    facts["sandbox"] = layers
    return facts


def run_doctor() -> int:
    from beanagent.render_query import render_doctor

    render_doctor(doctor_facts())
    return 0
