"""Where the audit log lives (`audit_log` in beanagent.toml, or `BEANAGENT_AUDIT_LOG`):
`"ledger"` (default: `.beanagent/log/audit.jsonl` beside the ledger), `"state"`
(`$XDG_STATE_HOME/beanagent/log/`, else `~/.local/state/beanagent/log/`, one file per
ledger), `"off"`, or a file path (relative to the ledger's folder).

beanagent.toml comes with a shared books folder, so a path from it must stay inside that
folder (symlinks on the way resolved) and name a `.jsonl` file (never the ledger, a git
hook or a script); an absolute path or `~` is honoured only from the environment, the
user's own: a value equal to `BEANAGENT_AUDIT_LOG` came from there (the environment
overrides the file, and no flag sets it). `.beanagent` or `.beanagent/log` being a symlink
is refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError
from beanagent.files.journal import STATE_DIR, require_real_dir

ENV = "BEANAGENT_AUDIT_LOG"  # where the log goes, from the user's own environment


def state_home() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"


def log_path(ledger: Path, setting: Any) -> Path | None:
    """The JSONL file for this ledger under `setting`; None when the log is off."""
    if not isinstance(setting, str) or not setting.strip():
        raise BadInputError(f"audit_log must be \"ledger\", \"state\", \"off\" or a file path, "
                            f"not {setting!r}")
    ledger = ledger.resolve()
    root = ledger.parent
    if setting == "off":
        return None
    if setting == "ledger":
        require_real_dir(root / STATE_DIR)  # a symlink here would send the log anywhere
        require_real_dir(root / STATE_DIR / "log")
        return root / STATE_DIR / "log" / "audit.jsonl"
    if setting == "state":
        key = hashlib.sha256(str(ledger).encode()).hexdigest()[:12]
        return state_home() / "beanagent" / "log" / f"{ledger.stem}-{key}.jsonl"
    if os.environ.get(ENV) == setting:  # the user's own environment: anywhere
        path = Path(setting).expanduser()
        return path if path.is_absolute() else root / path
    return _confined(root, setting)


def _confined(root: Path, setting: str) -> Path:
    """A log path from beanagent.toml (a shared books folder's file): a .jsonl file inside
    the folder tree, symlinks on the way resolved (the file itself is opened O_NOFOLLOW)."""
    def refuse(why: str) -> BadInputError:
        return BadInputError(f"audit_log {setting!r} {why}; a path in beanagent.toml must name "
                             "a .jsonl file inside the ledger's folder (set BEANAGENT_AUDIT_LOG "
                             "for a log elsewhere)", file=str(root / "beanagent.toml"))

    if setting.startswith("~") or os.path.isabs(setting):
        raise refuse("is not relative to the ledger's folder")
    path = Path(os.path.normpath(root / setting))
    if not Path(os.path.realpath(path.parent)).is_relative_to(root) or path == root:
        raise refuse("leads out of the ledger's folder")
    if path.suffix != ".jsonl":
        raise refuse("is not a .jsonl file")
    return path
