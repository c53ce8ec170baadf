"""Run a user's own beangulp importers and turn what they extract into statements.

Users who already have a beangulp import config (the Python file they pass to
beangulp's `Ingest`) can reuse it: the first importer that identifies a file extracts
it, and the transactions it produces on the importer's account become statement lines.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import runpy
import sys
import traceback
from collections import defaultdict
from decimal import Decimal
from types import TracebackType
from typing import Any

import beangulp
from beancount.core import data
from beangulp.importer import Adapter, ImporterProtocol

from beanagent.errors import BadInputError
from beanagent.statements.model import RawStatement, Ref, StatementLine

# Names a beangulp config (or an old beancount.ingest one) binds its importer list to.
CONFIG_NAMES = ("CONFIG", "IMPORTERS", "importers")
# Metadata keys importers commonly use for the bank's own transaction id, best first.
BANK_ID_KEYS = ("fitid", "bank_id", "transaction_id", "ref", "reference", "id")


def load_importers(config: pathlib.Path) -> list[beangulp.Importer]:
    """Execute a beangulp import config and return its importers, old-style
    `ImporterProtocol` ones wrapped in beangulp's `Adapter`."""
    shown = str(config)
    if not config.is_file():
        raise BadInputError("import config not found", file=shown)
    namespace = _run_config(config)
    found = [name for name in CONFIG_NAMES if name in namespace]
    if not found:
        raise BadInputError(
            f"import config defines no importer list (expected one of {', '.join(CONFIG_NAMES)})",
            file=shown,
        )
    items = namespace[found[0]]
    if not isinstance(items, list | tuple):
        raise BadInputError(
            f"{found[0]} in the import config must be a list of importers, "
            f"not {type(items).__name__}",
            file=shown,
        )
    importers: list[beangulp.Importer] = []
    for index, item in enumerate(items, 1):
        if isinstance(item, beangulp.Importer):
            importers.append(item)
        elif isinstance(item, ImporterProtocol):
            importers.append(Adapter(item))
        else:
            raise BadInputError(
                f"item {index} of {found[0]} is a {type(item).__name__}, not a beangulp importer",
                file=shown,
            )
    return importers


def _run_config(config: pathlib.Path) -> dict[str, Any]:
    """Execute the config as beangulp would, except that `__name__` is not
    "__main__" (so its `Ingest(...)()` command line does not start). Its directory is
    on sys.path while it runs, as when the user runs it as a script, so importer
    modules next to it can be imported."""
    shown = str(config)
    folder = str(config.resolve().parent)
    sys.path.insert(0, folder)
    try:
        # Named after the file, so importer names read "import.MyBank" rather than
        # beangulp's "__main__.MyBank".
        run_name = config.stem if config.stem != "__main__" else "import_config"
        return runpy.run_path(str(config), run_name=run_name)
    except SyntaxError as err:
        if _same_file(err.filename, config):
            raise BadInputError(
                f"syntax error in import config: {err.msg}", file=shown, line=err.lineno
            ) from err
        # A module the config imports: point at that file, which is what needs fixing.
        raise BadInputError(
            f"syntax error in {err.filename}:{err.lineno} (imported by the import config): "
            f"{err.msg}",
            file=shown,
            line=_line_in(err.__traceback__, config),
        ) from err
    except SystemExit as err:
        raise BadInputError(
            "import config exited while loading; keep its `main()` call under "
            "`if __name__ == '__main__':`",
            file=shown,
        ) from err
    except Exception as err:  # the user's code: any failure is theirs to fix
        raise BadInputError(
            f"import config failed: {_one_line(err)}",
            file=shown,
            line=_line_in(err.__traceback__, config),
        ) from err
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _one_line(err: BaseException) -> str:
    """The exception as one line: the user sees a single-line error, never a traceback."""
    return " ".join(f"{type(err).__name__}: {err}".split())


def _same_file(name: str | None, path: pathlib.Path) -> bool:
    if not name:
        return False
    try:
        return os.path.samefile(name, path)
    except OSError:
        return False


