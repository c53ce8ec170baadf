"""A run with no statements: the findings shown through the UI, in the JSON report, exit
0, and nothing written; by the workflow and by the bare command."""

from __future__ import annotations

import json
from pathlib import Path

from beanagent.agent.offline import OfflineAgent
from beanagent.errors import ExitCode
from beanagent.settings import load_settings
from beanagent.ui.findings import format_findings
from beanagent.ui.report import build_report
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, report, run_cli_in_process, tree_hashes
from tests.test_findings import PLANTED, line_of

KINDS = ["balance", "transfer-twice", "transfer-one-side", "duplicate", "stale-flag",
         "dormant"]


def test_the_workflow_without_statements_reports_findings_and_writes_nothing(
        tmp_path: Path) -> None:
    ledger = tmp_path / "books.beancount"
    ledger.write_text(PLANTED, encoding="utf-8")
    before = tree_hashes(tmp_path)
    ui = RecordingUI()
    outcome = reconcile(ledger, [], OfflineAgent(), load_settings(ledger, yes=False), ui)
    assert outcome.exit_code == ExitCode.OK
    assert [f.kind for f in outcome.findings] == KINDS
    assert ui.found == [list(outcome.findings)] and ui.outcomes == [outcome]
    assert ui.asked == [] and ui.steps == [] and not outcome.committed  # no agent, no review
    assert tree_hashes(tmp_path) == before
    rep = build_report(outcome)
    assert rep["proposals"] == [] and rep["statements"] == []
    first = rep["findings"][0]
    assert first["kind"] == "balance" and first["line"] == line_of(PLANTED, "2025-04-01 balance")
    assert set(first) == {"kind", "message", "file", "line", "fix", "related"}
    assert first["related"] == [{"file": str(ledger), "line": line_of(PLANTED, "-88.36") - 1}]


def test_the_console_shows_each_finding_with_where_and_the_fix(tmp_path: Path) -> None:
    ledger = tmp_path / "books.beancount"
    ledger.write_text(PLANTED, encoding="utf-8")
    outcome = reconcile(ledger, [], OfflineAgent(), load_settings(ledger, dry_run=True),
                        RecordingUI())
    text = format_findings(outcome.findings).plain
    assert text.startswith("Findings (6)")
    assert f"books.beancount:{line_of(PLANTED, 'Corner Deli')} " in text
    assert text.count("fix: ") == 6
    assert "No findings" in format_findings(()).plain


def test_the_bare_command_with_an_empty_inbox_shows_findings_and_exits_0(
        tmp_path: Path) -> None:
    (tmp_path / "books.beancount").write_text(PLANTED, encoding="utf-8")
    before = tree_hashes(tmp_path)
    proc = run_cli_in_process("reconcile", "books.beancount", "--dry-run", "--json",
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert [f["kind"] for f in rep["findings"]] == KINDS
    assert {(f["file"], f["line"]) for f in rep["findings"]} >= {
        ("books.beancount", line_of(PLANTED, "Payment - thank you"))}
    assert rep["committed"] is False and rep["proposals"] == []
    proc = run_cli_in_process("reconcile", "books.beancount", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Findings (6)" in proc.stderr and "fix: delete one of the two" in proc.stderr
    assert "Nothing to propose" not in proc.stderr
    assert tree_hashes(tmp_path) == before


def test_other_errors_of_the_ledger_are_warned_about_once(tmp_path: Path) -> None:
    ledger = tmp_path / "books.beancount"
    ledger.write_text(PLANTED + '\n2025-05-20 * "Nowhere"\n  Assets:Bank:Checking  -1.00 USD'
                      '\n  Expenses:Unopened\n', encoding="utf-8")
    bad = len(PLANTED.splitlines()) + 2  # the entry with the unopened account
    ui = RecordingUI()
    outcome = reconcile(ledger, [], OfflineAgent(), load_settings(ledger, dry_run=True), ui)
    assert outcome.exit_code == ExitCode.OK
    # the failing assertion is a finding; the unopened account is the one other error
    assert [w for w in ui.warnings if "bean-check" in w] == [
        f"{ledger} has 1 other bean-check error(s) (first: {ledger}:{bad}: Invalid "
        "reference to unknown account 'Expenses:Unopened')"]


def test_the_audit_record_keeps_the_findings(tmp_path: Path) -> None:
    (tmp_path / "books.beancount").write_text(PLANTED, encoding="utf-8")
    proc = run_cli_in_process("reconcile", "books.beancount", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    logged = run_cli_in_process("log", "books.beancount", "last", "--json", cwd=tmp_path)
    assert logged.returncode == 0, logged.stderr
    assert [f["kind"] for f in json.loads(logged.stdout)["findings"]] == KINDS
