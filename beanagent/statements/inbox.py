"""The inbox (issue 14): a bare `beanagent reconcile LEDGER` takes the statements that
arrived where beanagent.toml's `inbox` globs point, ties each to its account, and runs the
new ones together (a transfer between two of them is then booked once).

Discovery walks the ledger's folder without following links and never leaves it: the globs
come from a beanagent.toml that may have arrived with a shared folder, and what the inbox
finds is read and may be shown to a model. Identification is in the spirit of beangulp's
`identify`: each file is parsed (the user's importers first), its account is the importer's,
the bank account id's (`open` metadata), a `[[statement]]` rule's, or, for a file that names
none, the one account whose entries its lines match (the ledger decides). A file that can't
be read or tied to one account gets one reason and never stops the others.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beanagent.errors import BadInputError
from beanagent.model import sha256_bytes
from beanagent.settings import CONFIG_NAME
from beanagent.statements.dispatch import MAX_STATEMENT_BYTES
from beanagent.statements.judge import MARGIN, MIN_MATCHES
from beanagent.statements.model import RawStatement, Statement
from beanagent.text import display_path

if TYPE_CHECKING:
    from beanagent.ledger.view import LedgerView
    from beanagent.sandbox.runner import Sandbox
    from beanagent.settings import Settings

MAX_INBOX_FILES = 200  # one run's worth; more is a folder that was never filed away
_MAX_WALKED = 50_000  # entries a walk may look at (a glob rooted in a home folder)
_STATE_DIR = ".beanagent"
_LEDGER_SUFFIXES = (".beancount", ".bean")

# What the listing says of a file.
NEW, BEFORE, UNREADABLE, UNIDENTIFIED, HELD = (
    "new", "reconciled before", "unreadable", "unidentified", "held back")


@dataclasses.dataclass(frozen=True)
class InboxFile:
    """One file of the inbox: what it was identified as, or why it can't run."""

    path: Path  # absolute
    display: str  # as the user would type it; the statements' `file`
    sha256: str = ""
    format: str = ""
    accounts: tuple[str, ...] = ()
    first: datetime.date | None = None
    last: datetime.date | None = None
    lines: int = 0
    before: str | None = None  # when it was reconciled before, if it was
    status: str = NEW  # NEW or BEFORE when it can run; else why not (see `reason`)
    reason: str | None = None
    statements: tuple[Statement, ...] = ()
    notes: tuple[str, ...] = ()  # what reading it doubted, for the run's warnings


@dataclasses.dataclass(frozen=True)
class Inbox:
    patterns: tuple[str, ...]
    files: tuple[InboxFile, ...]
    include_all: bool = False  # --all: files reconciled before run again

    @property
    def run(self) -> tuple[InboxFile, ...]:
        """The files this run reconciles: the new ones (with --all, those reconciled
        before too), identified."""
        return tuple(f for f in self.files
                     if f.status == NEW or (self.include_all and f.status == BEFORE))

    @property
    def statements(self) -> tuple[Statement, ...]:
        return tuple(st for f in self.run for st in f.statements)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(n for f in self.run for n in f.notes)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def format_nothing_new(self) -> str:
        """What a bare run says when no file of the inbox runs."""
        if not self.files:
            return (f"the inbox ({', '.join(self.patterns)}) is empty: save statements there, "
                    "or name statement files after the ledger")
        stuck = len(self.files) - self.count(BEFORE)
        return f"nothing new in the inbox ({self.count(BEFORE)} reconciled before" + \
            (f"; {stuck} that can't run, listed above)" if stuck else ")")


# --- discovery ----------------------------------------------------------------------------