def _line_in(tb: TracebackType | None, path: pathlib.Path) -> int | None:
    """The line of the innermost traceback frame that is in `path`."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if _same_file(frame.f_code.co_filename, path):
            line = lineno
    return line


def parse_with_importers(
    path: pathlib.Path, display: str, importers: list[beangulp.Importer]
) -> list[RawStatement] | None:
    """Statements extracted by the first importer that identifies `path`, one per
    currency on the importer's account; None when no importer identifies the file."""
    # Absolute, as beangulp passes it: its cache (used by old-style importers) insists.
    filepath = os.path.abspath(path)
    for importer in importers:
        if _call(importer, "identify", display, importer.identify, filepath):
            return _extract(importer, path, display)
    return None


def _call(importer: beangulp.Importer, what: str, display: str, func: Any, *args: Any) -> Any:
    """Call into a user's importer, turning its exceptions into a one-line error."""
    try:
        return func(*args)
    except Exception as err:  # the user's code: any failure is theirs to fix
        raise BadInputError(
            f"importer {_name(importer)} failed in {what}(): {_one_line(err)}",
            file=display,
        ) from err


def _name(importer: beangulp.Importer) -> str:
    try:
        return str(importer.name)
    except Exception:  # a broken `name` must not hide the real error
        return type(importer).__name__


def _extract(importer: beangulp.Importer, path: pathlib.Path, display: str) -> list[RawStatement]:
    filepath = os.path.abspath(path)
    name = _name(importer)
    account = _call(importer, "account", display, importer.account, filepath)
    entries = _call(importer, "extract", display, importer.extract, filepath, []) or []

    lines: dict[str, list[StatementLine]] = defaultdict(list)
    balances: dict[str, data.Balance] = {}
    for entry in entries:
        if isinstance(entry, data.Transaction):
            for code, amount in _amounts_on(entry, account, name, path, display).items():
                lines[code].append(_line(entry, amount, path, display))
        elif isinstance(entry, data.Balance) and entry.account == account:
            code = entry.amount.currency
            if code not in balances or entry.date >= balances[code].date:
                balances[code] = entry

    # A file the importer recognised but with nothing on its account (a month without
    # activity) still gives one, empty, statement.
    currencies: list[str | None] = [*sorted(set(lines) | set(balances))] or [None]
    statements = []
    for currency in currencies:
        balance = balances.get(currency or "")
        # sorted() is stable, so same-day lines keep the importer's order.
        ordered = sorted(lines.get(currency or "", []), key=lambda ln: ln.date)
        statements.append(
            RawStatement(
                file=display,
                format=f"beangulp:{name}",
                lines=tuple(ordered),
                currency=currency,
                closing_balance=None if balance is None else balance.amount.number,
                # Beancount checks a balance at the start of its day, so the amount is
                # the closing balance of the day before.
                closing_date=None if balance is None else balance.date - datetime.timedelta(days=1),
                account=account,
            )
        )
    return statements


def _amounts_on(
    entry: data.Transaction, account: str, importer: str, path: pathlib.Path, display: str
) -> dict[str, Decimal]:
    """The sum of the entry's postings on `account`, per currency (empty when the
    entry does not touch the account)."""
    sums: dict[str, Decimal] = {}
    for posting in entry.postings:
        if posting.account != account:
            continue
        units = posting.units
        if units is None or not isinstance(units.number, Decimal) or units.currency is None:
            raise BadInputError(
                f"importer {importer} produced a posting on {account} without an amount "
                f"({entry.date} {entry.narration!r})",
                file=display,
                line=_lineno(entry, path),
            )
        sums[units.currency] = sums.get(units.currency, Decimal(0)) + units.number
    return sums


def _line(
    entry: data.Transaction, amount: Decimal, path: pathlib.Path, display: str
) -> StatementLine:
    payee = " ".join((entry.payee or "").split()) or None
    narration = " ".join((entry.narration or "").split())
    description = f"{payee} / {narration}" if payee and narration else (narration or payee or "")
    return StatementLine(
        ref=Ref(file=display, line=_lineno(entry, path), id=_bank_id(entry.meta)),
        date=entry.date,
        amount=amount,
        description=description,
        payee=payee,
    )


def _lineno(entry: data.Directive, path: pathlib.Path) -> int | None:
    """The entry's `lineno` when its `filename` is the statement file (importers
    also write entries whose metadata points elsewhere, or nowhere)."""
    meta = entry.meta or {}
    lineno = meta.get("lineno")
    if isinstance(lineno, int) and lineno > 0 and _same_file(meta.get("filename"), path):
        return lineno
    return None


def _bank_id(meta: dict[str, Any] | None) -> str | None:
    for key in BANK_ID_KEYS:
        value = (meta or {}).get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None
