"""Edits made during review: parsed, held to the proposals' rulebook, and (through the
workflow) re-staged and re-checked before anything is written."""

from __future__ import annotations

import dataclasses
import datetime
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.core.edit import Reviser, apply_decisions, format_for_edit, same_entry
from beanagent.core.proposals import ProposalError, format_directive
from beanagent.errors import BadInputError, ExitCode
from beanagent.ledger.view import AccountInfo
from beanagent.model import Decision, PostingSpec, Proposal, Spec
from beanagent.settings import load_settings
from beanagent.statements.model import Ref
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, bean_check, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
ACCOUNT = "Assets:Bank:Checking"
D = datetime.date
REF = Ref("march.csv", 4, None)


def _info(name: str, opened: str = "2024-01-01", closed: str | None = None,
          currencies: tuple[str, ...] = ()) -> AccountInfo:
    return AccountInfo(name, D.fromisoformat(opened),
                       D.fromisoformat(closed) if closed else None, currencies, {})


ACCOUNTS = {a.name: a for a in (
    _info("Assets:Bank:Checking", currencies=("USD",)),
    _info("Expenses:Food:Coffee"), _info("Expenses:Food:Groceries"),
    _info("Expenses:Old", closed="2024-02-01"),
)}


def _txn(counter: str = "Expenses:Food:Coffee", flag: str = "*") -> Proposal:
    spec = Spec("transaction", D(2024, 3, 4), flag=flag, payee="Blue Bottle Coffee",
                narration="SQ *BLUE BOTTLE COFFEE",
                postings=(PostingSpec(ACCOUNT, Decimal("-4.75"), "USD"),
                          PostingSpec(counter, Decimal("4.75"), "USD")),
                meta=(("bank_ref", "h:1"),), evidence=(REF,), confidence=Decimal("0.4"),
                reason="like earlier coffee")
    return Proposal("P1", spec, format_directive(spec))


def _open(account: str = "Expenses:FIXME") -> Proposal:
    spec = Spec("open", D(2024, 3, 1), account=account)
    return Proposal("P2", spec, format_directive(spec))


def _balance() -> Proposal:
    spec = Spec("balance", D(2024, 3, 9), account=ACCOUNT, number=Decimal("10.00"),
                currency="USD", evidence=(REF,))
    return Proposal("P3", spec, format_directive(spec))


def _reviser(*items: Proposal) -> Reviser:
    return Reviser(lambda: ACCOUNTS, list(items))


def test_an_edit_becomes_a_new_item_rendered_by_the_printer() -> None:
    item = _txn()
    edited = item.text.replace("Expenses:Food:Coffee", "Expenses:Food:Groceries")
    revised = _reviser(item)(item, "; a note the printer drops\n" + edited)
    assert [p.account for p in revised.spec.postings] == [ACCOUNT, "Expenses:Food:Groceries"]
    assert revised.text == format_directive(revised.spec)
    assert "note" not in revised.text and "Expenses:Food:Groceries" in revised.text
    # what it rests on stays; the agent's confidence no longer describes a person's entry
    assert revised.spec.evidence == (REF,) and revised.spec.reason == "like earlier coffee"
    assert revised.spec.confidence is None
    assert revised.spec.meta == (("bank_ref", "h:1"),)
    assert not same_entry(revised, item)
    assert same_entry(_reviser(item)(item, item.text), item)


