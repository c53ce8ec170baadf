"""Read the statement files of a run: pick each one's parser (the user's beangulp importers,
OFX, MT940, CAMT, QIF, or CSV), then tie each statement to its ledger account (resolve).

Formats are recognised by content first (a bank's file name says little), by extension when
the content is not recognised; a file that is plainly something else (PDF, zip, HTML, JSON,
XML that is not CAMT) is refused by name instead of failing as a CSV."""

from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from beanagent.errors import BadInputError
from beanagent.statements.model import RawStatement, Statement
from beanagent.statements.sniff import OFX_SUFFIXES, looks_like_ofx

if TYPE_CHECKING:
    import beangulp

    from beanagent.ledger.view import LedgerView
    from beanagent.settings import CsvOptions, Settings
    from beanagent.statements.judge import Judge

# Enough to see past the OFX 1.x header (and the blank lines some banks put first).
_SNIFF_BYTES = 4096


MAX_STATEMENT_BYTES = 64 * 2**20
MAX_STATEMENT_LINES = 10_000


def parse_statement_file(
    path: pathlib.Path,
    display: str,
    csv_options: CsvOptions | None = None,
    importers: list[beangulp.Importer] | None = None,
    judge: Judge | None = None,
) -> list[RawStatement]:
    """Parse one statement file into one or more raw statements.

    The user's importers go first (they know their bank better than any sniffing);
    then OFX, MT940, CAMT and QIF, recognised by content whatever the extension; then
    what is plainly not a statement is refused; then CSV.
    """
    head = _head(path, display)
    if importers:
        # Imported here: beangulp (and beancount) are only needed for users with a config.
        from beanagent.statements.beangulp_bridge import parse_with_importers

        found = parse_with_importers(path, display, importers)
        if found is not None:
            return found
    # A file named .ofx that does not look like OFX still goes to the OFX parser: "not
    # an OFX file" helps the user more than a CSV error would.
    if looks_like_ofx(head) or path.suffix.lower() in OFX_SUFFIXES:
        from beanagent.statements.ofx import parse_ofx  # ofxtools: only for OFX files

        return parse_ofx(path, display)
    other = _other_format(path, head, display, csv_options)
    if other is not None:
        return other
    from beanagent.settings import CsvOptions
    from beanagent.statements.csv import parse_csv_file

    return parse_csv_file(path, display, csv_options or CsvOptions(), judge)


SUPPORTED = "supported: CSV, OFX/QFX/QBO, MT940, CAMT.053/052, QIF; or use --importers"


def _other_format(path: pathlib.Path, head: bytes, display: str,
                  csv_options: CsvOptions | None) -> list[RawStatement] | None:
    """MT940, CAMT or QIF by content (or extension), a refusal for what is plainly no
    statement, or None for the CSV reader to try."""
    from beanagent.statements.camt import CAMT_SUFFIXES, looks_like_camt, parse_camt
    from beanagent.statements.mt940 import MT940_SUFFIXES, looks_like_mt940, parse_mt940
    from beanagent.statements.qif import QIF_SUFFIXES, looks_like_qif, parse_qif
    from beanagent.statements.sniff import describe_unsupported

    suffix = path.suffix.lower()
    # QIF has no settings of its own: the CSV overrides for date order and decimal mark.
    qif_options = {"date_format": getattr(csv_options, "date_format", None),
                   "decimal": getattr(csv_options, "decimal", None)}
    if looks_like_mt940(head):
        return parse_mt940(path, display)
    if looks_like_camt(head):
        return parse_camt(path, display)
    if looks_like_qif(head):
        return parse_qif(path, display, **qif_options)
    what = describe_unsupported(head)
    if what is not None:
        raise BadInputError(f"unsupported format: {what} ({SUPPORTED})", file=display)
    if suffix in MT940_SUFFIXES:
        return parse_mt940(path, display)
    if suffix in CAMT_SUFFIXES:
        return parse_camt(path, display)
    if suffix in QIF_SUFFIXES:
        return parse_qif(path, display, **qif_options)
    return None


