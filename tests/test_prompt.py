"""What the LLM agent is told (issue 15): the API reference with the types scripts get back,
evidence as the data block names a line, the sign rule, the worked example and the budget,
only the accounts that matter (the rest counted), file names without folders, ledger text
that is never a placeholder, and the README's example script run on the sample ledger."""

from __future__ import annotations

import dataclasses
import datetime
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.agent.anthropic import AnthropicAgent
from beanagent.agent.facts import (
    TYPES,
    api_reference,
    describe_type,
    ledger_facts,
    statement_summary,
)
from beanagent.agent.llm import LLMAgent
from beanagent.agent.offline import offline_script
from beanagent.core import proposals
from beanagent.ledger.load import load_ledger
from beanagent.ledger.view import AccountInfo, LedgerView
from beanagent.model import Task
from beanagent.settings import load_settings
from beanagent.statements.model import Ref, Statement, StatementLine
from beanagent.workflow import reconcile
from tests.dialects import KEY
from tests.fake_anthropic import FakeAPI, serve, tool_use
from tests.helpers import RecordingUI
from tests.test_llm_agents import ACCOUNT

REPO = Path(__file__).resolve().parent.parent
D = datetime.date


def _statement(file: str = "/home/jane/private/bank/march.csv", n: int = 3) -> Statement:
    lines = tuple(StatementLine(Ref(file, i + 2), D(2024, 3, i + 1), Decimal(f"-{i + 1}.00"),
                                f"SHOP {i}") for i in range(n))
    return Statement(file, "csv", ACCOUNT, "USD", lines)


# --- 1. the types scripts get back --------------------------------------------------------


def test_reference_lists_every_field_of_what_scripts_get_back() -> None:
    text = api_reference()
    for _, cls in TYPES:
        fields = ([f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls)
                  else list(getattr(cls, "_fields", ())))
        assert fields, cls
        for name in fields:
            assert f"`.{name}:" in text, (cls.__name__, name)
    for needle in ("`MatchResult`", ".missing: tuple[StatementLine, ...]", "`Suggestion`",
                   ".confident` (property)", ".account: str", "`engine.review_account` (str)",
                   "`ledger.accounts` (Mapping[str, AccountInfo])", ".ledger_only:"):
        assert needle in text, needle
    assert "'str'" not in text  # annotations as written, not quoted


def test_a_new_field_appears_with_its_comment() -> None:
    @dataclasses.dataclass(frozen=True)
    class Newer:
        """A type grown by one field."""

        old: int
        counterparty_iban: str | None = None  # the other side's account number

    text = describe_type(Newer, "engine.newer() ->")
    assert "- engine.newer() -> `Newer`: A type grown by one field." in text
    assert "`.counterparty_iban: str | None` (the other side's account number)" in text


# --- 2. evidence as the data block names a line -------------------------------------------


def test_evidence_by_index_resolves_to_that_line() -> None:
    st = _statement("bank/march.csv")
    assert '{"statement": 0, "line": 2,' in statement_summary([st])
    assert proposals.resolve_evidence({"statement": 0, "line": 2}, [st]) == \
        st.lines[2].ref.to_json()
    assert proposals.resolve_evidence({"file": "march.csv", "line": 3}, [st]) == \
        {"file": "bank/march.csv", "line": 3}  # the name the prompt shows
    with pytest.raises(proposals.ProposalError, match=r"has 3 lines \(0 to 2\), not line 3"):
        proposals.resolve_evidence({"statement": 0, "line": 3}, [st])
    with pytest.raises(proposals.ProposalError, match=r"no statements\[1\]"):
        proposals.resolve_evidence({"statement": 1, "line": 0}, [st])
    with pytest.raises(proposals.ProposalError, match="integers"):
        proposals.resolve_evidence({"statement": 0, "line": "8"}, [st])


def _txn(evidence: list[object]) -> dict[str, object]:
    return {"kind": "transaction", "date": "2024-03-03", "narration": "shop",
            "postings": [{"account": ACCOUNT, "number": "-3.00", "currency": "USD"},
                         {"account": "Expenses:Food", "number": None, "currency": None}],
            "evidence": evidence}


def test_host_resolves_evidence_by_index() -> None:
    st = _statement("bank/march.csv")
    accounts = {a: AccountInfo(a, D(2024, 1, 1), None, (), {})
                for a in (ACCOUNT, "Expenses:Food")}
    items, warnings = proposals.validate_all(
        [_txn([{"statement": 0, "line": 2}]), _txn([{"statement": 0, "line": 9}])],
        accounts, [st], {})
    assert [i.spec.evidence for i in items] == [(st.lines[2].ref,)]
    assert "NO STATEMENT EVIDENCE" not in items[0].spec.reason
    assert warnings == ["proposal rejected: evidence {\"statement\": S, \"line\": N} names "
                        "statements[S].lines[N], as the <statement-data> block does (N counts "
                        "from 0): statements[0] has 3 lines (0 to 2), not line 9"]
    # the script's side knows no statements: the shape is checked, the line resolved later
    proposals.validate(_txn([{"statement": 0, "line": 2}]), accounts, {})


