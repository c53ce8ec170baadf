"""The audit log: every reconcile / run leaves one JSON line, whatever happened; `beanagent
log` reads it back; `beanagent run --from-log` replays a logged run's scripts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

import beanagent
from beanagent.agent.offline import OfflineAgent, offline_script
from beanagent.commands import run_audited
from beanagent.errors import LedgerChangedError
from beanagent.model import Proposal
from beanagent.runlog.audit import MESSAGE_CAP, OUTPUT_CAP, Trail, cap
from beanagent.settings import load_settings
from tests.fake_anthropic import FakeAnthropic, serve, tool_use
from tests.helpers import RecordingUI, report, run_cli_in_process, tree_hashes

ACCOUNT = "Assets:Bank:Checking"
KEY = "sk-ant-api03-audit-canary-7f3e9b2c41d8"
BROKEN = "for st in statements:\n    print(undefined_name)\n"
GOOD = """\
for st in statements:
    for line in engine.match(st).missing:
        guess = engine.suggest(st, line)
        if guess.account != "Expenses:FIXME":
            propose.transaction(line.date, guess.payee, line.description,
                                [(st.account, line.amount, st.currency), (guess.account,)],
                                evidence=[line], meta=engine.bank_meta(st, line),
                                confidence=guess.confidence, reason="from history")
