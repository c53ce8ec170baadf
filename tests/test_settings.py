"""One definition per setting: defaults, then beanagent.toml, then the environment, then
flags; every value checked for type and range, a bad one refused in one line (exit 2)."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CONFIDENT, CsvOptions, Settings, load_settings
from tests.helpers import run_cli_in_process

E2E = Path(__file__).parent / "data" / "e2e"
ACCOUNT = "Assets:Bank:Checking"
# A proposal the script marks `*` at confidence 0.7: only the review's own threshold can
# highlight it.
SCRIPT = """\
st = statements[0]
line = st.lines[-1]
propose.transaction(line.date, "Kale & Co", "groceries",
                    [(st.account, line.amount, st.currency), ("Expenses:Food:Coffee",)],
                    evidence=[line], confidence=0.7, reason="a guess")
"""


@pytest.fixture
def books(tmp_path: Path) -> Path:
    for name in ("books.beancount", "march.csv"):
        shutil.copy(E2E / name, tmp_path / name)
    (tmp_path / "guess.py").write_text(SCRIPT)
    return tmp_path


def marked(books: Path) -> str:
    proc = run_cli_in_process("run", "books.beancount", "guess.py", "march.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books)
    assert proc.returncode == 0, proc.stderr
    row = next(ln for ln in proc.stderr.splitlines() if re.match(r"P1\b", ln))
    return row.split()[1]  # "!" when highlighted, else the date


def test_confident_in_beanagent_toml_changes_the_reviews_highlight(books: Path) -> None:
    assert marked(books) == "2024-03-08"  # 0.7 is above the default 0.6
    (books / "beanagent.toml").write_text("confident = 0.75\n")
    assert marked(books) == "!"  # below the user's threshold: highlighted


def test_defaults_are_defined_once(books: Path) -> None:
    settings = load_settings(books / "books.beancount")
    assert settings == Settings() and settings.confident == CONFIDENT == Decimal("0.6")
    assert settings.step_limit == 12 and Settings(actions="json").step_limit == 40


def test_precedence_file_then_environment_then_flags(books: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (books / "beanagent.toml").write_text('model = "from-file"\nwindow_days = 3\n')
    ledger = books / "books.beancount"
    monkeypatch.delenv("BEANAGENT_MODEL", raising=False)
    assert load_settings(ledger).model == "from-file"
    monkeypatch.setenv("BEANAGENT_MODEL", "from-env")
    assert load_settings(ledger).model == "from-env"
    assert load_settings(ledger, model="from-flag").model == "from-flag"
    assert load_settings(ledger, model=None).model == "from-env"  # a flag not given
    assert load_settings(ledger).window_days == 3


def test_statement_rules_and_flags_merge_into_one_csv_shape(books: Path) -> None:
    (books / "beanagent.toml").write_text(
        '[[statement]]\nmatch = "march*.csv"\naccount = "Assets:Bank:Checking"\n'
        'date_format = "%Y-%m-%d"\nnegate = false\n')
    settings = load_settings(books / "books.beancount", csv=CsvOptions(decimal=","))
    assert settings.csv_for(books / "march.csv") == CsvOptions(
        date_format="%Y-%m-%d", negate=False, decimal=",")
    assert settings.csv_for(books / "other.csv") == CsvOptions(decimal=",")


@pytest.mark.parametrize(("text", "message"), [
    ('confident = "high"', "confident must be a number from 0 to 1, like 0.6, not 'high'"),
    ("confident = 1.5", "confident must be a number from 0 to 1"),
    ("window_days = -1", "window_days must be a whole number of days from 0 to 60"),
    ("window_days = true", "window_days must be a whole number of days"),
    ("step_timeout = 0", "step_timeout must be a number of seconds above 0"),
    ("max_steps = 2.5", "max_steps must be a whole number above 0"),
    ('review_account = "fixme"', "review_account must be an account name"),
    ("colour = 1", "unknown setting 'colour'"),
    ('[[statement]]\naccount = "Assets:X"', "each [[statement]] needs a 'match' glob"),
    ('[[statement]]\nmatch = "*.csv"\nnegate = "yes"', "statement setting negate has the "
     "wrong type"),
])
def test_a_bad_value_is_one_clear_error(books: Path, text: str, message: str) -> None:
    (books / "beanagent.toml").write_text(text + "\n")
    with pytest.raises(BadInputError) as info:
        load_settings(books / "books.beancount")
    assert message in str(info.value)
    assert info.value.file == str(books / "beanagent.toml") and info.value.exit_code == 2


def test_a_bad_value_exits_2_with_one_line_and_no_traceback(books: Path) -> None:
    (books / "beanagent.toml").write_text('confident = "high"\n')
    before = (books / "books.beancount").read_bytes()
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"beanagent: error: {books / 'beanagent.toml'}: confident must be a number from 0 "
        "to 1, like 0.6, not 'high'"]
    assert (books / "books.beancount").read_bytes() == before