def test_a_model_cites_lines_as_the_data_block_names_them(books: Path) -> None:
    code = ("st = statements[0]\n"
            "propose.transaction(st.lines[5].date, 'Kale & Co', 'salad', "
            "[(st.account, st.lines[5].amount, 'USD'), ('Expenses:Food:Groceries',)], "
            "evidence=[{'statement': 0, 'line': 5}], meta=engine.bank_meta(st, st.lines[5]))\n")
    fake = FakeAPI([tool_use("run_python", {"code": code}, 1),
                    tool_use("finish", {"summary": "ok"}, 2)])
    with serve(fake):
        out = reconcile(books / "books.beancount", [books / "march.csv"],
                        AnthropicAgent(api_key=KEY, model="fake-model", base_url=fake.url),
                        load_settings(books / "books.beancount", account=ACCOUNT,
                                      dry_run=True), RecordingUI())  # type: ignore[arg-type]
    [item] = [p for p in out.proposals if p.spec.kind == "transaction"]
    assert item.spec.evidence == (out.statements[0].lines[5].ref,)
    assert item.spec.evidence[0].line == 7  # the physical line of the file
    assert "NO STATEMENT EVIDENCE" not in item.spec.reason


# --- 3. sign rule, worked example, budget -------------------------------------------------


def test_prompt_has_sign_rule_worked_example_and_budget() -> None:
    task = Task((_statement(),), "Expenses:FIXME", facts="(facts)")
    prompt = LLMAgent(model="m", max_steps=7, max_tokens_total=123_456,
                      max_seconds=90).system_prompt(task)
    assert "money into the account is\npositive" in prompt
    assert "books -12.00 USD to the card's account and 12.00 USD to the expense" in prompt
    body = offline_script().split("\n\n", 1)[1].strip()  # after its opening comments
    assert body in prompt  # read from its file, not a copy
    assert "at most 7 actions (tool calls) and 123,456 tokens" in prompt
    assert "90 seconds" in prompt
    assert "the review account, Expenses:FIXME" in prompt
    assert 'evidence=[{"statement": 0, "line": 8}]' in prompt


# --- 4. privacy: the accounts that matter, the rest counted; no folders -------------------


LEDGER = """\
option "operating_currency" "USD"
1990-01-01 open Assets:Bank:Checking USD
1990-01-01 open Liabilities:Card:Live USD
1990-01-01 open Expenses:Food
1990-01-01 open Assets:Broker:Fund FUND
1990-01-01 open Equity:Opening
{taxes}
1991-01-02 * "Old payroll"
  Assets:Bank:Checking  100.00 USD
{old}
2024-02-01 * "Grocer"
  Assets:Bank:Checking  -10.00 USD
  Expenses:Food
2024-02-05 * "{{statements}}" "pay the card"
  Assets:Bank:Checking  -50.00 USD
  Liabilities:Card:Live
"""


def _big_ledger(tmp_path: Path) -> Path:
    names = [f"Expenses:Taxes:Y{y}:Federal{i}" for y in range(1990, 2010) for i in range(15)]
    path = tmp_path / "big.beancount"
    path.write_text(LEDGER.format(taxes="\n".join(f"1990-01-01 open {n}" for n in names),
                                  old="  Expenses:Taxes:Y1990:Federal0  -100.00 USD"))
    return path


def test_facts_send_the_accounts_that_matter_and_count_the_rest(tmp_path: Path) -> None:
    loaded = load_ledger(_big_ledger(tmp_path))
    assert not loaded.errors, loaded.errors
    view = LedgerView(loaded.entries, loaded.options)
    facts = ledger_facts(view, [_statement()], "Expenses:FIXME")
    assert "Liabilities:Card:Live" in facts  # the live card, however many accounts
    assert "Expenses:Food" in facts
    assert "Expenses:Taxes:Y1995" not in facts and "Assets:Broker:Fund" not in facts
    assert re.search(r"\b30\d more accounts not shown", facts), facts
    assert "ledger.accounts" in facts
    assert "Expenses:FIXME, not open in the ledger yet" in facts
    assert len(facts.encode()) < 2000


def test_statements_are_named_without_their_folders() -> None:
    text = statement_summary([_statement("/home/jane/private/bank/march.csv")])
    assert '"march.csv"' in text and "/home/jane" not in text


# --- 5. ledger and statement text is never a placeholder ----------------------------------


def test_a_payee_named_like_a_placeholder_stays_text(tmp_path: Path) -> None:
    loaded = load_ledger(_big_ledger(tmp_path))
    view = LedgerView(loaded.entries, loaded.options)
    st = dataclasses.replace(_statement(), lines=(StatementLine(
        Ref("m.csv", 2), D(2024, 3, 1), Decimal("-1.00"), "ONCE {facts} {api} {example}"),))
    task = Task((st,), "Expenses:FIXME", ledger_facts(view, [st]))
    prompt = LLMAgent(model="m").system_prompt(task)
    assert '"{statements}"' in prompt  # the payee, quoted, as it is
    assert prompt.count("\n</statement-data>") == 1
    assert prompt.count("ONCE") == 1
    assert '"description": "ONCE {facts} {api} {example}"' in prompt