def test_an_elided_amount_and_a_flag_change_are_fine() -> None:
    item = _txn("Expenses:FIXME", flag="!")
    text = item.text.replace("! ", "* ", 1).replace("Expenses:FIXME", "Expenses:Food:Coffee")
    text = re.sub(r"(Expenses:Food:Coffee)\s+4\.75 USD", r"\1", text)
    revised = _reviser(item)(item, text)
    assert revised.spec.flag == "*"
    assert revised.spec.postings[1] == PostingSpec("Expenses:Food:Coffee", None, None)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: re.sub(r"(Expenses:Food:Coffee\s+)4\.75", r"\g<1>5.75", t),
     "transaction does not balance: postings sum to 1.00 USD"),
    (lambda t: t.replace("Expenses:Food:Coffee", "Expenses:Nope"),
     "account Expenses:Nope does not exist in the ledger"),
    (lambda t: t.replace("Expenses:Food:Coffee", "Expenses:Old"),
     "account Expenses:Old is not open on 2024-03-04"),
    (lambda t: t.replace("Expenses:Food:Coffee", "expenses:food"), "line 4"),
    (lambda t: t + "\n" + t, "exactly one transaction entry (found 2 directives)"),
    (lambda t: "", "exactly one transaction entry (found 0 directives)"),
    (lambda t: "2024-03-04 open Expenses:Food:Kale\n", "the edit must stay one (found a open"),
    (lambda t: 'option "title" "x"\n' + t, "only the entry itself can be edited here"),
    (lambda t: 'include "other.beancount"\n' + t, "only the entry itself"),
    (lambda t: 'plugin "beancount.plugins.auto_accounts"\n' + t, "only the entry itself"),
    (lambda t: t.replace("-4.75 USD", "-4.75 USD @ 1 EUR"), "costs and prices"),
    (lambda t: t.replace("-4.75 USD", "-4.75"), "needs a number and a currency"),
    (lambda t: t.replace("4.75 USD", "4.75 EUR").replace("-4.75 EUR", "-4.75 USD"),
     "does not balance"),
    (lambda t: t.replace("-4.75 USD", "-4.75 EUR").replace(" 4.75 USD", " 4.75 EUR"),
     "Assets:Bank:Checking only holds USD, not EUR"),
    (lambda t: t.replace('bank_ref: "h:1"', "bank_ref: 12"), "meta value of bank_ref"),
    (lambda t: t.replace("* ", "P ", 1), "flag must be '*' or '!'"),
])
def test_a_broken_edit_is_refused_with_the_reason(change, message) -> None:  # type: ignore[no-untyped-def]
    item = _txn()
    with pytest.raises(ProposalError) as info:
        _reviser(item)(item, change(item.text))
    assert message in str(info.value)


def test_balance_and_open_edits_go_through_the_same_rules() -> None:
    bal = _balance()
    revised = _reviser(bal)(bal, bal.text.replace("10.00", "12.50"))
    assert revised.spec.number == Decimal("12.50") and revised.spec.evidence == (REF,)
    with pytest.raises(ProposalError, match="tolerance"):
        _reviser(bal)(bal, bal.text.replace("10.00 USD", "10.00 ~ 0.01 USD"))
    with pytest.raises(ProposalError, match="not open"):
        _reviser(bal)(bal, bal.text.replace("2024-03-09", "2023-03-09"))
    op = _open()
    assert _reviser(op)(op, "2024-03-01 open Expenses:Food:Kale USD\n").spec.currencies == (
        "USD",)
    with pytest.raises(ProposalError, match="already open"):
        _reviser(op)(op, "2024-03-01 open Expenses:Food:Coffee\n")
    with pytest.raises(ProposalError, match="booking method"):
        _reviser(op)(op, '2024-03-01 open Expenses:Food:Kale USD "FIFO"\n')


def test_an_account_another_proposal_opens_may_be_used_and_edited_opens_count() -> None:
    txn, op = _txn(), _open("Expenses:FIXME")
    reviser = _reviser(txn, op)
    assert reviser(txn, txn.text.replace("Expenses:Food:Coffee", "Expenses:FIXME"))
    with pytest.raises(ProposalError, match="Expenses:Food:Kale does not exist"):
        reviser(txn, txn.text.replace("Expenses:Food:Coffee", "Expenses:Food:Kale"))
    reviser(op, "2024-03-01 open Expenses:Food:Kale\n")  # the user opens it by editing P2
    assert reviser(txn, txn.text.replace("Expenses:Food:Coffee", "Expenses:Food:Kale"))


