"""How a run ends, as the user reads it (the real CLI, scripted models on the fake servers):
a model that stops without proposing leaves lines unbooked and is said to; its own last
words (finish's summary, or the reply that ended it) are shown and reported; a failed run
with --json still prints exactly one JSON document, whose `error` says what failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dialects import DIALECTS, IDS, KEY
from tests.fake_anthropic import FakeAPI, serve
from tests.helpers import REPO_ROOT, report, run_cli_in_process

ACCOUNT = "Assets:Bank:Checking"
LOOK = "for st in statements:\n    print(len(engine.match(st).missing), 'missing')\n"
# march.csv's lines the e2e ledger lacks, as the listing names them (file:line, date, amount)
UNBOOKED = ["march.csv:4  2024-03-04  -4.75 USD  SQ *BLUE BOTTLE COFFEE",
            "march.csv:5  2024-03-05  2500.00 USD  ACME CORP DES:PAYROLL ID:XXXXX45 PPD",
            "march.csv:6  2024-03-06  -1500.00 USD  PARKSIDE APTS DES:WEB PMTS",
            "march.csv:7  2024-03-08  -13.25 USD  KALE & CO, OAKLAND"]


def reconcile(books: Path, d: Any, fake: FakeAPI, *extra: str) -> Any:
    with serve(fake):
        return run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                                  *d.cli_args(fake.url), "--dry-run", *extra, cwd=books,
                                  env=d.cli_env(fake.url, KEY))


def missing_lines(books: Path) -> list[str]:
    """What the offline agent would propose: the statement lines the ledger lacks."""
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--json", cwd=books)
    return [f"{r['file']}:{r['line']}" for p in report(proc)["proposals"]
            for r in p["evidence"]]


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_finish_without_proposing_says_how_many_lines_are_unbooked_and_which(
        books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": LOOK}, 1),
                    d.call("finish", {"summary": "Looked; all good, I think."}, 2)])
    proc = reconcile(books, d, fake)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "every statement line" not in err and "already has" not in err
    assert f"The {d.name} agent finished:\nLooked; all good, I think." in err
    assert "Nothing proposed by the " + d.name + " agent: 4 statement lines are still " \
        "unbooked:" in err
    for line in UNBOOKED:
        assert f"  {line}" in err
    assert sorted(line.split()[0] for line in UNBOOKED) == sorted(missing_lines(books))


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_a_step_limit_stop_says_so_and_lists_what_is_left(books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": LOOK}, i) for i in range(4)])
    proc = reconcile(books, d, fake, "--max-steps", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"The {d.name} agent was stopped by the step limit" in proc.stderr
    assert "4 statement lines are still unbooked" in proc.stderr
    agent = report(proc)["agent"]
    assert (agent["stopped"], agent["ended"], agent["summary"]) == ("steps", "steps", None)
    assert report(proc)["error"] is None
    [st] = report(proc)["proof"]["statements"]
    assert not st["complete"] and [u["line"] for u in st["unbooked"]] == [4, 5, 6, 7]


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_the_finish_summary_is_in_the_cli_and_the_report(books: Path, d: Any) -> None:
    good = (REPO_ROOT / "beanagent" / "agent" / "scripts" / "offline.py").read_text()
    summary = "Booked 3 lines from history.\nThe payroll line goes to Income:Salary."
    fake = FakeAPI([d.call("run_python", {"code": good}, 1),
                    d.call("finish", {"summary": summary}, 2)])
    proc = reconcile(books, d, fake, "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"The {d.name} agent finished:\n{summary}" in proc.stderr
    agent = report(proc)["agent"]
    assert (agent["ended"], agent["summary"]) == ("finish", summary)
    assert "Nothing proposed" not in proc.stderr


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_a_text_reply_that_ends_the_run_is_shown(books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": LOOK}, 1),
                    d.text("I cannot tell which account the payroll goes to.")] * 3)
    proc = reconcile(books, d, fake, "--json")
    assert proc.returncode == 0, proc.stderr
    agent = report(proc)["agent"]
    assert agent["ended"] == "reply"
    assert agent["summary"] == "I cannot tell which account the payroll goes to."
    assert "I cannot tell which account the payroll goes to." in proc.stderr
    assert "4 statement lines are still unbooked" in proc.stderr


def test_every_line_booked_is_said_only_when_true(books: Path) -> None:
    """The offline agent on a statement whose every line the ledger has."""
    booked = books / "booked.csv"
    lines = (books / "march.csv").read_text().splitlines()
    booked.write_text("\n".join(lines[:3]) + "\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "booked.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to propose: every statement line is already booked" in proc.stderr
    assert "unbooked" not in proc.stderr


# --- --json when the run fails: one JSON document on stdout, with its `error` ---------------


def one_document(proc: Any) -> dict[str, Any]:
    data = json.loads(proc.stdout)  # raises on anything but exactly one document
    assert isinstance(data, dict) and data["version"] == 1 and not data["committed"]
    assert proc.stdout.count('"version"') == 1
    return data


def test_json_error_report_for_bad_input_exit_2(books: Path) -> None:
    (books / "bad.csv").write_bytes(b"\x00\x01garbage\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "bad.csv", "-a", ACCOUNT,
                              "--dry-run", "--json", cwd=books)
    assert proc.returncode == 2
    error = one_document(proc)["error"]
    assert (error["type"], error["exit_code"], error["file"]) == ("bad_input", 2, "bad.csv")
    assert "binary" in error["message"]
    assert "beanagent: error: bad.csv:" in proc.stderr  # the human line stays on stderr


def test_json_error_report_for_a_flag_caught_early(books: Path) -> None:
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--json", "--closing-balance", "lots", cwd=books)
    assert proc.returncode == 2
    data = one_document(proc)
    assert data["ledger"] == "books.beancount"
    assert data["error"]["type"] == "bad_input" and "--closing-balance" in data["error"]["message"]


def test_json_report_for_a_failed_check_exit_3(books: Path) -> None:
    (books / "bad.py").write_text(
        "propose.balance('Assets:Bank:Checking', date(2024, 3, 1), '1.00 USD')\n")
    proc = run_cli_in_process("run", "books.beancount", "bad.py", "--yes", "--json", cwd=books)
    assert proc.returncode == 3, proc.stderr
    data = one_document(proc)
    assert data["error"]["type"] == "check_failed" and data["error"]["exit_code"] == 3
    assert "fails bean-check (1 new error; first: proposal P1: Balance failed" in \
        data["error"]["message"]
    assert data["check"]["passed"] is False  # the whole report, not only the error


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_json_error_report_for_an_agent_failure_exit_5(books: Path, d: Any) -> None:
    fake = FakeAPI([d.error(429, "slow down")] * 3)
    proc = reconcile(books, d, fake, "--json")
    assert proc.returncode == 5, proc.stderr
    error = one_document(proc)["error"]
    assert (error["type"], error["exit_code"]) == ("agent", 5)
    assert "HTTP 429: slow down" in error["message"]


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_finish_without_a_script_is_an_agent_failure_that_shows_what_it_said(
        books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("finish", {"summary": "Nothing to do here."}, 1)])
    proc = reconcile(books, d, fake, "--json")
    assert proc.returncode == 5, proc.stderr
    data = one_document(proc)
    error = data["error"]
    assert error["type"] == "agent"
    assert error["message"] == (f"the {d.name} agent ran no script (it finished); it said: "
                                "Nothing to do here.")
    # What the model did and cost is reported with the failure (one request here).
    agent = data["agent"]
    assert (agent["name"], agent["steps"], agent["ended"], agent["summary"]) == (
        d.name, 0, "finish", "Nothing to do here.")
    assert agent["usage"]["output_tokens"] == 20 and agent["seconds"] > 0



@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_max_reply_tokens_reaches_the_wire(books: Path, d: Any) -> None:
    """For a slow local model: each reply's length is capped as the user says."""
    fake = FakeAPI([d.call("run_python", {"code": LOOK}, 1),
                    d.call("finish", {"summary": "done"}, 2)])
    proc = reconcile(books, d, fake, "--max-reply-tokens", "64", "--request-timeout", "30")
    assert proc.returncode == 0, proc.stderr
    assert [r["max_tokens"] for r in fake.requests] == [64, 64]


def test_a_script_that_proposes_nothing_is_named_and_the_lines_listed(books: Path) -> None:
    (books / "look.py").write_text(LOOK)
    proc = run_cli_in_process("run", "books.beancount", "look.py", "march.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing proposed by the script look.py: 4 statement lines are still unbooked:" \
        in proc.stderr
    assert all(f"  {line}" in proc.stderr for line in UNBOOKED)
