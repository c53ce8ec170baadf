"""Issue 13: a headerless CSV whose dates have a shape detection doesn't know (10/2009/09)
is read once the user gives --csv-date-format (and the columns): the header locator and the
content fallback test dates with the user's format too, instead of asking for the very flags
already passed. Synthetic file."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements.csv import parse_csv

D = Decimal
day = datetime.date
TEXT = "10/2009/09,COFFEE SHOP,-4.50\n11/2009/09,SALARY,2500.00\n14/2009/09,RENT,-900.00\n"


def parse(tmp_path: Path, **options: object) -> list[tuple[int | None, datetime.date, Decimal]]:
    path = tmp_path / "odd.csv"
    path.write_text(TEXT, encoding="utf-8")
    st = parse_csv(path, "odd.csv", CsvOptions(**options))  # type: ignore[arg-type]
    return [(ln.ref.line, ln.date, ln.amount) for ln in st.lines]


EXPECTED = [(1, day(2009, 9, 10), D("-4.50")), (2, day(2009, 9, 11), D("2500.00")),
            (3, day(2009, 9, 14), D("-900.00"))]


def test_every_override_given(tmp_path: Path) -> None:
    assert parse(tmp_path, date_format="%d/%Y/%m", date_col="1", amount_col="3") == EXPECTED


def test_the_date_format_alone_is_enough(tmp_path: Path) -> None:
    assert parse(tmp_path, date_format="%d/%Y/%m") == EXPECTED


def test_without_the_format_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        parse(tmp_path, date_col="1", amount_col="3")
    message = str(info.value)
    assert "column 1 holds '10/2009/09', not a date shape beanagent knows" in message
    assert "pass --csv-date-format" in message and "--csv-date-col" not in message


def test_a_format_that_does_not_fit_says_so(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        parse(tmp_path, date_format="%m/%d/%Y", date_col="1", amount_col="3")
    assert "which --csv-date-format %m/%d/%Y does not read" in str(info.value)


def test_nothing_given_asks_for_everything(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as info:
        parse(tmp_path)
    assert ("pass --csv-header-line, --csv-date-col, --csv-amount-col, --csv-date-format"
            in str(info.value))
