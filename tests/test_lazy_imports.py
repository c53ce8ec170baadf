"""Issue 16, "nothing waits on an import it doesn't need": reading a CSV statement pulls in
neither ofxtools (~0.3 s) nor the LLM SDKs nor beangulp; an OFX file does bring ofxtools
(so the check can fail). Each in a fresh interpreter: sys.modules of this one is shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("ofxtools", "anthropic", "openai", "beangulp", "mt940", "defusedxml")
PROBE = """
import sys, pathlib
from beanagent.statements.dispatch import parse_statement_file
parse_statement_file(pathlib.Path(sys.argv[1]), "stmt")
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_after_reading(path: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), str(path)],
                          capture_output=True, text=True, check=True)
    return set(filter(None, done.stdout.strip().split(",")))


def test_a_csv_imports_no_other_format_or_agent(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("Date,Description,Amount\n2025-01-02,Coffee,-2.45\n", encoding="utf-8")
    assert loaded_after_reading(path) == set()


def test_an_ofx_file_brings_ofxtools(tmp_path: Path) -> None:
    path = tmp_path / "bank.ofx"
    path.write_text(
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS>"
        "<CURDEF>USD<BANKACCTFROM><BANKID>1<ACCTID>42<ACCTTYPE>CHECKING</BANKACCTFROM>"
        "<BANKTRANLIST><DTSTART>20250101<DTEND>20250131<STMTTRN><TRNTYPE>DEBIT"
        "<DTPOSTED>20250102<TRNAMT>-2.45<FITID>F1<NAME>Coffee</STMTTRN></BANKTRANLIST>"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n", encoding="utf-8")
    assert "ofxtools" in loaded_after_reading(path)


HELP_PROBE = """
import contextlib, io, sys
sys.argv = ["beanagent", *sys.argv[1:]]
from beanagent.cli import app
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        app()
    except SystemExit:
        pass
print("pydantic" in sys.modules, "--dry-run" in out.getvalue())
"""


def _help_run(*args: str) -> str:
    return subprocess.run([sys.executable, "-c", HELP_PROBE, *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_command_help_needs_no_pydantic() -> None:
    """typer coerces even unset options through a pydantic adapter; unset ones skip it
    (cli._unset_options_skip_pydantic), so `reconcile --help` doesn't import pydantic."""
    assert _help_run("reconcile", "--help") == "False True"


def test_options_given_are_still_coerced_and_checked(tmp_path: Path) -> None:
    """A value still goes through typer's own coercion: a word or a number below the
    minimum for --max-steps is refused with typer's message (exit 2)."""
    command = Path(sys.executable).parent / "beanagent"
    ledger = tmp_path / "l.beancount"
    ledger.write_text("2025-01-01 open Assets:Bank\n")
    bad = subprocess.run([command, "reconcile", str(ledger), "--max-steps", "many"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "'--max-steps'" in bad.stderr and "integer" in bad.stderr
    zero = subprocess.run([command, "reconcile", str(ledger), "--max-steps", "0"],
                          capture_output=True, text=True)
    assert zero.returncode == 2 and "greater than or equal to 1" in zero.stderr


TYPES_PROBE = """
import sys
sys.argv = ["beanagent", *sys.argv[1:]]
import beanagent.workflow as wf

def seen(ledger, statements, agent, settings, *rest, **kw):
    print("pydantic" in sys.modules, type(ledger).__name__,
          [type(s).__name__ for s in statements], settings.account, settings.dry_run)
    raise SystemExit(0)

wf.reconcile = seen
from beanagent.cli import app
try:
    app()
except SystemExit:
    pass
"""


def test_text_path_and_flag_values_need_no_pydantic(tmp_path: Path) -> None:
    """Given values of plain types (a path, a list of paths, text, a flag) are coerced
    without typer's pydantic adapter (cli._plain_coercion), to the types it would give."""
    ledger = tmp_path / "l.beancount"
    ledger.write_text("2025-01-01 open Assets:Bank\n")
    statement = tmp_path / "s.csv"
    statement.write_text("Date,Description,Amount\n2025-01-02,Coffee,-2.45\n")
    done = subprocess.run([sys.executable, "-c", TYPES_PROBE, "reconcile", str(ledger),
                           str(statement), "--account", "Assets:Bank", "--dry-run"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "PosixPath", "['PosixPath']", "Assets:Bank",
                                   "True"]


RUN_PROBE = """
import contextlib, io, os, sys
sys.argv = ["beanagent", *sys.argv[1:]]
from beanagent.entry import main
os._exit = sys.exit  # the command's fast exit, made a normal one to report after it
code = 0
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
print("exit", code, file=sys.stderr)
print(",".join(sorted(m for m in sys.modules if m.startswith((
    "beanagent.sandbox.server", "beanagent.sandbox.serverload",
    "beanagent.sandbox.incremental", "beanagent.sandbox.local", "beanagent.sandbox.history",
    "beanagent.agent.anthropic", "beanagent.agent.openai")))))
"""


def test_the_host_never_imports_the_servers_modules(tmp_path: Path) -> None:
    """The sandbox server's own modules (its load, the check) run in the server: the host
    reads their limits from the protocol module, and an offline run needs no LLM agent."""
    ledgers = Path(__file__).resolve().parents[1] / "ledgers"
    done = subprocess.run(
        [sys.executable, "-c", RUN_PROBE, "reconcile", str(ledgers / "sample.beancount"),
         str(ledgers / "inbox" / "bofa-checking-2025-11.csv"), "--dry-run", "--no-cache"],
        capture_output=True, text=True, check=True, cwd=tmp_path)
    assert "exit 0" in done.stderr, done.stderr
    assert done.stdout.strip() == ""