# --- 6. the README's example script, unchanged, on the sample ledger ----------------------


def readme_script() -> str:
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("## The script API", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    return str(code)


def test_readme_example_script_runs_on_the_sample(tmp_path: Path) -> None:
    shutil.copy(REPO / "ledgers" / "sample.beancount", tmp_path)
    shutil.copy(REPO / "ledgers" / "beanagent.toml", tmp_path)
    shutil.copytree(REPO / "ledgers" / "inbox", tmp_path / "inbox")
    (tmp_path / "script.py").write_text(readme_script(), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "beanagent", "run", "sample.beancount", "script.py",
         *sorted(f"inbox/{p.name}" for p in (tmp_path / "inbox").glob("*.csv")), "--dry-run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_facts_of_an_empty_ledger_say_so() -> None:
    facts = ledger_facts(LedgerView([], {}), [Statement("in/b.csv", "csv", "Assets:New", "EUR",
                                                         ())], "Expenses:FIXME")
    assert facts.startswith("No transactions; operating currencies: none; 0 accounts.")
    assert "Statement account Assets:New (NOT open in the ledger)" in facts
    assert "that a line could book to: none" in facts
    assert "Those are all 0 accounts" in facts


def test_a_cap_on_accounts_is_said_not_silent(tmp_path: Path) -> None:
    names = [f"Expenses:Shop{i:03}" for i in range(200)]
    path = tmp_path / "many.beancount"
    path.write_text("1990-01-01 open Assets:Bank:Checking USD\n" + "".join(
        f"1990-01-01 open {n}\n2024-02-01 * \"p{i}\"\n  Assets:Bank:Checking  -1.00 USD\n"
        f"  {n}\n" for i, n in enumerate(names)))
    loaded = load_ledger(path)
    assert not loaded.errors, loaded.errors
    facts = ledger_facts(LedgerView(loaded.entries, loaded.options), [_statement()])
    shown = [n for n in names if f"- {n} " in facts or f"- {n}\n" in facts]
    assert len(shown) == 150  # besides the statement's own account
    assert "50 more accounts not shown" in facts
    assert "50 of them would fit but are over this list's cap" in facts


def test_the_prompts_own_example_reconciles_the_sample_in_two_steps(tmp_path: Path) -> None:
    """A scripted model that runs the worked example as the prompt shows it, then finishes:
    the sample's statements are reconciled and the proof refuses nothing."""
    from beanagent.agent.facts import worked_example

    shutil.copy(REPO / "ledgers" / "sample.beancount", tmp_path)
    shutil.copy(REPO / "ledgers" / "beanagent.toml", tmp_path)
    shutil.copytree(REPO / "ledgers" / "inbox", tmp_path / "inbox")
    code = worked_example()
    fake = FakeAPI([tool_use("run_python", {"code": code}, 1),
                    tool_use("finish", {"summary": "done"}, 2)])
    ledger = tmp_path / "sample.beancount"
    with serve(fake):
        out = reconcile(ledger, sorted((tmp_path / "inbox").glob("*.csv")),
                        AnthropicAgent(api_key=KEY, model="fake-model", base_url=fake.url),
                        load_settings(ledger, dry_run=True), RecordingUI())  # type: ignore[arg-type]
    [system] = fake.requests[0]["system"]
    assert f"```python\n{code}\n```" in system["text"]
    assert len(fake.requests) == 2 and out.agent is not None and len(out.agent.steps) == 1
    assert out.proof is not None and not out.proof.refused
    kinds = [p.spec.kind for p in out.proposals]
    assert kinds.count("transaction") >= 5 and "balance" in kinds
    assert str(tmp_path) not in system["text"]  # no folders


def test_money_accounts_without_a_constraint_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "l.beancount"
    path.write_text("""\
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Assets:Bank:Savings
2024-01-01 open Assets:Broker:Shares
2024-01-01 open Equity:Opening
2024-01-02 * "opening"
  Assets:Bank:Savings  100.00 USD
  Assets:Broker:Shares  10 ACME
  Equity:Opening
""")
    loaded = load_ledger(path)
    assert not loaded.errors, loaded.errors
    facts = ledger_facts(LedgerView(loaded.entries, loaded.options), [_statement()])
    assert "- Assets:Bank:Savings" in facts and "Assets:Broker:Shares" not in facts


def test_plain_tools_get_the_same_rules_and_their_own_budget() -> None:
    task = Task((_statement(),), "Expenses:FIXME", facts="(facts)")
    prompt = LLMAgent(model="m", actions="json").system_prompt(task)
    assert "at most 40 actions (tool calls)" in prompt and "Signs:" in prompt
    assert not re.search(r"\{(api|example|actions|review|steps|tokens|seconds|facts|"
                         r"statements)\}", prompt)
