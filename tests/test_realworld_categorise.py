"""Categorisation on smart_importer's prediction sets (peer data; see the benchmark).

Measured with `python -m benchmarks.bench_categorise`: agreement with smart_importer's SVM
6/6, 1/1, 1/1, 6/6 and 7/9, nothing flagged but the denylisted-only line, no denylisted or
closed account chosen. The floors below leave one line of slack on the larger sets; the
named predictions must stay right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.smart_importer_sets import (
    INLINE,
    SETS,
    Dataset,
    Outcome,
    Score,
    load_file_set,
    load_inline_set,
    score,
)

# set -> (minimum agreement with the SVM, maximum lines flagged for review)
FLOORS = {
    "simple": (5, 1),
    "single-account": (1, 0),
    "multiaccounts": (1, 0),
    "chinese": (5, 1),
    INLINE: (6, 2),
}


@pytest.fixture
def smart_importer(realworld: Path) -> Path:
    if not (realworld / "smart_importer").is_dir():
        pytest.skip(f"peer data not available: {realworld / 'smart_importer'} is absent")
    return realworld


def _load(root: Path, name: str) -> Dataset:
    return load_inline_set(root) if name == INLINE else load_file_set(root, name)


def _by_text(result: Score) -> dict[str, Outcome]:
    return {" / ".join(x for x in (o.case.line.payee, o.case.line.description) if x): o
            for o in result.outcomes}


@pytest.mark.parametrize("name", [*SETS, INLINE])
def test_agreement_floor(smart_importer: Path, name: str) -> None:
    result = score(_load(smart_importer, name))
    least, most_flagged = FLOORS[name]
    assert result.agreed >= least, [(o.case.line.description, o.account) for o in result.outcomes]
    assert result.flagged <= most_flagged
    assert result.forbidden == 0
    assert result.right == result.decided  # every history-unambiguous line


def test_file_sets_named_predictions(smart_importer: Path) -> None:
    simple = _by_text(score(_load(smart_importer, "simple")))
    # A known payee with a new narration: the payee's history decides, confidently.
    martin = simple["Uncle Boons / Dinner with Martin"]
    assert martin.account == "Expenses:Food:Restaurant" and martin.confident
    assert martin.payee == "Uncle Boons"
    assert simple["Walmarts / Groceries"].account == "Expenses:Food:Groceries"
    chinese = _by_text(score(_load(smart_importer, "chinese")))
    assert chinese["家乐福 / 买百货"].account == "Expenses:Food:Groceries"
    assert chinese["北京饭店 / 和马丁吃晚饭"].account == "Expenses:Food:Restaurant"
    assert chinese["Wagon 咖啡 / 咖啡"].account == "Expenses:Food:Coffee"
    # The history of Assets:US:EUR alone counts, not the other accounts' "Foo".
    (foo,) = score(_load(smart_importer, "multiaccounts")).outcomes
    assert foo.account == "Expenses:Food:Europe"


def test_inline_set_payees_closed_and_denylisted(smart_importer: Path) -> None:
    result = score(_load(smart_importer, INLINE))
    assert result.payees_agreed == result.n == 9
    lines = _by_text(result)
    assert lines["Groceries"].payee == "Farmer Fresh"
    assert lines["Dinner with Martin"].payee == "Uncle Boons"
    # Expenses:Auto:Diesel was used more often for Gas Quick, but it is closed since.
    gas = lines["Gas Quick"]
    assert gas.account == "Expenses:Auto:Gas" and gas.confident
    # Uncle Boons was only ever a restaurant (the SVM says Groceries here).
    assert lines["Uncle Boons"].account == "Expenses:Food:Restaurant"
    # Its only history is denylisted (removed from training): never that, and for review.
    axe = lines["Axe Throwing with Joe"]
    assert axe.account != "Expenses:Denylisted" and not axe.confident