def _require_regular(mode: int, display: str) -> None:
    if stat.S_ISDIR(mode):
        raise BadInputError("not a file (pass a statement file, not a directory)", file=display)
    if not stat.S_ISREG(mode):
        raise BadInputError("not a regular file (a FIFO, device or socket can't be a "
                            "statement: save the export to a file and pass that)", file=display)


def _head(path: pathlib.Path, display: str) -> bytes:
    """The first bytes of the file, after checking it is a readable, non-empty regular
    file of a bounded size. Looked at (stat) before it is opened, and opened without
    blocking: a FIFO or /dev/zero given as a statement must not hang the run."""
    try:
        _require_regular(os.stat(path).st_mode, display)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadInputError("statement file not found", file=display) from None
    except OSError as err:
        raise BadInputError(f"cannot read file: {err.strerror or err}", file=display) from None
    try:
        st = os.fstat(fd)
        _require_regular(st.st_mode, display)  # it may have been swapped since the stat
        if st.st_size > MAX_STATEMENT_BYTES:
            raise BadInputError(f"statement file is {st.st_size / 2**20:.0f} MiB; beanagent "
                                f"reads statements up to {MAX_STATEMENT_BYTES // 2**20} MiB: "
                                "export a shorter period", file=display)
        head = os.read(fd, _SNIFF_BYTES)
    except OSError as err:
        raise BadInputError(f"cannot read file: {err.strerror or err}", file=display) from None
    finally:
        os.close(fd)
    if not head:
        raise BadInputError("statement file is empty", file=display)
    return head


def _refuse_shared_account(raws: Sequence[RawStatement], display: str) -> None:
    """--account names one account; a file holding several accounts' statements would be
    put into it, all of them, without a word."""
    ids = sorted({raw.account_id for raw in raws if raw.account_id})
    if len(ids) > 1:
        shown = ", ".join(ids[:4]) + (", ..." if len(ids) > 4 else "")
        raise BadInputError(f"this file holds {len(ids)} accounts ({shown}); --account would "
                            "put them all into one: drop --account and add account: \"<id>\" "
                            "metadata to each account's open directive instead", file=display)


def require_size(statements: Sequence[Statement]) -> None:
    """One run reconciles a bounded number of lines: matching and review stay quick, and
    the sandbox's limits (proposals, time per script) hold with room to spare."""
    total = sum(len(st.lines) for st in statements)
    if total > MAX_STATEMENT_LINES:
        biggest = max(statements, key=lambda st: len(st.lines))
        raise BadInputError(f"{total:,} statement lines in this run; beanagent reconciles up "
                            f"to {MAX_STATEMENT_LINES:,} at a time: split the statement by "
                            "date (a few months per run)", file=biggest.file)


def read_statements(paths: Sequence[pathlib.Path], view: LedgerView, settings: Settings,
                    warn: Callable[[str], None]) -> list[Statement]:
    """Every statement in `paths`, resolved to its account; what an importer skipped or
    doubted goes to `warn`."""
    from beanagent.statements.judge import ledger_judge
    from beanagent.statements.resolve import resolve_statement

    importers = None
    if settings.importers is not None:
        from beanagent.statements.beangulp_bridge import load_importers

        importers = load_importers(settings.importers)
    if settings.closing_balance is not None and len(paths) != 1:
        raise BadInputError("--closing-balance applies to a single statement; pass one file")
    out: list[Statement] = []
    for path in paths:
        rule = settings.rule_for(path)
        csv = settings.csv_for(path)
        judge = ledger_judge(view, settings.account or (rule.account if rule else None))
        raws = parse_statement_file(path, str(path), csv, importers, judge)
        if settings.account is not None:
            _refuse_shared_account(raws, str(path))
        for raw in raws:
            st, notes = resolve_statement(
                raw, view, account=settings.account,
                rule_account=rule.account if rule else None, sign_fixed=csv.negate is not None,
                closing_balance=settings.closing_balance)
            for note in notes:
                warn(note)
            out.append(st)
    require_size(out)
    return out