def test_apply_decisions_runs_the_rules_again_and_keeps_the_order() -> None:
    txn, op, bal = _txn(), _open(), _balance()
    items = [txn, op, bal]
    reviser = _reviser(*items)
    edited = txn.text.replace("Expenses:Food:Coffee", "Expenses:Food:Groceries")
    chosen, changed = apply_decisions(
        items, [Decision("P3", True), Decision("P2", False), Decision("P1", True, edited)],
        reviser)
    assert [i.id for i in chosen] == ["P1", "P3"] and changed == ["P1"]
    assert "Expenses:Food:Groceries" in chosen[0].text and chosen[1] is bal
    # an "edit" that writes the same directive is no edit
    chosen, changed = apply_decisions(items, [Decision("P1", True, txn.text)], reviser)
    assert changed == [] and chosen == [txn]
    # the UI's word is not trusted: a bad text is refused here too
    with pytest.raises(BadInputError, match="your edit of P1 is not valid"):
        apply_decisions(items, [Decision("P1", True, "nonsense\n")], reviser)
    with pytest.raises(BadInputError, match="unknown proposals: P9"):
        apply_decisions(items, [Decision("P9", True)], reviser)


def test_the_editor_buffer_has_a_header_and_keeps_the_last_attempt() -> None:
    item = _txn()
    first = format_for_edit(item)
    assert first.startswith("; P1: edit this transaction") and item.text in first
    assert all(row.startswith(";") for row in first.split(item.text)[1].splitlines())
    again = format_for_edit(item, "; old header\n2024-03-04 * broken\n", "line 2: boom")
    assert "; NOT ACCEPTED: line 2: boom\n" in again
    assert "\n2024-03-04 * broken\n;" in again and "old header" not in again
    assert _reviser(item)(item, first) is not None  # the header itself parses as comments


# --- through the workflow ---------------------------------------------------------------

@pytest.fixture
def e2e(tmp_path: Path) -> Path:
    for name in ("books.beancount", "march.csv"):
        shutil.copy(E2E / name, tmp_path / name)
    return tmp_path


def _coffee_to_groceries(items: list[Proposal]) -> list[Decision]:
    out = []
    for item in items:
        text = None
        if "Expenses:Food:Coffee" in item.text and item.spec.kind == "transaction":
            text = item.text.replace("Expenses:Food:Coffee", "Expenses:Food:Groceries")
        out.append(Decision(item.id, True, text))
    return out


def test_an_edited_entry_is_restaged_checked_and_written(e2e: Path) -> None:
    ledger = e2e / "books.beancount"
    ui = RecordingUI(_coffee_to_groceries)
    outcome = reconcile(ledger, [e2e / "march.csv"], OfflineAgent(),
                        load_settings(ledger, account=ACCOUNT), ui)
    assert outcome.committed and outcome.exit_code == 0
    assert len(outcome.edited) == 1
    assert "checking the staged ledger again (bean-check)" in ui.messages
    text = ledger.read_text()
    new = text.split('2024-03-04 * "Blue Bottle Coffee"')[1].split("\n\n")[0]
    assert re.search(r"\n  Expenses:Food:Groceries +4\.75 USD", new), new
    assert "Expenses:Food:Coffee" not in new
    assert bean_check(ledger) == []
    [shown] = ui.summaries  # before the write: the same decisions, not yet committed
    assert shown == dataclasses.replace(outcome, committed=False, written=())
    edited = next(i for i in outcome.proposals if i.id == outcome.edited[0])
    assert "Expenses:Food:Groceries" in edited.text and edited.spec.confidence is None


