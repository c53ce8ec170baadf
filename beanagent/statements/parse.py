"""Pick the parser for a statement file: the user's beangulp importers, OFX, or CSV."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from beanagent.errors import BadInputError
from beanagent.statements.model import RawStatement
from beanagent.statements.ofx import OFX_SUFFIXES, looks_like_ofx, parse_ofx

if TYPE_CHECKING:
    import beangulp

    from beanagent.statements.csv import CsvOptions

# Enough to see past the OFX 1.x header (and the blank lines some banks put first).
_SNIFF_BYTES = 4096


def parse_statement_file(
    path: pathlib.Path,
    display: str,
    csv_options: CsvOptions | None = None,
    importers: list[beangulp.Importer] | None = None,
) -> list[RawStatement]:
    """Parse one statement file into one or more raw statements.

    The user's importers go first (they know their bank better than any sniffing);
    then OFX, recognised by content whatever the extension; then CSV.
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
        return parse_ofx(path, display)
    from beanagent.statements.csv import CsvOptions, parse_csv

    return [parse_csv(path, display, csv_options or CsvOptions())]


def _head(path: pathlib.Path, display: str) -> bytes:
    """The first bytes of the file, after checking it is a readable, non-empty file."""
    if not path.exists():
        raise BadInputError("statement file not found", file=display)
    if not path.is_file():
        raise BadInputError("not a file (pass a statement file, not a directory)", file=display)
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as err:
        raise BadInputError(f"cannot read file: {err.strerror or err}", file=display) from err
    if not head:
        raise BadInputError("statement file is empty", file=display)
    return head