"""


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_file(folder: Path) -> Path:
    return folder / ".beanagent" / "log" / "audit.jsonl"


def records(path: Path) -> list[dict[str, Any]]:
    """Every line of the log, each one a JSON object; the file ends with a newline."""
    data = path.read_text(encoding="utf-8")
    assert data.endswith("\n")
    out = [json.loads(line) for line in data.splitlines()]
    assert all(isinstance(r, dict) for r in out)
    return out


def reconcile_cli(folder: Path, *flags: str, env: dict[str, str] | None = None) -> Any:
    return run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT, *flags,
                              cwd=folder, env=env)


def test_committed_run_leaves_one_full_record(books: Path) -> None:
    ledger = books / "books.beancount"
    before, statement = sha(ledger), sha(books / "march.csv")
    proc = reconcile_cli(books, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    [r] = records(log_file(books))
    assert r["version"] == 1 and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", r["run"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["time"])
    assert r["beanagent"] == beanagent.__version__ and r["command"] == "reconcile"
    assert r["options"]["account"] == ACCOUNT and r["options"]["yes"] is True
    assert r["options"]["dry_run"] is False and r["options"]["agent"] == "offline"
    assert r["ledger"] == str(ledger.resolve())
    assert r["files"] == [{"path": str(ledger.resolve()), "sha256": before,
                           "sha256_after": sha(ledger)}]
    assert before != sha(ledger)
    [st] = r["statements"]
    assert (st["file"], st["path"], st["sha256"]) == ("march.csv",
                                                       str((books / "march.csv").resolve()),
                                                       statement)
    assert (st["format"], st["account"], st["lines"]) == ("csv", ACCOUNT, 6)
    assert (st["matched"], st["missing"], st["ledger_only"]) == (2, 4, 1)
    [step] = r["agent"]["steps"]
    assert r["agent"]["name"] == "offline" and step["code"] == offline_script()
    assert step["ok"] is True and step["error"] is None and step["seconds"] > 0
    assert step["proposals"] == len(r["proposals"]) == len(rep["proposals"]) == 5
    assert [(p["id"], p["text"], p["evidence"], p["confidence"], p["reason"])
            for p in r["proposals"]] == [(p["id"], p["text"], p["evidence"], p["confidence"],
                                          p["reason"]) for p in rep["proposals"]]
    kale = next(p for p in r["proposals"] if "KALE" in p["text"])
    assert kale["flag"] == "!" and kale["file"] == str(ledger.resolve())
    assert r["check"]["passed"] is True and r["check"]["errors"] == []
    ids = [p["id"] for p in r["proposals"]]
    assert r["review"]["mode"] == "yes" and r["review"]["accepted"] == ids
    assert [(d["id"], d["accepted"]) for d in r["review"]["decisions"]] == [
        (pid, True) for pid in ids]
    assert r["committed"] is True and r["written"] == [str(ledger.resolve())]
    assert r["exit_code"] == 0 and r["error"] is None
    assert log_file(books).stat().st_mode & 0o777 == 0o600  # money is private


def test_dry_runs_append_one_record_each(books: Path) -> None:
    before = tree_hashes(books)
    assert reconcile_cli(books, "--dry-run").returncode == 0
    first = log_file(books).read_bytes()
    assert reconcile_cli(books, "--dry-run").returncode == 0
    assert log_file(books).read_bytes().startswith(first)  # appended, never rewritten
    one, two = records(log_file(books))
    assert one["run"] != two["run"]
    for r in (one, two):
        assert r["review"] == {"mode": "dry-run", "decisions": None, "accepted": None}
        assert r["committed"] is False and r["written"] == [] and r["exit_code"] == 0
        assert [f["sha256_after"] for f in r["files"]] == [None]
        assert len(r["proposals"]) == 5 and r["check"]["passed"] is True
    assert tree_hashes(books) == before  # the ledger and statement untouched


def test_declined_at_the_terminal_is_recorded(books: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb"})
    child = pexpect.spawn(sys.executable, ["-m", "beanagent", "reconcile", "books.beancount",
                                           "march.csv", "-a", ACCOUNT], cwd=str(books),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 160))
    child.expect(r"\[y/n[a-z/?]*\]")
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    [r] = records(log_file(books))
    assert r["exit_code"] == 1 and r["error"] is None and r["committed"] is False
    assert r["review"]["mode"] == "interactive" and r["review"]["accepted"] == []
    decisions = r["review"]["decisions"]
    assert [d["id"] for d in decisions] == [p["id"] for p in r["proposals"]]
    assert not any(d["accepted"] for d in decisions)


def test_failed_check_exit_3_is_recorded(books: Path) -> None:
    script = "propose.balance('Assets:Bank:Checking', date(2024, 3, 1), '1.00 USD')\n"
    (books / "bad.py").write_text(script)
    proc = run_cli_in_process("run", "books.beancount", "bad.py", "--yes", cwd=books)
    assert proc.returncode == 3, proc.stderr
    [r] = records(log_file(books))
    assert r["command"] == "run" and r["exit_code"] == 3 and r["committed"] is False
    assert r["options"]["script"] == str((books / "bad.py").resolve())
    assert r["agent"]["name"] == "script:bad.py" and r["agent"]["steps"][0]["code"] == script
    assert r["check"]["passed"] is False
    assert "Balance failed" in r["check"]["errors"][0]["message"]
    assert [d["id"] for d in r["check"]["dropped"]] == ["P1"]
    assert r["review"]["decisions"] is None and r["statements"] == []


def test_script_failure_exit_5_is_recorded_as_far_as_it_got(books: Path) -> None:
    (books / "boom.py").write_text("print('looking')\n1 / 0\n")
    proc = run_cli_in_process("run", "books.beancount", "boom.py", "march.csv", "-a", ACCOUNT,
                              "--yes", cwd=books)
    assert proc.returncode == 5, proc.stderr
    [r] = records(log_file(books))
    assert r["exit_code"] == 5 and r["error"]["type"] == "AgentError"
    assert "ZeroDivisionError" in r["error"]["message"]
    [step] = r["agent"]["steps"]
    assert step["ok"] is False and "ZeroDivisionError" in step["error"]
    assert step["output"] == "looking\n"
    # the ledger and the statement were read: their hashes are there
    assert r["files"][0]["sha256"] == sha(books / "books.beancount")
    [st] = r["statements"]
    assert (st["file"], st["format"], st["account"]) == ("march.csv", "csv", ACCOUNT)
    assert st["sha256"] == sha(books / "march.csv")
    assert r["proposals"] == [] and r["check"] is None and r["committed"] is False


def test_bad_input_exit_2_is_recorded(books: Path) -> None:
    proc = run_cli_in_process("reconcile", "books.beancount", "missing.csv", "-a", ACCOUNT, "-n",
                              cwd=books)
    assert proc.returncode == 2, proc.stderr
    [r] = records(log_file(books))
    assert r["exit_code"] == 2 and r["error"]["type"] == "BadInputError"
    assert r["statements"] == [{"file": "missing.csv",
                                "path": str((books / "missing.csv").resolve()),
                                "sha256": None}]
    assert r["files"] is None and r["agent"]["steps"] == []


class ClosingUI(RecordingUI):
    def close(self) -> None:  # the CLI closes its UI (a progress spinner) after the run
        pass


def test_ledger_changed_during_review_exit_4_is_recorded(books: Path) -> None:
    """The CLI's own audited call, with a reviewer who edits the ledger before accepting."""
    ledger = books / "books.beancount"
    original = sha(ledger)

    def edit_then_accept(items: list[Proposal]) -> list[str]:
        ledger.write_bytes(ledger.read_bytes() + b"; edited meanwhile\n")
        return [i.id for i in items]

    ui = ClosingUI(edit_then_accept)
    with pytest.raises(LedgerChangedError):
        run_audited("reconcile", ledger, [books / "march.csv"], OfflineAgent(),
                 load_settings(ledger, account=ACCOUNT), ui)
    [r] = records(log_file(books))
    assert r["exit_code"] == 4 and r["error"]["type"] == "LedgerChangedError"
    assert r["committed"] is False and r["written"] == []
    assert r["files"] == [{"path": str(ledger.resolve()), "sha256": original,
                           "sha256_after": None}]
    ids = [p["id"] for p in r["proposals"]]
    assert r["review"]["mode"] == "interactive" and r["review"]["accepted"] == ids
    assert [(d["id"], d["accepted"]) for d in r["review"]["decisions"]] == [
        (pid, True) for pid in ids]
    assert ui.warnings == []


