"""Reading the audit log back: `beanagent log` lists and shows runs, and `beanagent run
--from-log RUN_ID` replays a logged run's scripts (no agent, no model) through the same
sandbox, check and review. The writing side is `audit`.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError
from beanagent.files.journal import file_sha256
from beanagent.runlog.audit import read_log
from beanagent.runlog.location import log_path
from beanagent.settings import CSV_KEYS, CsvOptions, Settings
from beanagent.text import visible


@dataclasses.dataclass
class Log:
    path: Path
    records: list[dict[str, Any]]  # this ledger's runs, oldest first
    skipped: int  # lines that were not records


def load_log(ledger: Path, settings: Settings) -> Log:
    if not ledger.is_file():
        raise BadInputError("ledger file not found", file=str(ledger))
    setting = settings.audit_log
    path = log_path(ledger, setting)
    if path is None:
        raise BadInputError("the audit log is off (audit_log = \"off\" in beanagent.toml or "
                            "BEANAGENT_AUDIT_LOG=off): no runs were recorded")
    records, bad = read_log(path)
    ledger = ledger.resolve()

    def ours(r: dict[str, Any]) -> bool:
        logged = Path(str(r.get("ledger", "")))
        # beside the ledger, the log moves with it: the file name is enough
        return logged == ledger or (setting == "ledger" and logged.name == ledger.name)

    return Log(path, [r for r in records if ours(r)], bad)


def replayable(record: dict[str, Any]) -> bool:
    return any(s.get("ok") for s in (record.get("agent") or {}).get("steps") or [])


def find_run(log: Log, run_id: str, replay: bool = False) -> dict[str, Any]:
    """A run by its id, a unique prefix of it, or `last` (for a replay: the last run with
    a script that ran to completion)."""
    last = [r for r in log.records if replayable(r) or not replay][-1:]
    if run_id == "last" and last:
        return last[0]
    exact = [r for r in log.records if r["run"] == run_id]
    found = exact or [r for r in log.records if r["run"].startswith(run_id)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadInputError(f"no run {run_id!r} in the audit log (see `beanagent log`)",
                            file=str(log.path))
    raise BadInputError(f"{len(found)} runs start with {run_id!r}: give more of the id",
                        file=str(log.path))


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """One line of `beanagent log`."""
    review = record.get("review") or {}
    accepted = review.get("accepted")
    return {"run": record["run"], "time": record.get("time"), "command": record.get("command"),
            "agent": (record.get("agent") or {}).get("name"),
            "statements": [s.get("file") for s in record.get("statements") or []],
            "proposals": len(record.get("proposals") or []),
            "accepted": None if accepted is None else len(accepted),
            "mode": review.get("mode"), "committed": bool(record.get("committed")),
            "exit_code": record.get("exit_code")}


# Replaying.

# What decides how statements are read and where entries go: taken from the logged run
# unless the replay's own flags say otherwise.
# Settings a replay takes from the logged run when its own flags leave them unset. Never
# `importers`: a replay loads no code the user did not name on its own command line.
INHERITED = ("account", "closing_balance", "csv", "output")


@dataclasses.dataclass(frozen=True)
class Replay:
    run_id: str
    scripts: list[str]
    statements: list[Path]  # the ones to replay on
    options: dict[str, Any]  # the logged run's options (INHERITED ones only)
    notes: list[str]  # for the user: statements changed since the run, ...


def plan_replay(record: dict[str, Any], given: list[Path]) -> Replay:
    """The scripts of a logged run that ran to completion, in order: with the same
    statements they give the same proposals (each step runs in a fresh child). The
    statements are `given`, else the logged run's own files."""
    run_id = record["run"]
    ok = [s for s in (record.get("agent") or {}).get("steps") or [] if s.get("ok")]
    if not ok:
        raise BadInputError(f"run {run_id} has no script that ran to completion: "
                            "nothing to replay")
    if any(s.get("code_truncated") for s in ok):
        raise BadInputError(f"run {run_id} has a script too large to have been logged "
                            "whole: it can't be replayed")
    logged: dict[Path, str] = {}  # absolute path -> as typed
    hashes: dict[Path, str | None] = {}
    for st in record.get("statements") or []:
        path = Path(st.get("path") or st["file"])
        logged.setdefault(path, st["file"])
        hashes.setdefault(path, st.get("sha256"))
    # as the user typed them, when they still name the same files from here
    paths = list(given) or [Path(typed) if Path(typed).resolve() == path else path
                            for path, typed in logged.items()]
    notes = []
    for path in paths:
        then = hashes.get(path.resolve())
        if then and file_sha256(path, quiet=True) not in (None, then):
            notes.append(f"{path} changed since run {run_id}: the proposals may differ")
    options = {k: v for k, v in (record.get("options") or {}).items()
               if k in INHERITED and v not in (None, {}, [])}
    return Replay(run_id, [s["code"] for s in ok], paths, options, notes)


def replay_settings(replay: Replay, settings: Settings) -> Settings:
    """`settings` (from the replay's flags) completed with the logged run's statement and
    placement settings where the flags left them unset."""
    changes: dict[str, Any] = {}
    for name, value in replay.options.items():
        if name not in INHERITED or getattr(settings, name) not in (None, CsvOptions()):
            continue
        if name == "closing_balance":
            number, currency = str(value).split()
            changes[name] = (Decimal(number), currency)
        elif name == "csv":
            changes[name] = CsvOptions(**{k: v for k, v in dict(value).items()
                                          if k in CSV_KEYS})
        elif name == "output":
            changes[name] = Path(value)
        else:
            changes[name] = value
    return dataclasses.replace(settings, **changes)