def test_an_edit_the_gate_rejects_writes_nothing(e2e: Path) -> None:
    """An edit can pass the rules and still break the set: here P4 opens another account
    than the one P5 uses. The re-check catches it: exit 3, nothing written."""
    before = tree_hashes(e2e)

    def open_another(items: list[Proposal]) -> list[Decision]:
        return [Decision(i.id, True, "2024-03-04 open Expenses:Review\n"
                         if i.spec.kind == "open" else None) for i in items]

    ui = RecordingUI(open_another)
    outcome = reconcile(e2e / "books.beancount", [e2e / "march.csv"], OfflineAgent(),
                        load_settings(e2e / "books.beancount", account=ACCOUNT), ui)
    assert outcome.exit_code == ExitCode.CHECK_FAILED and not outcome.committed
    assert outcome.gate is not None and not outcome.gate.passed
    assert any("Expenses:FIXME" in e.message and e.proposal for e in outcome.gate.errors)
    assert ui.summaries == [outcome]  # the user is told, before the exit
    assert tree_hashes(e2e) == before


SCRIPT = """\
propose.transaction(date(2024, 3, 9), "Corner Deli", "Lunch",
                    [("Assets:Bank:Checking", "-7.00 USD"), ("Expenses:Food:Groceries",)])
propose.balance("Assets:Bank:Checking", date(2024, 3, 10), "{balance} USD")
"""


def test_an_edit_that_breaks_the_balance_drops_it_and_says_so(e2e: Path) -> None:
    from beanagent.agent.script import ScriptAgent

    # the account holds 1859.23 USD after the ledger's last entry (2024-03-02)
    code = SCRIPT.format(balance=Decimal("1859.23") - Decimal("7.00"))

    def cheaper_lunch(items: list[Proposal]) -> list[Decision]:
        return [Decision(i.id, True, i.text.replace("-7.00 USD", "-6.00 USD")
                         if i.spec.kind == "transaction" else None) for i in items]

    ui = RecordingUI(cheaper_lunch)
    outcome = reconcile(e2e / "books.beancount", [], ScriptAgent(code, "s.py"),
                        load_settings(e2e / "books.beancount"), ui)
    assert [i.spec.kind for i in ui.asked[0]] == ["transaction", "balance"]
    assert outcome.committed and outcome.accepted == ("P1",) and outcome.edited == ("P1",)
    assert [d.id for d in outcome.decisions if d.accepted] == ["P1", "P2"]  # P2 dropped
    assert any("balance assertion no longer holds" in w for w in ui.warnings)
    text = (e2e / "books.beancount").read_text()
    assert re.search(r"Assets:Bank:Checking +-6\.00 USD", text)
    assert " balance Assets" not in text
    assert bean_check(e2e / "books.beancount") == []


def test_yes_accepts_everything_without_restaging(e2e: Path) -> None:
    ui = RecordingUI()
    outcome = reconcile(e2e / "books.beancount", [e2e / "march.csv"], OfflineAgent(),
                        load_settings(e2e / "books.beancount", account=ACCOUNT, yes=True), ui)
    assert outcome.committed and ui.asked == [] and outcome.edited == ()
    assert all(d.accepted and d.text is None for d in outcome.decisions)
    assert [d.id for d in outcome.decisions] == [i.id for i in outcome.proposals]
    assert not any("again" in m for m in ui.messages)
    [shown] = ui.summaries  # before the write: the same decisions, not yet committed
    assert shown == dataclasses.replace(outcome, committed=False, written=())


def test_a_ui_returning_an_invalid_edit_writes_nothing(e2e: Path) -> None:
    before = tree_hashes(e2e)

    def bad(items: list[Proposal]) -> list[Decision]:
        return [dataclasses.replace(d, text="2024-03-04 * \"x\"\n  Expenses:Nope  1 USD\n"
                                    "  Assets:Bank:Checking\n" if d.id == "P1" else None)
                for d in (Decision(i.id, True) for i in items)]

    with pytest.raises(BadInputError, match="your edit of P1"):
        reconcile(e2e / "books.beancount", [e2e / "march.csv"], OfflineAgent(),
                  load_settings(e2e / "books.beancount", account=ACCOUNT), RecordingUI(bad))
    assert tree_hashes(e2e) == before
