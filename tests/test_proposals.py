"""proposals.validate: the single rulebook for what a script may hand back, and
format_directive: the exact text beancount's printer writes for a validated proposal."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from beancount import loader

from beanagent.core.proposals import MAX_POSTINGS, ProposalError, format_directive, validate
from beanagent.ledger.view import AccountInfo, LedgerView
from beanagent.model import PostingSpec, Spec
from beanagent.statements.model import Ref

LEDGER = """\
option "operating_currency" "USD"
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Assets:Wallet
2024-01-01 open Liabilities:Card USD,EUR
2024-01-01 open Expenses:Food
2024-01-01 open Expenses:Travel
2024-01-01 open Equity:Opening
2024-01-01 open Assets:Old USD
2024-03-01 close Assets:Old
2024-06-01 open Assets:Savings USD
"""

D = datetime.date


@pytest.fixture(scope="module")
def accounts() -> Mapping[str, AccountInfo]:
    entries, errors, options = loader.load_string(LEDGER)
    assert errors == []
    return LedgerView(entries, options).accounts


def txn(**overrides: Any) -> dict[str, Any]:
    """A valid transaction proposal in its JSON form, with `overrides` applied."""
    raw: dict[str, Any] = {
        "kind": "transaction", "date": "2024-02-10", "payee": "Cafe", "narration": "coffee",
        "postings": [
            {"account": "Assets:Bank:Checking", "number": "-4.50", "currency": "USD"},
            {"account": "Expenses:Food", "number": "4.50", "currency": "USD"},
        ],
    }
    raw.update(overrides)
    return raw


def posting(account: str, number: Any = None, currency: str | None = "USD") -> dict[str, Any]:
    if number is None:
        return {"account": account}
    return {"account": account, "number": number, "currency": currency}


def rejects(raw: Any, accounts: Mapping[str, AccountInfo], phrase: str,
            opened: Mapping[str, datetime.date] | None = None) -> str:
    with pytest.raises(ProposalError) as info:
        validate(raw, accounts, opened or {})
    message = str(info.value)
    assert phrase in message
    return message


# --- a valid proposal, as the baseline every rejection is measured against --------------

def test_valid_transaction_becomes_a_spec(accounts: Mapping[str, AccountInfo]) -> None:
    spec = validate(txn(tags=["trip-2024"], links=["inv.42"], meta={"ref": "abc 1"},
                        confidence="0.8766", flag="!",
                        evidence=[{"file": "march.csv", "line": 3}]), accounts, {})
    assert spec.kind == "transaction"
    assert spec.date == D(2024, 2, 10)
    assert spec.flag == "!"
    assert spec.payee == "Cafe" and spec.narration == "coffee"
    assert spec.postings == (PostingSpec("Assets:Bank:Checking", Decimal("-4.50"), "USD"),
                             PostingSpec("Expenses:Food", Decimal("4.50"), "USD"))
    assert spec.tags == ("trip-2024",) and spec.links == ("inv.42",)
    assert spec.meta == (("ref", "abc 1"),)
    assert spec.confidence == Decimal("0.877")
    assert spec.evidence == (Ref("march.csv", 3, None),)
    assert spec.main_account == "Assets:Bank:Checking"


# --- kinds ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["plugin", "include", "option", "pad", "custom", "close",
                                  "Transaction", None, 7])
def test_kind_not_allowed(accounts: Mapping[str, AccountInfo], kind: Any) -> None:
    message = rejects(txn(kind=kind), accounts, "is not allowed")
    assert f"proposal kind {kind!r} is not allowed (only transaction, balance, open)" == message


def test_missing_kind(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn()
    del raw["kind"]
    assert rejects(raw, accounts, "proposal kind None is not allowed").startswith("proposal")


def test_not_an_object(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(["transaction"], accounts, "a proposal must be an object")


# --- dates ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2024-02-30", "2024/02/10", "10.02.2024", "yesterday", ""])
def test_bad_date_string(accounts: Mapping[str, AccountInfo], value: str) -> None:
    assert rejects(txn(date=value), accounts, "is not YYYY-MM-DD") == \
        f"date {value!r} is not YYYY-MM-DD"


@pytest.mark.parametrize("value", [20240210, 2024.5, None, ["2024-02-10"]])
def test_date_of_wrong_type(accounts: Mapping[str, AccountInfo], value: Any) -> None:
    rejects(txn(date=value), accounts, "date must be a datetime.date or 'YYYY-MM-DD'")


@pytest.mark.parametrize("value", ["1899-12-31", "2201-01-01", "0001-01-01", D(1000, 1, 1),
                                   "9999-12-31"])
def test_date_out_of_range(accounts: Mapping[str, AccountInfo], value: Any) -> None:
    rejects(txn(date=value), accounts, "is out of range")


@pytest.mark.parametrize("value", ["1900-01-01", "2200-12-31"])
def test_date_range_bounds_are_inclusive(value: str) -> None:
    # All accounts open on 1900-01-01 in this ledger, so only the date rule is exercised.
    entries, _, options = loader.load_string(
        "1900-01-01 open Assets:A USD\n1900-01-01 open Expenses:B\n")
    spec = validate(txn(date=value, postings=[posting("Assets:A", "-1"), posting("Expenses:B")]),
                    LedgerView(entries, options).accounts, {})
    assert spec.date == D.fromisoformat(value)


def test_date_objects_are_accepted(accounts: Mapping[str, AccountInfo]) -> None:
    assert validate(txn(date=D(2024, 2, 10)), accounts, {}).date == D(2024, 2, 10)
    spec = validate(txn(date=datetime.datetime(2024, 2, 11, 23, 59)), accounts, {})
    assert spec.date == D(2024, 2, 11)
    assert type(spec.date) is datetime.date


# --- accounts ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Assets", "assets:bank", "Assets:bank",
                                  "Assets::Bank", "Assets:Bank Checking", "", None, 3])
def test_invalid_account_name(accounts: Mapping[str, AccountInfo], name: Any) -> None:
    raw = txn(postings=[posting(name, "-1"), posting("Expenses:Food")])
    assert rejects(raw, accounts, "is not a valid account name") == \
        f"account {name!r} is not a valid account name (e.g. 'Expenses:Food:Coffee')"


def test_account_not_in_ledger(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Bank:Checking", "-1"), posting("Expenses:Unknown")])
    message = rejects(raw, accounts, "is not open in the ledger")
    assert "propose.open('Expenses:Unknown', date) first" in message


def test_account_not_in_ledger_suggests_a_close_name(accounts: Mapping[str, AccountInfo]
                                                     ) -> None:
    """A typo (the agent's or the user's in an edit) names the account it was likely meant
    to be; a name like no other gets no guess."""
    raw = txn(postings=[posting("Assets:Bank:Checkin", "-1"), posting("Expenses:Food")])
    message = rejects(raw, accounts, "is not open in the ledger")
    assert "account Assets:Bank:Checkin is not open in the ledger (did you mean " \
        "Assets:Bank:Checking?)" in message
    far = txn(postings=[posting("Assets:Bank:Checking", "-1"), posting("Equity:Zzz")])
    assert "did you mean" not in rejects(far, accounts, "is not open in the ledger")


def test_account_not_yet_open(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(date="2024-05-31", postings=[posting("Assets:Savings", "-1"),
                                           posting("Expenses:Food")])
    assert rejects(raw, accounts, "is not open on") == \
        "account Assets:Savings is not open on 2024-05-31 (open 2024-06-01)"
    ok = validate(txn(date="2024-06-01", postings=[posting("Assets:Savings", "-1"),
                                                   posting("Expenses:Food")]), accounts, {})
    assert ok.date == D(2024, 6, 1)


def test_account_closed(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(date="2024-03-15", postings=[posting("Assets:Old", "-1"),
                                           posting("Expenses:Food")])
    assert rejects(raw, accounts, "is not open on") == \
        "account Assets:Old is not open on 2024-03-15 (open 2024-01-01 to 2024-03-01)"
    ok = validate(txn(date="2024-02-29", postings=[posting("Assets:Old", "-1"),
                                                   posting("Expenses:Food")]), accounts, {})
    assert ok.postings[0].account == "Assets:Old"


def test_account_opened_by_pending_proposal(accounts: Mapping[str, AccountInfo]) -> None:
    opened = {"Expenses:Review": D(2024, 2, 10)}
    raw = txn(postings=[posting("Assets:Bank:Checking", "-1"), posting("Expenses:Review")])
    assert validate(raw, accounts, opened).postings[1].account == "Expenses:Review"
    early = txn(date="2024-02-09",
                postings=[posting("Assets:Bank:Checking", "-1"), posting("Expenses:Review")])
    assert rejects(early, accounts, "is proposed to open on", opened) == \
        "account Expenses:Review is proposed to open on 2024-02-10, after 2024-02-09"


def test_balance_on_unopened_account(accounts: Mapping[str, AccountInfo]) -> None:
    raw = {"kind": "balance", "date": "2024-02-01", "account": "Assets:Nope",
           "number": "1", "currency": "USD"}
    rejects(raw, accounts, "account Assets:Nope is not open in the ledger")


# --- currencies -------------------------------------------------------------------------

def test_currency_not_allowed_by_open_constraint(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Bank:Checking", "-4.50", "EUR"),
                        posting("Expenses:Food", "4.50", "EUR")])
    assert rejects(raw, accounts, "only holds") == "Assets:Bank:Checking only holds USD, not EUR"
    card = txn(postings=[posting("Liabilities:Card", "-4.50", "GBP"),
                         posting("Expenses:Food", "4.50", "GBP")])
    assert rejects(card, accounts, "only holds") == "Liabilities:Card only holds USD, EUR, not GBP"
    # An account without a constraint holds anything; a listed currency is fine.
    spec = validate(txn(postings=[posting("Liabilities:Card", "-4.50", "EUR"),
                                  posting("Assets:Wallet", "4.50", "EUR")]), accounts, {})
    assert [p.currency for p in spec.postings] == ["EUR", "EUR"]


@pytest.mark.parametrize("currency", ["usd", "U S D", "", None, "$", "X" * 25])
def test_invalid_currency(accounts: Mapping[str, AccountInfo], currency: Any) -> None:
    raw = txn(postings=[posting("Assets:Wallet", "-1", currency), posting("Expenses:Food")])
    rejects(raw, accounts, "is not a valid commodity name")


# --- balancing --------------------------------------------------------------------------

def test_unbalanced_without_elided_posting(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Bank:Checking", "-4.50"),
                        posting("Expenses:Food", "4.00")])
    assert rejects(raw, accounts, "does not balance") == \
        "transaction does not balance: postings sum to -0.50 USD"


def test_elided_posting_balances_a_single_currency(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Bank:Checking", "-4.50"), posting("Expenses:Food")])
    spec = validate(raw, accounts, {})
    assert spec.postings[1] == PostingSpec("Expenses:Food", None, None)


def test_balanced_multi_currency_is_fine(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Liabilities:Card", "-10", "EUR"),
                        posting("Expenses:Travel", "10", "EUR"),
                        posting("Assets:Bank:Checking", "-2", "USD"),
                        posting("Expenses:Food", "2", "USD")])
    assert len(validate(raw, accounts, {}).postings) == 4


def test_unbalanced_multi_currency_with_one_elided(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Liabilities:Card", "-10", "EUR"),
                        posting("Assets:Bank:Checking", "-2", "USD"),
                        posting("Expenses:Travel")])
    assert rejects(raw, accounts, "does not balance") == \
        "transaction does not balance: postings sum to -10 EUR, -2 USD"


def test_unbalanced_multi_currency_without_elided(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Liabilities:Card", "-10", "EUR"),
                        posting("Expenses:Travel", "10", "USD")])
    assert rejects(raw, accounts, "does not balance") == \
        "transaction does not balance: postings sum to -10 EUR, 10 USD"


def test_two_elided_postings(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Bank:Checking", "-4.50"), posting("Expenses:Food"),
                        posting("Expenses:Travel")])
    rejects(raw, accounts, "at most one posting may leave its amount out")


@pytest.mark.parametrize("count", [0, 1, MAX_POSTINGS + 1])
def test_posting_count(accounts: Mapping[str, AccountInfo], count: int) -> None:
    postings = [posting("Expenses:Food", "1")] * (count - 1) + [posting("Assets:Wallet")]
    rejects(txn(postings=postings[:count]), accounts, f"needs 2 to {MAX_POSTINGS} postings")


def test_max_postings_is_allowed(accounts: Mapping[str, AccountInfo]) -> None:
    postings = [posting("Expenses:Food", "1")] * (MAX_POSTINGS - 1) + [posting("Assets:Wallet")]
    assert len(validate(txn(postings=postings), accounts, {}).postings) == MAX_POSTINGS


def test_posting_must_be_an_object(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(postings=[["Assets:Wallet", "1"], posting("Expenses:Food")]), accounts,
            "each posting must be an object")


# --- numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("number", [4.5, 0.1, 1e3])
def test_floats_rejected(accounts: Mapping[str, AccountInfo], number: float) -> None:
    raw = txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")])
    message = rejects(raw, accounts, "floats are not accepted: use Decimal")
    assert message.startswith("amount of Assets:Wallet must be a Decimal, int or numeric string")


@pytest.mark.parametrize("number", ["4.50", Decimal("4.50"), 4])
def test_str_decimal_int_accepted(accounts: Mapping[str, AccountInfo], number: Any) -> None:
    spec = validate(txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")]),
                    accounts, {})
    assert spec.postings[0].number == Decimal(str(number))


def test_bool_is_not_a_number(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(postings=[posting("Assets:Wallet", True), posting("Expenses:Food")]), accounts,
            "must be a Decimal, int or numeric string, not bool")


@pytest.mark.parametrize("number", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf",
                                    Decimal("NaN"), Decimal("Infinity")])
def test_nan_and_infinity(accounts: Mapping[str, AccountInfo], number: Any) -> None:
    raw = txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")])
    rejects(raw, accounts, "is not a finite amount below 1E+15")


@pytest.mark.parametrize("number", ["1e15", "-1000000000000000", "1E+100",
                                    10**15, "99999999999999999999.99"])
def test_huge_numbers(accounts: Mapping[str, AccountInfo], number: Any) -> None:
    raw = txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")])
    rejects(raw, accounts, "is not a finite amount below")


def test_largest_number_below_limit(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Wallet", "999999999999999.99"), posting("Expenses:Food")])
    assert validate(raw, accounts, {}).postings[0].number == Decimal("999999999999999.99")


@pytest.mark.parametrize("number", ["0.123456789", "1.000000000", "1E-9", Decimal("0.1234567891")])
def test_more_than_8_decimals(accounts: Mapping[str, AccountInfo], number: Any) -> None:
    raw = txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")])
    rejects(raw, accounts, "has more than 8 decimals")


def test_8_decimals_allowed(accounts: Mapping[str, AccountInfo]) -> None:
    raw = txn(postings=[posting("Assets:Wallet", "0.12345678"), posting("Expenses:Food")])
    assert validate(raw, accounts, {}).postings[0].number == Decimal("0.12345678")


@pytest.mark.parametrize("number", ["4,50", "four", "", "1.2.3"])
def test_not_a_number(accounts: Mapping[str, AccountInfo], number: str) -> None:
    raw = txn(postings=[posting("Assets:Wallet", number), posting("Expenses:Food")])
    assert rejects(raw, accounts, "is not a number") == \
        f"amount of Assets:Wallet {number!r} is not a number"


# --- text -------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["payee", "narration"])
@pytest.mark.parametrize("bad", ["line\nbreak", "car\rriage", "tab\there", "nul\x00",
                                 "esc\x1b[31m", "del\x7f"])
def test_control_characters_in_text(accounts: Mapping[str, AccountInfo], field: str,
                                    bad: str) -> None:
    rejects(txn(**{field: bad}), accounts, f"{field} contains a control character (U+")


def test_control_characters_in_meta_value(accounts: Mapping[str, AccountInfo]) -> None:
    assert rejects(txn(meta={"note": "a\nb"}), accounts, "contains a control character") \
        .startswith("meta value of note contains a control character (U+000A, at position 2)")


def test_control_characters_in_reason(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(reason="because\n2024-01-01 open Assets:Evil"), accounts,
            "reason contains a control character")


def test_text_too_long_and_wrong_type(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(narration="x" * 501), accounts, "narration is longer than 500 characters")
    assert validate(txn(narration="x" * 500), accounts, {}).narration == "x" * 500
    rejects(txn(payee=12), accounts, "payee must be a string, not int")
    assert validate(txn(payee=None), accounts, {}).payee is None
    rejects(txn(meta={"note": 5}), accounts, "meta value of note must be a string, not int")


# --- meta, tags, links ------------------------------------------------------------------

@pytest.mark.parametrize("key", ["filename", "lineno", "Ref", "REF", "1abc", "_x", "a b",
                                 "a:b", "", "x" * 42])
def test_meta_key_rules(accounts: Mapping[str, AccountInfo], key: str) -> None:
    assert rejects(txn(meta={key: "v"}), accounts, "is not allowed") == \
        f"meta key {key!r} is not allowed (lowercase, letters/digits/_)"


def test_meta_key_allowed_forms(accounts: Mapping[str, AccountInfo]) -> None:
    spec = validate(txn(meta={"bankId": "1", "ref-2": "x", "a_b": ""}), accounts, {})
    assert spec.meta == (("bankId", "1"), ("ref-2", "x"), ("a_b", ""))


def test_meta_not_a_dict_or_too_big(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(meta=["a"]), accounts, "meta must be a dict of at most 20 entries")
    rejects(txn(meta={f"k{i}": "v" for i in range(21)}), accounts, "at most 20 entries")


@pytest.mark.parametrize("field, what", [("tags", "tag"), ("links", "link")])
@pytest.mark.parametrize("bad", ["has space", "#hash", "", "x" * 65, 7, "a^b"])
def test_tags_and_links_validity(accounts: Mapping[str, AccountInfo], field: str, what: str,
                                 bad: Any) -> None:
    assert rejects(txn(**{field: ["ok", bad]}), accounts, "is not valid") == \
        f"{what} {bad!r} is not valid (letters, digits, - _ / .)"


def test_tags_and_links_accepted(accounts: Mapping[str, AccountInfo]) -> None:
    spec = validate(txn(tags=["trip/2024", "a.b_c-d"], links=["INV-42"]), accounts, {})
    assert spec.tags == ("trip/2024", "a.b_c-d") and spec.links == ("INV-42",)


def test_tags_given_as_a_string_are_rejected(accounts: Mapping[str, AccountInfo]) -> None:
    # Today: validate(...) returns tags == ('t', 'r', 'i', 'p'), i.e. '#t #r #i #p'.
    with pytest.raises(ProposalError, match="tags"):
        validate(txn(tags="trip"), accounts, {})


# --- flag, confidence, evidence ---------------------------------------------------------

@pytest.mark.parametrize("flag", ["P", "x", "", "**", None])
def test_flag(accounts: Mapping[str, AccountInfo], flag: Any) -> None:
    rejects(txn(flag=flag), accounts, "flag must be '*' or '!'")


@pytest.mark.parametrize("value", ["-0.01", "1.001", 2, "-1", Decimal("1.5")])
def test_confidence_outside_unit_interval(accounts: Mapping[str, AccountInfo],
                                          value: Any) -> None:
    assert rejects(txn(confidence=value), accounts, "between 0 and 1") == \
        "confidence must be between 0 and 1"


@pytest.mark.parametrize("value, expected", [("0", "0.000"), ("1", "1.000"),
                                             (0.25, "0.250"), (None, None)])
def test_confidence_inside_unit_interval(accounts: Mapping[str, AccountInfo], value: Any,
                                         expected: str | None) -> None:
    spec = validate(txn(confidence=value), accounts, {})
    assert spec.confidence == (None if expected is None else Decimal(expected))


def test_confidence_nan(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(confidence="NaN"), accounts, "confidence 'NaN' is not a finite amount")


def test_evidence_rules(accounts: Mapping[str, AccountInfo]) -> None:
    rejects(txn(evidence="march.csv:3"), accounts, "evidence must be a list of at most 50")
    rejects(txn(evidence=[{"line": 3}]), accounts, "each evidence item must be a statement")
    rejects(txn(evidence=[{"file": "a.csv", "line": "3"}]), accounts,
            "evidence line must be an integer")
    rejects(txn(evidence=[{"file": "a.csv", "id": 9}]), accounts, "evidence id must be a string")
    rejects(txn(evidence=[{"file": "a.csv"}] * 51), accounts, "at most 50 statement refs")


# --- balance and open -------------------------------------------------------------------

def test_balance_kind(accounts: Mapping[str, AccountInfo]) -> None:
    raw = {"kind": "balance", "date": "2024-02-01", "account": "Assets:Bank:Checking",
           "number": "100.00", "currency": "USD", "reason": "statement closing balance"}
    spec = validate(raw, accounts, {})
    assert (spec.kind, spec.date, spec.account, spec.number, spec.currency) == \
        ("balance", D(2024, 2, 1), "Assets:Bank:Checking", Decimal("100.00"), "USD")
    assert spec.reason == "statement closing balance"
    rejects({**raw, "number": 100.0}, accounts, "balance amount must be a Decimal")
    rejects({**raw, "number": None}, accounts, "balance amount must be a Decimal")
    rejects({**raw, "currency": "usd"}, accounts, "is not a valid commodity name")
    rejects({**raw, "account": "Assets:Old", "date": "2024-03-01"}, accounts,
            "account Assets:Old is not open on 2024-03-01")
    rejects({**raw, "date": "2023-12-31"}, accounts, "is not open on 2023-12-31")


def test_balance_on_pending_open(accounts: Mapping[str, AccountInfo]) -> None:
    raw = {"kind": "balance", "date": "2024-02-01", "account": "Assets:New",
           "number": "0", "currency": "USD"}
    assert validate(raw, accounts, {"Assets:New": D(2024, 2, 1)}).account == "Assets:New"
    rejects(raw, accounts, "is proposed to open on 2024-02-02, after 2024-02-01",
            {"Assets:New": D(2024, 2, 2)})


def test_open_kind(accounts: Mapping[str, AccountInfo]) -> None:
    raw = {"kind": "open", "date": "2024-02-01", "account": "Expenses:Review",
           "currencies": ["USD", "EUR"]}
    spec = validate(raw, accounts, {})
    assert (spec.kind, spec.date, spec.account, spec.currencies) == \
        ("open", D(2024, 2, 1), "Expenses:Review", ("USD", "EUR"))
    assert validate({**raw, "currencies": None}, accounts, {}).currencies == ()
    rejects({**raw, "currencies": "USD"}, accounts, "currencies must be a list")
    rejects({**raw, "currencies": ["usd"]}, accounts, "is not a valid commodity name")
    rejects({**raw, "account": "Expenses"}, accounts, "is not a valid account name")


def test_open_of_an_already_open_account(accounts: Mapping[str, AccountInfo]) -> None:
    raw = {"kind": "open", "date": "2024-02-01", "account": "Assets:Bank:Checking"}
    assert rejects(raw, accounts, "is already open") == \
        "account Assets:Bank:Checking is already open"
    pending = {"kind": "open", "date": "2024-02-01", "account": "Expenses:Review"}
    rejects(pending, accounts, "account Expenses:Review is already open",
            {"Expenses:Review": D(2024, 1, 5)})


# --- format_directive -------------------------------------------------------------------

def _parse_back(text: str) -> list[Any]:
    entries, errors, _ = loader.load_string(
        "2024-01-01 open Assets:Bank:Checking USD\n2024-01-01 open Expenses:Food\n\n" + text)
    assert errors == []
    return entries


@pytest.mark.parametrize("payee, narration", [
    ('Say "hi"', 'back\\slash'),
    ('Trailing backslash\\', 'both \\" mixed'),
    ('\\"', '\\\\'),
    ("Caf\u00e9 \u2603 'single'", ""),
])
def test_format_directive_escapes_and_round_trips(accounts: Mapping[str, AccountInfo],
                                                  payee: str, narration: str) -> None:
    spec = validate(txn(payee=payee, narration=narration, tags=["t1"], links=["l1"],
                        meta={"ref": 'quote " and \\'}), accounts, {})
    text = format_directive(spec)
    assert text.startswith("2024-02-10 * ")
    parsed = [e for e in _parse_back(text) if hasattr(e, "payee")]
    assert len(parsed) == 1
    entry = parsed[0]
    assert entry.payee == payee
    assert entry.narration == narration
    assert entry.meta["ref"] == 'quote " and \\'
    assert entry.tags == {"t1"} and entry.links == {"l1"}
    assert [(p.account, p.units.number, p.units.currency) for p in entry.postings] == [
        ("Assets:Bank:Checking", Decimal("-4.50"), "USD"),
        ("Expenses:Food", Decimal("4.50"), "USD")]


def test_format_directive_elided_posting_and_no_payee(accounts: Mapping[str, AccountInfo]) -> None:
    spec = validate(txn(payee=None, narration="lunch",
                        postings=[posting("Assets:Bank:Checking", "-12.00"),
                                  posting("Expenses:Food")]), accounts, {})
    text = format_directive(spec)
    assert text.splitlines()[0] == '2024-02-10 * "lunch"'
    assert text.splitlines()[2].strip() == "Expenses:Food"
    entry = next(e for e in _parse_back(text) if hasattr(e, "payee"))
    assert entry.payee is None
    assert entry.postings[1].units.number == Decimal("12.00")


def test_format_directive_balance_and_open() -> None:
    bal = Spec("balance", D(2024, 3, 1), account="Assets:Bank:Checking",
               number=Decimal("10.00"), currency="USD")
    text = format_directive(bal)
    assert text.split() == ["2024-03-01", "balance", "Assets:Bank:Checking", "10.00", "USD"]
    opn = Spec("open", D(2024, 3, 1), account="Expenses:Review", currencies=("USD",))
    assert format_directive(opn).split() == ["2024-03-01", "open", "Expenses:Review", "USD"]
    bare = Spec("open", D(2024, 3, 1), account="Expenses:Review")
    assert format_directive(bare).strip() == "2024-03-01 open Expenses:Review"


def test_format_directive_never_writes_internal_meta(accounts: Mapping[str, AccountInfo]) -> None:
    text = format_directive(validate(txn(meta={"ref": "x"}), accounts, {}))
    assert "filename" not in text and "lineno" not in text and "<beanagent>" not in text
    assert '  ref: "x"' in text.splitlines()