# `beanagent log` as text (the list goes through render.render_rows). What the log holds
# came from statements, ledgers and models: every line is passed through `text.visible`
# (tabs kept, for code), so no control character reaches the terminal.


def format_log(summaries: list[dict[str, Any]]) -> str:
    """One line per run, newest first: time, id, command (agent), statements, what
    happened, exit code."""
    rows = []
    for s in summaries:
        what = [f"{s['proposals']} proposal(s)"]
        what.append(s["mode"] if s["accepted"] is None else f"{s['accepted']} accepted")
        if s["committed"]:
            what.append("committed")
        cells = (_local(s["time"])[:16], s["run"], f"{s['command']}/{s['agent']}",
                 ", ".join(Path(f).name for f in s["statements"] if f) or "-",
                 ", ".join(str(w) for w in what), f"exit {s['exit_code']}")
        rows.append(tuple(visible(str(cell)) for cell in cells))
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False))
                   + f"  {r[5]}\n" for r in rows)


def _local(stamp: str | None) -> str:
    try:
        moment = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _block(text: str | None, prefix: str = "    | ") -> list[str]:
    # split at "\n" only: a U+2028 in a script's output stays inside its line
    body = (text or "").rstrip("\n")
    return [prefix + line for line in body.split("\n")] if body else []


def format_run(record: dict[str, Any]) -> str:
    """One run in full: files and hashes, statements, every script with its output, the
    proposals with the user's decision on each, the gate, the commit, the exit code."""
    agent = record.get("agent") or {}
    options = {k: v for k, v in (record.get("options") or {}).items()
               if v not in (None, False, {}, [], "")}
    out = [f"run {record['run']}  {_local(record.get('time'))}  "
           f"({record.get('seconds')} s, beanagent {record.get('beanagent')})",
           f"command: {record.get('command')}  "
           + "  ".join(f"{k}={v}" if v is not True else k for k, v in options.items()),
           f"ledger: {record.get('ledger')}"]
    for f in record.get("files") or []:
        after = f.get("sha256_after")
        moved = f" -> {after[:16]}" if after and after != f["sha256"] else ""
        out.append(f"  {f['path']}  sha256 {f['sha256'][:16]}{moved}")
    out.append("statements:")
    for st in record.get("statements") or []:
        what = ", ".join(str(st[k]) for k in ("format", "account") if st.get(k))
        counts = (f"; {st['lines']} lines: {st.get('matched', '?')} booked, "
                  f"{st.get('missing', '?')} missing, {st.get('ledger_only', '?')} only in the "
                  "ledger") if "lines" in st else ""
        counts += "; reconciled" if st.get("reconciled") is True else ""
        out.append(f"  {st.get('file')} ({what or 'not read'}{counts})  "
                   f"sha256 {(st.get('sha256') or '-')[:16]}")
    out.append(f"agent: {agent.get('name')}" + (f" ({agent['model']})" if agent.get("model")
                                                else ""))
    out += _block(agent.get("summary"), "  ")
    for step in agent.get("steps") or []:
        out.append(f"  step {step['index']} {'ok' if step['ok'] else 'failed'} "
                   f"({step['seconds']} s, {step['proposals']} proposal(s))")
        out += _block(step.get("code"))
        if step.get("output"):
            out.append("    output" + (" (truncated)" if step.get("output_truncated") else "")
                       + ":")
            out += _block(step["output"])
        if step.get("error"):
            out.append("    error:")
            out += _block(step["error"])
    review = record.get("review") or {}
    decided = {d["id"]: d for d in review.get("decisions") or []}
    out.append(f"proposals ({len(record.get('proposals') or [])}):")
    for p in record.get("proposals") or []:
        d = decided.get(p["id"])
        mark = ("edited" if d.get("text") else "accepted" if d["accepted"] else "rejected") \
            if d else "not decided"
        out.append(f"  {p['id']} {mark}  confidence {p.get('confidence')}  "
                   f"{p.get('reason') or ''}".rstrip())
        out += _block(d["text"] if d and d.get("text") else p.get("text"))
    check = record.get("check")
    if check is not None:
        out.append(f"check: {'passed' if check['passed'] else 'FAILED'} "
                   f"({check.get('seconds')} s)")
        out += [f"  {e['file']}:{e['line']}: {e['message']}" for e in check.get("errors", [])]
        out += [f"  dropped {d['id']}: {d['reason']}" for d in check.get("dropped", [])]
    accepted = review.get("accepted")
    out.append(f"review: {review.get('mode')}"
               + ("" if accepted is None else f", {len(accepted)} accepted"))
    out.append("committed: " + (", ".join(record.get("written") or []) or "yes"
                                if record.get("committed") else "no"))
    out += [f"warning: {w}" for w in record.get("warnings") or []]
    if record.get("error"):
        out.append(f"error: {record['error']['type']}: {record['error']['message']}")
    out.append(f"exit code: {record.get('exit_code')}")
    return "\n".join(visible(line, keep="\t") for line in out) + "\n"