def test_the_key_is_never_logged_and_scripts_quoting_it_are_redacted(books: Path) -> None:
    (books / "quote.py").write_text(f"print('{KEY}')\n")
    proc = run_cli_in_process("run", "books.beancount", "quote.py", "--dry-run", cwd=books,
                              env={"ANTHROPIC_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    text = log_file(books).read_text()
    assert KEY not in text and "ANTHROPIC_API_KEY" not in text
    [step] = records(log_file(books))[0]["agent"]["steps"]
    assert step["code"] == "print('[redacted]')\n" and step["output"] == "[redacted]\n"


def test_llm_run_is_logged_without_its_key_and_replays_without_the_model(books: Path) -> None:
    fake = FakeAnthropic([tool_use("run_python", {"code": BROKEN}, 1),
                          tool_use("run_python", {"code": GOOD}, 2),
                          tool_use("finish", {"summary": "three booked"}, 3)])
    with serve(fake):
        proc = reconcile_cli(books, "--agent", "anthropic", "--model", "fake-model",
                             "--dry-run", "--json",
                             env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": fake.url})
    assert proc.returncode == 0, proc.stderr
    original = report(proc)["proposals"]
    assert len(original) == 3
    text = log_file(books).read_text()
    assert KEY not in text
    assert "[redacted]" not in text  # never there in the first place, not merely scrubbed
    [r] = records(log_file(books))
    agent = r["agent"]
    assert (agent["name"], agent["model"], agent["summary"]) == ("anthropic", "fake-model",
                                                                 "three booked")
    assert agent["usage"]["input_tokens"] == 300
    assert [(s["code"], s["ok"]) for s in agent["steps"]] == [(BROKEN, False), (GOOD, True)]
    assert "NameError" in agent["steps"][0]["error"]

    # No key, no server: the logged scripts alone, through the same sandbox and gate.
    again = run_cli_in_process("run", "books.beancount", "--from-log", r["run"][:15], "--dry-run",
                               "--json", cwd=books)
    assert again.returncode == 0, again.stderr
    replayed = report(again)
    assert replayed["proposals"] == original
    assert replayed["agent"]["name"] == f"replay:{r['run']}"
    assert records(log_file(books))[0] == r  # the log only grows
    second = records(log_file(books))[1]
    assert second["options"]["from_log"] == r["run"][:15]
    assert [s["code"] for s in second["agent"]["steps"]] == [GOOD]


def test_replay_takes_the_logged_statements_and_account(books: Path) -> None:
    assert reconcile_cli(books, "--dry-run", "--json").returncode == 0
    (books / "march.csv").rename(books / "renamed.csv")
    moved = run_cli_in_process("run", "books.beancount", "--from-log", "last", "-n", cwd=books)
    assert moved.returncode == 2 and "march.csv" in moved.stderr  # it needs that statement
    (books / "renamed.csv").rename(books / "march.csv")
    # `last`: the last run with scripts to replay (not the failed attempt just above)
    proc = run_cli_in_process("run", "books.beancount", "--from-log", "last", "-n", "--json",
                              cwd=books)
    assert proc.returncode == 0, proc.stderr  # no -a: the logged run's account
    original = records(log_file(books))[0]
    rep = report(proc)
    assert [p["text"] for p in rep["proposals"]] == [p["text"] for p in original["proposals"]]
    assert rep["statements"][0]["file"] == "march.csv"
    (books / "march.csv").write_text((books / "march.csv").read_text().replace(
        "2024-03-08,", "2024-03-07,"))
    changed = run_cli_in_process("run", "books.beancount", "march.csv", "--from-log",
                                 original["run"], "-n", cwd=books)
    assert changed.returncode == 0, changed.stderr
    assert "changed since run" in changed.stderr


def test_unwritable_log_warns_once_and_the_run_goes_on(books: Path) -> None:
    (books / "blocker").write_text("a file where the log's folder would be\n")
    (books / "beanagent.toml").write_text('audit_log = "blocker/audit.jsonl"\n')
    proc = reconcile_cli(books, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["committed"] is True
    assert proc.stderr.count("could not write the audit log") == 1
    assert (books / "blocker").read_text().startswith("a file")


def test_log_lists_and_shows_runs(books: Path) -> None:
    assert reconcile_cli(books, "--dry-run").returncode == 0
    assert reconcile_cli(books, "--yes").returncode == 0
    first, second = records(log_file(books))
    proc = run_cli_in_process("log", "books.beancount", cwd=books)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert second["run"] in lines[0] and "5 accepted, committed" in lines[0]
    assert first["run"] in lines[1] and "dry-run" in lines[1] and "exit 0" in lines[1]
    assert "march.csv" in lines[1] and "reconcile/offline" in lines[1]
    assert "2 of 2 run(s)" in proc.stderr
    # A unique prefix: all but the last character (two runs can share a second, and
    # then the first characters of the random part).
    one = run_cli_in_process("log", "books.beancount", first["run"][:-1], cwd=books)
    assert one.returncode == 0, one.stderr
    assert f"run {first['run']}" in one.stdout
    assert "step 1 ok" in one.stdout and "    | # beanagent offline agent" in one.stdout
    assert "P5 not decided" in one.stdout and "review: dry-run" in one.stdout
    shown = run_cli_in_process("log", "books.beancount", "last", cwd=books).stdout
    assert "P5 accepted" in shown and "committed: " + str((books / "books.beancount")
                                                          .resolve()) in shown
    as_json = run_cli_in_process("log", "books.beancount", "--json", "--limit", "1", cwd=books)
    assert json.loads(as_json.stdout) == [second]
    missing = run_cli_in_process("log", "books.beancount", "20990101", cwd=books)
    assert missing.returncode == 2 and "no run '20990101'" in missing.stderr


@pytest.mark.parametrize("setting", ["state", "off", "logs/runs.jsonl"])
def test_where_the_log_goes(books: Path, setting: str) -> None:
    state = books / "xdg-state"
    (books / "beanagent.toml").write_text(f'audit_log = "{setting}"\n')
    proc = reconcile_cli(books, "-n", env={"XDG_STATE_HOME": str(state)})
    assert proc.returncode == 0, proc.stderr
    assert not log_file(books).exists()
    written = sorted(books.rglob("*.jsonl"))
    listed = run_cli_in_process("log", "books.beancount", cwd=books,
                                env={"XDG_STATE_HOME": str(state)})
    if setting == "off":
        assert written == []
        assert listed.returncode == 2 and "audit log is off" in listed.stderr
        return
    [path] = written
    if setting == "state":
        assert path.parent == state / "beanagent" / "log"
        assert path.name.startswith("books-")
    else:
        assert path == books / "logs" / "runs.jsonl"
    assert len(records(path)) == 1
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1


def test_a_torn_line_spoils_only_itself(books: Path) -> None:
    log = log_file(books)
    log.parent.mkdir(parents=True)
    log.write_text('{"version": 1, "run": "20240101-000000-aaaaaa", "ledger": "/x/books.b')
    assert reconcile_cli(books, "-n").returncode == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["exit_code"] == 0
    proc = run_cli_in_process("log", "books.beancount", cwd=books)
    assert len(proc.stdout.splitlines()) == 1
    assert "1 unreadable line(s) skipped" in proc.stderr


def test_output_is_capped(books: Path) -> None:
    (books / "loud.py").write_text("print('x' * 60000)\nprint('THE END')\n")
    proc = run_cli_in_process("run", "books.beancount", "loud.py", "-n", cwd=books)
    assert proc.returncode == 0, proc.stderr
    [step] = records(log_file(books))[0]["agent"]["steps"]
    assert len(step["output"]) < OUTPUT_CAP + 100 and step["output_truncated"] is True
    assert step["output"].endswith("THE END\n") and "characters cut" in step["output"]
    assert log_file(books).stat().st_size < 40_000


def test_cap_keeps_head_and_tail() -> None:
    text = "".join(f"{i:05d}\n" for i in range(10_000))
    kept = cap(text, 1000)
    assert kept is not None and len(kept) < 1100
    assert kept.startswith("00000\n") and kept.endswith("09999\n")
    assert cap("short", 1000) == "short" and cap(None, 10) is None


def test_model_messages_are_logged_capped(books: Path) -> None:
    """Room for the LLM agent's transcript (issue 6): every string in it capped, even in
    a run that ended before there was an outcome."""
    trail = Trail("reconcile", books / "books.beancount", [books / "march.csv"],
                  load_settings(books / "books.beancount", account=ACCOUNT), ClosingUI(),
                  OfflineAgent())
    trail.messages += [{"role": "user", "content": "u" * 50_000},
                       {"role": "assistant", "content": [
                           {"type": "tool_use", "name": "run_python",
                            "input": {"code": "y" * 40_000}}]}]
    trail.close(LedgerChangedError("gone"))
    [r] = records(log_file(books))
    user, assistant = r["agent"]["messages"]
    assert user["role"] == "user" and MESSAGE_CAP < len(user["content"]) < MESSAGE_CAP + 100
    code = assistant["content"][0]["input"]["code"]
    assert code.startswith("yyy") and "characters cut" in code and len(code) < MESSAGE_CAP + 100
    assert r["exit_code"] == 4 and r["files"] is None