def _glob_part(part: str) -> str:
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and part.find("]", i + 2) > 0:
            end = part.index("]", i + 2)
            body = part[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over '/'-separated relative paths: `*` and `?` within a name, `**` any
    number of folders (none included)."""
    parts = pattern.replace("\\", "/").strip("/").split("/")
    regex = ""
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _glob_part(part) + ("" if last else "/")
    return re.compile(regex + r"\Z")


def _literal_prefix(pattern: str) -> str:
    """The folders a glob starts in before its first wildcard ('' for the root)."""
    parts = pattern.replace("\\", "/").strip("/").split("/")[:-1]
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def discover_inbox(ledger_path: Path, settings: Settings) -> tuple[list[Path], list[InboxFile]]:
    """The files the inbox globs match under the ledger's folder, sorted; and those refused
    on the way (a link that leads outside), each with its reason. A glob whose start links
    outside the folder, or an inbox of more than MAX_INBOX_FILES files, is refused."""
    root = os.path.realpath(ledger_path.parent)
    skip_dirs = {os.path.join(root, _STATE_DIR)}
    if settings.archive:
        skip_dirs.add(os.path.realpath(os.path.join(root, settings.archive)))
    skip_files = {os.path.realpath(ledger_path), os.path.join(root, CONFIG_NAME)}
    found: dict[str, Path] = {}
    refused: dict[str, InboxFile] = {}
    walked = 0
    for pattern in settings.inbox:
        regex = glob_regex(pattern)
        start = os.path.join(root, _literal_prefix(pattern))
        real_start = os.path.realpath(start)
        if not _inside(real_start, root):
            raise BadInputError(f"inbox glob {pattern!r} leads outside the ledger's folder "
                                f"({_literal_prefix(pattern)} links to {real_start}); the inbox "
                                "stays inside it", file=str(settings.source or CONFIG_NAME))
        for folder, dirs, names in os.walk(start):
            walked += len(dirs) + len(names)
            if walked > _MAX_WALKED:
                raise BadInputError(f"the inbox globs ({', '.join(settings.inbox)}) walk more "
                                    f"than {_MAX_WALKED:,} files and folders: name the folders "
                                    "statements arrive in (inbox in beanagent.toml)")
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and os.path.join(folder, d) not in skip_dirs)
            for name in sorted(names):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                if name.startswith(".") or name.lower().endswith(_LEDGER_SUFFIXES) \
                        or path in skip_files or not regex.match(rel):
                    continue
                real = os.path.realpath(path)
                if not _inside(real, root) or any(_inside(real, d) for d in skip_dirs):
                    refused[real] = InboxFile(Path(path), display_path(path), status=UNREADABLE,
                                              reason="links outside the inbox: not read")
                elif os.path.isfile(real) and real not in skip_files:
                    found.setdefault(real, Path(real))
    if len(found) > MAX_INBOX_FILES:
        raise BadInputError(f"the inbox ({', '.join(settings.inbox)}) holds {len(found)} files; "
                            f"beanagent takes up to {MAX_INBOX_FILES} at a time: file away "
                            "the reconciled ones, or narrow inbox in beanagent.toml")
    return sorted(found.values()), list(refused.values())


# --- identification -----------------------------------------------------------------------


def guess_account(view: LedgerView, raw: RawStatement, window_days: int,
                  roots: Sequence[str] = ("Assets", "Liabilities")) -> str:
    """The one balance-sheet account whose entries the statement's lines match (same
    amount, either sign, within the window): at least MIN_MATCHES lines and more than
    MARGIN times the runner-up. Else a BadInputError saying why."""
    if not raw.lines:
        raise BadInputError("no statement lines", file=raw.file)
    window = datetime.timedelta(days=window_days)
    start = min(ln.date for ln in raw.lines) - window
    end = max(ln.date for ln in raw.lines) + window
    prefixes = tuple(f"{r}:" for r in roots)
    booked: dict[Decimal, list[tuple[datetime.date, str]]] = {}
    for txn in view.transactions(None, start, end):
        for p in txn.postings:
            if p.amount is not None and p.account.startswith(prefixes):
                booked.setdefault(p.amount, []).append((txn.date, p.account))

    def hits(sign: int) -> Counter[str]:
        count: Counter[str] = Counter()
        for ln in raw.lines:
            count.update({account for day, account in booked.get(sign * ln.amount, ())
                          if abs((day - ln.date).days) <= window_days})
        return count

    same, flipped = hits(1), hits(-1)  # a card export may show charges as positive
    scores = {a: max(same[a], flipped[a]) for a in same | flipped}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked or ranked[0][1] < MIN_MATCHES:
        raise BadInputError(f"unidentified: none of its {len(raw.lines)} lines match an "
                            "account's entries; add a [[statement]] rule naming its account "
                            "to beanagent.toml", file=raw.file)
    (best, n), runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else ("", 0))
    if n > MARGIN * runner_up[1]:
        return best
    others = " or ".join(f"{a} ({k} lines)" for a, k in ranked[1:3])
    raise BadInputError(f"unidentified: could be {best} ({n} lines) or {others}; add a "
                        "[[statement]] rule naming its account to beanagent.toml",
                        file=raw.file)


def identify_file(path: Path, display: str, view: LedgerView, settings: Settings,
                  importers: list[Any] | None, roots: Sequence[str]
                  ) -> tuple[list[Statement], list[str]]:
    """The file's statements, each tied to its account, and the notes reading it left;
    a BadInputError (one reason) when it can't be read or tied to one account."""
    from beanagent.statements.dispatch import parse_statement_file
    from beanagent.statements.judge import ledger_judge
    from beanagent.statements.resolve import account_by_id, resolve_statement

    rule = settings.rule_for(path)
    rule_account = rule.account if rule else None
    csv = settings.csv_for(path)
    raws = parse_statement_file(path, display, csv, importers, ledger_judge(view, rule_account))
    out: list[Statement] = []
    notes: list[str] = []
    try:
        for raw in raws:
            account = None
            if raw.account is None and rule_account is None:
                if raw.account_id and account_by_id(view, raw.account_id) is None:
                    raise BadInputError(f"no open account has metadata account: "
                                        f"\"{raw.account_id}\"; add it to the account's open "
                                        "directive, or a [[statement]] rule", file=display)
                if not raw.account_id:
                    account = guess_account(view, raw, settings.window_days, roots)
            st, said = resolve_statement(raw, view, account=account,
                                         rule_account=rule_account,
                                         sign_fixed=csv.negate is not None)
            out.append(st)
            notes.extend(said)
    except BadInputError as exc:  # read, but not tied to one account (or not to its own)
        raise BadInputError("unidentified: " + exc.message.removeprefix("unidentified: "),
                            file=display) from None
    return out, notes


