"""The proposals table's layout: what gives way on a narrow terminal, and what never does."""

from __future__ import annotations

import pytest

from beanagent.ui.tables import TABLE_COLUMNS, fit_columns, fit_evidence

# id, date, payee, amount, account, conf, statement line
NATURAL = [4, 10, 30, 12, 28, 4, 60]


@pytest.mark.parametrize("width", [200, 160, 120, 100, 90, 80, 70])
def test_columns_fit_and_the_fixed_ones_never_shrink(width: int) -> None:
    widths, gap = fit_columns(NATURAL, width)
    assert len(widths) == len(TABLE_COLUMNS)
    for index in (0, 1, 3, 5):  # id, date, amount, conf
        assert widths[index] == NATURAL[index]
    total = sum(widths) + gap * (len(widths) - 1)
    assert total <= max(width, sum(NATURAL[i] for i in (0, 1, 3, 5)) + 8 + 11 + 14 + 6)
    if width >= 160:
        assert widths == NATURAL and gap == 2


def test_payee_gives_way_first_then_the_evidence_then_accounts() -> None:
    # natural: 148 characters + 6 gaps of 2 = 160
    widths, gap = fit_columns(NATURAL, 150)
    assert gap == 2 and widths[2] == 20 and widths[6] == NATURAL[6]  # the payee, first
    widths, gap = fit_columns(NATURAL, 120)
    assert gap == 2 and widths[2] == 16 and widths[6] == 34  # then the evidence
    widths, gap = fit_columns(NATURAL, 85)
    assert widths[4] == NATURAL[4] and gap == 1  # single gaps keep accounts whole
    assert (widths[2], widths[6]) == (8, 13)
    widths, _ = fit_columns(NATURAL, 70)
    assert widths[2] == 8 and widths[6] == 11 and widths[4] == 15  # accounts, last


def test_the_evidence_keeps_its_line_number() -> None:
    where, rest = "bofa-checking-2025-11.csv:12", " Online Banking transfer"
    assert fit_evidence(where, rest, 100) == where + rest
    assert fit_evidence(where, rest, 30) == where + rest  # rich cuts the text with "…"
    assert fit_evidence(where, rest, 20) == "bofa-checking-20…:12"
    assert len(fit_evidence(where, rest, 11)) == 11
    assert fit_evidence("no statement line", "", 11) == "no statement line"