def _identified(path: Path, display: str, sha: str, before: str | None,
                identify: Callable[[Path, str], tuple[list[Statement], list[str]]]
                ) -> InboxFile:
    base = InboxFile(path, display, sha, before=before, status=BEFORE if before else NEW)
    try:
        statements, notes = identify(path, display)
    except BadInputError as exc:
        status = UNIDENTIFIED if exc.message.startswith("unidentified: ") else UNREADABLE
        return dataclasses.replace(base, status=status,
                                   reason=exc.message.removeprefix("unidentified: "))
    lines = [ln for st in statements for ln in st.lines]
    return dataclasses.replace(
        base, format=", ".join(dict.fromkeys(st.format for st in statements)),
        accounts=tuple(dict.fromkeys(st.account for st in statements)),
        first=min((ln.date for ln in lines), default=None),
        last=max((ln.date for ln in lines), default=None), lines=len(lines),
        statements=tuple(statements), notes=tuple(notes))


def _read_hash(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_STATEMENT_BYTES:
            return None  # the reader refuses it with its reason
        return sha256_bytes(path.read_bytes())
    except OSError:
        return None


def _held_back(files: Sequence[InboxFile], include_all: bool, ledger: str
               ) -> list[InboxFile]:
    """Two files of one run whose statements share an account and overlapping dates (the
    same month as CSV and OFX) would count those lines twice: the later one waits."""
    kept: list[InboxFile] = []
    out: list[InboxFile] = []
    for f in files:
        runs = f.status == NEW or (include_all and f.status == BEFORE)
        clash = next((k for k in kept for a in k.statements for b in f.statements
                      if a.account == b.account and _overlap(a, b)), None) if runs else None
        if clash is not None:
            f = dataclasses.replace(f, status=HELD, reason=(
                f"same account and dates as {clash.display}; reconcile it on its own "
                f"(beanagent reconcile {ledger} {f.display})"))
        elif runs:
            kept.append(f)
        out.append(f)
    return out


def _overlap(a: Statement, b: Statement) -> bool:
    return min(ln.date for ln in a.lines) <= max(ln.date for ln in b.lines) and \
        min(ln.date for ln in b.lines) <= max(ln.date for ln in a.lines)


def scan_inbox(ledger_path: Path, settings: Settings, before: Mapping[str, str],
               include_all: bool = False, sandbox: Sandbox | None = None) -> Inbox:
    """The inbox, each file identified against the ledger and marked with when it was
    reconciled before (`before`: sha256 -> when). The ledger is the sandbox server's load
    when there is a `sandbox` (the run's one load), else parsed here (`--list`)."""
    from beanagent.ledger.load import check_before_load, from_snapshot, parse_ledger
    from beanagent.ledger.view import LedgerView

    paths, refused = discover_inbox(ledger_path, settings)
    if sandbox is not None:
        check_before_load(ledger_path, str(ledger_path))
        ledger = from_snapshot(ledger_path, sandbox.snapshot(), str(ledger_path))
        view = ledger.plain.view()
    else:
        ledger = parse_ledger(ledger_path, str(ledger_path))
        view = LedgerView(ledger.entries, ledger.options)
    own = {p.resolve() for p in ledger.files}
    paths = [p for p in paths if p not in own]
    if not paths:
        return Inbox(settings.inbox, tuple(refused), include_all)
    roots = (ledger.options.get("name_assets") or "Assets",
             ledger.options.get("name_liabilities") or "Liabilities")
    importers = None
    if settings.importers is not None:
        from beanagent.statements.beangulp_bridge import load_importers

        importers = load_importers(settings.importers)

    def identify(path: Path, display: str) -> tuple[list[Statement], list[str]]:
        return identify_file(path, display, view, settings, importers, roots)

    files = []
    for path in paths:
        display = display_path(path)
        sha = _read_hash(path)
        if sha is None:
            files.append(InboxFile(path, display, status=UNREADABLE,
                                   reason="cannot be read, or too big for a statement"))
            continue
        files.append(_identified(path, display, sha, before.get(sha), identify))
    held = _held_back(files, include_all, display_path(ledger_path))
    ordered = sorted([*held, *refused], key=lambda f: f.display)
    return Inbox(settings.inbox, tuple(ordered), include_all)


def read_inbox(ledger_path: Path, settings: Settings, include_all: bool = False,
               sandbox: Sandbox | None = None) -> Inbox:
    """The inbox of a bare `reconcile LEDGER`, each file marked with when it was reconciled
    before (the audit log's record)."""
    from beanagent.runlog.reconciled import reconciled_before

    if settings.account is not None or settings.closing_balance is not None:
        raise BadInputError("--account and --closing-balance apply to the statement files "
                            "you name; the inbox ties each file to its own account")
    return scan_inbox(ledger_path, settings, reconciled_before(ledger_path, settings),
                      include_all, sandbox)


def inbox_report(inbox: Inbox) -> dict[str, Any]:
    """The listing as JSON (`--list --json`)."""
    runs = {id(f) for f in inbox.run}
    return {"inbox": list(inbox.patterns), "files": [{
        "file": f.display, "sha256": f.sha256 or None, "status": f.status,
        "format": f.format or None, "accounts": list(f.accounts),
        "first": f.first.isoformat() if f.first else None,
        "last": f.last.isoformat() if f.last else None, "lines": f.lines,
        "reconciled_before": f.before, "reason": f.reason,
        "runs": id(f) in runs} for f in inbox.files]}
