"""How many real statement files beanagent reads right, refuses clearly, or reads wrong.

    .venv/bin/python -m benchmarks.bench_read [--root DIR] [--json OUT]

Every statement-like file under `../shared/realworld` (peer projects' test data; see each
directory's MANIFEST.md) goes through the reader the way the CLI calls it
(`parse_statement_file(path, display)`, no ledger, no options) and is classified:

- read right: the lines (date and signed amount, as a multiset), the currency and the
  closing balance where both sides state them, the FITIDs where both carry them, and no
  statement mixing two accounts;
- refused clearly: a BadInputError whose message is one line naming the file (for
  non-statements this is the right answer; for a statement it is never wrong);
- read wrong: anything else that parsed (reason given); a refusal that is not one line
  naming the file also counts here;
- crashed: any other exception (a bug; counts with read wrong).

Zero-amount lines are ignored on both sides (the issue has readers skip them); amounts past
the 8 decimals a statement line holds are compared at that precision. Where the truth has
a value date too (MT940, CAMT), all lines on value dates are accepted as well.

"payee lost" counts files where the truth has a payee for a line and the reading has
neither that payee nor it inside the description. Truth: benchmarks/read_truth.py.
Issue 13's bar: read wrong + crashed == 0.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError
from beanagent.statements.model import MAX_DECIMALS, RawStatement, StatementLine
from benchmarks import read_truth as rt

ROOT = Path(__file__).resolve().parents[2] / "shared" / "realworld"
OUTCOMES = ("right", "refused", "wrong", "crashed")

Reader = Callable[[Path, str], Sequence[RawStatement]]


@dataclasses.dataclass
class Result:
    rel: str
    source: str
    fmt: str
    outcome: str  # right / refused / wrong / crashed / no-truth
    reason: str = ""
    payee_lost: int = 0  # lines whose payee the reading lost
    payee_examples: list[str] = dataclasses.field(default_factory=list)
    truth: str = ""
    truth_kind: str = ""
    lines_read: int | None = None


def default_reader(path: Path, display: str) -> Sequence[RawStatement]:
    from beanagent.statements.dispatch import parse_statement_file

    return parse_statement_file(path, display)


# --------------------------------------------------------------------------- comparison

Key = tuple[Any, Decimal]


def _fmt(keys: Sequence[Key]) -> str:
    return ", ".join(f"{d} {a}" for d, a in keys[:3]) + (" …" if len(keys) > 3 else "")


def _multiset_reason(read: collections.Counter[Key], truth: collections.Counter[Key]) -> str:
    missing = sorted((truth - read).elements())
    extra = sorted((read - truth).elements())
    n_read, n_truth = sum(read.values()), sum(truth.values())
    flipped = collections.Counter({(d, -a): n for (d, a), n in read.items()})
    if flipped == truth and n_truth:
        return f"every sign flipped ({n_truth} lines)"
    parts = [f"{n_read} lines read, {n_truth} true"]
    if missing:
        parts.append(f"missing {_fmt(missing)}")
    if extra:
        parts.append(f"extra {_fmt(extra)}")
    return "; ".join(parts)


def compare(raws: Sequence[RawStatement], truth: rt.Truth) -> tuple[str, list[str]]:
    """Why the reading differs from the truth ("" when it is right), and payees lost."""
    # Zero-amount lines move no money: the issue has readers skip them (with a count), and
    # a reader that keeps them is not wrong about the balance. Ignored on both sides.
    raws = [dataclasses.replace(st, lines=tuple(ln for ln in st.lines if ln.amount != 0))
            for st in raws]
    read_lines = [(st, ln) for st in raws for ln in st.lines]
    # Amounts beyond the 8 decimals a statement line holds (model.MAX_DECIMALS; an investment
    # OFX TOTAL of -536.53479227500345) are compared at that precision.
    tlines = [dataclasses.replace(t, amount=_q(t.amount)) for t in rt.iter_lines(truth)
              if t.amount != 0]

    def truth_keys(alt: bool) -> list[Key]:
        return [((t.alt_date or t.date) if alt else t.date, t.amount) for t in tlines]

    read_c = collections.Counter((ln.date, ln.amount) for _st, ln in read_lines)
    use_alt = False
    if read_c != collections.Counter(truth_keys(False)):
        if any(t.alt_date for t in tlines) and read_c == collections.Counter(truth_keys(True)):
            use_alt = True
        else:
            return _multiset_reason(read_c, collections.Counter(truth_keys(False))), []

    def tkey(t: rt.TLine) -> Key:
        return ((t.alt_date or t.date) if use_alt else t.date, t.amount)

    # Each statement belongs to one true account.
    owner: dict[int, rt.TAccount | None] = {}
    for i, st in enumerate(raws):
        mine = collections.Counter((ln.date, ln.amount) for ln in st.lines)
        homes = [a for a in truth.accounts
                 if not (mine - collections.Counter(tkey(t) for t in a.lines if t.amount != 0))]
        if len(truth.accounts) == 1:
            homes = truth.accounts
        by_id = [a for a in homes if st.account_id and a.key == st.account_id]
        if not st.lines and not by_id and len(truth.accounts) > 1:
            by_id = [a for a in truth.accounts if a.key == st.account_id]
        if not homes and st.lines:
            keys = sorted({a.key for a in truth.accounts
                           for t in a.lines if tkey(t) in mine})
            return f"one statement mixes accounts {', '.join(keys)}", []
        found = by_id or homes
        owner[i] = found[0] if found else None

    # Currency, where both sides state it.
    pool: dict[Key, list[str | None]] = collections.defaultdict(list)
    for t in tlines:
        pool[tkey(t)].append(t.currency)
    for st in raws:
        if st.currency is None:
            continue
        for ln in st.lines:
            curs = pool[(ln.date, ln.amount)]
            pick = next((c for c in curs if c == st.currency), None)
            if pick is None and None in curs:
                curs.remove(None)
                continue
            if pick is None:
                return (f"currency {st.currency} for {ln.date} {ln.amount}, true "
                        f"{curs[0] if curs else '?'}"), []
            curs.remove(pick)

    # Closing balance, where both sides state it.
    for i, st in enumerate(raws):
        acct = owner.get(i)
        if st.closing_balance is None or acct is None or not acct.closings:
            continue
        if st.closing_balance not in acct.closings:
            want = ", ".join(str(c) for c in sorted(acct.closings))
            return f"closing balance {st.closing_balance}, true {want}", []

    # FITIDs, where both sides carry them on every line.
    if tlines and all(t.id for t in tlines) and all(ln.ref.id for _s, ln in read_lines):
        got = collections.Counter((ln.ref.id, ln.date, ln.amount) for _s, ln in read_lines)
        want_ids = collections.Counter((t.id, *tkey(t)) for t in tlines)
        if got != want_ids:
            bad = sorted((want_ids - got).elements(), key=str)[:2]
            return f"FITIDs differ (true {', '.join(str(b[0]) for b in bad)} not read)", []

    return "", _payees_lost(read_lines, tlines, tkey)


def _q(amount: Decimal) -> Decimal:
    exp = amount.as_tuple().exponent
    if isinstance(exp, int) and -exp > MAX_DECIMALS:
        return amount.quantize(Decimal(1).scaleb(-MAX_DECIMALS), rounding=ROUND_HALF_EVEN)
    return amount


def _norm(text: str | None) -> str:
    return " ".join((text or "").casefold().split())


def _payees_lost(read_lines: Sequence[tuple[RawStatement, StatementLine]],
                 tlines: Sequence[rt.TLine], tkey: Callable[[rt.TLine], Key]) -> list[str]:
    by_key: dict[Key, list[StatementLine]] = collections.defaultdict(list)
    for _st, ln in read_lines:
        by_key[(ln.date, ln.amount)].append(ln)
    lost: list[str] = []
    for t in tlines:
        want = _norm(t.payee)
        if not want:
            continue
        cands = by_key.get(tkey(t), [])
        if not any(_norm(c.payee) == want or want in _norm(c.payee) or want in _norm(c.description)
                   for c in cands):
            got = cands[0] if cands else None
            lost.append(f"{t.date} {t.amount} {t.payee!r} read as payee "
                        f"{got.payee if got else None!r}, description "
                        f"{got.description if got else None!r}")
    return lost


# --------------------------------------------------------------------------- running

def _crash_reason(err: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if "beanagent" in f.filename]
    where = ""
    if frames:
        f = frames[-1]
        where = f" at {Path(f.filename).name}:{f.lineno}"
    first = (str(err).splitlines() or [""])[0][:140]
    return f"{type(err).__name__}: {first}{where}"


def judge(item: rt.Item, reader: Reader = default_reader) -> Result:
    """Read one file and classify the outcome against its truth."""
    res = Result(item.rel, item.source, item.fmt, "no-truth")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            truth = item.truth()
    except Exception as err:
        res.reason = f"truth failed: {_crash_reason(err)}"
        return res
    res.truth, res.truth_kind = truth.source, truth.kind
    display = item.rel
    try:
        raws = list(reader(item.path, display))
    except BadInputError as err:
        msg = str(err)
        if "\n" in msg.strip() or display not in msg:
            res.outcome = "wrong"
            res.reason = f"refusal not one line naming the file: {msg[:120]!r}"
        else:
            res.outcome = "refused"
            res.reason = re.sub(r"^:(\d+:)?\s*", "", msg[len(display):])[:140]
        return res
    except Exception as err:
        res.outcome, res.reason = "crashed", _crash_reason(err)
        return res
    res.lines_read = sum(len(st.lines) for st in raws)
    if truth.kind == "refuse":
        res.outcome = "wrong"
        res.reason = f"not a statement ({truth.source}) but read as {res.lines_read} line(s)"
        return res
    reason, lost = compare(raws, truth)
    if reason:
        res.outcome, res.reason = "wrong", reason
    else:
        res.outcome, res.payee_lost, res.payee_examples = "right", len(lost), lost[:3]
    return res


def run(root: Path = ROOT, reader: Reader = default_reader
        ) -> tuple[list[Result], list[tuple[str, str]]]:
    items, excluded = rt.inventory(root)
    return [judge(item, reader) for item in items], excluded


def table(results: Sequence[Result]) -> str:
    rows: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for r in results:
        for key in ((r.source, r.fmt), ("TOTAL", "")):
            c = rows[key]
            c["files"] += 1
            c[r.outcome] += 1
            c["payee lost"] += r.payee_lost > 0
    head = (f"{'source':<18}{'format':<7}{'files':>6}{'right':>7}{'refused':>9}{'wrong':>7}"
            f"{'crashed':>9}{'payee lost':>12}")
    out = [head, "-" * len(head)]
    for (src, fmt), c in sorted(rows.items(), key=lambda kv: (kv[0][0] == "TOTAL", kv[0])):
        if src == "TOTAL":
            out.append("-" * len(head))
        extra = f"  ({c['no-truth']} without truth)" if c["no-truth"] else ""
        out.append(f"{src:<18}{fmt:<7}{c['files']:>6}{c['right']:>7}{c['refused']:>9}"
                   f"{c['wrong']:>7}{c['crashed']:>9}{c['payee lost']:>12}{extra}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--json", type=Path, help="write every result (and the exclusions) here")
    ap.add_argument("--show-excluded", action="store_true")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        print(f"no peer data at {args.root}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    results, excluded = run(args.root)
    elapsed = time.perf_counter() - t0
    print(table(results))
    bad = [r for r in results if r.outcome in ("wrong", "crashed", "no-truth")]
    if bad:
        print(f"\nread wrong / crashed / without truth ({len(bad)}):")
        for r in bad:
            print(f"  {r.outcome:<8} {r.rel}: {r.reason}")
    kept_out = [r for r in results if r.outcome == "refused" and r.truth_kind == "statement"]
    if kept_out:
        print(f"\nstatements refused (not wrong, but not read; {len(kept_out)}):")
        for r in kept_out:
            print(f"  {r.rel}: {r.reason}")
    lost = [r for r in results if r.payee_lost]
    if lost:
        print(f"\npayee lost ({len(lost)} files):")
        for r in lost:
            print(f"  {r.rel} ({r.payee_lost} lines), e.g. {r.payee_examples[0]}")
    checks = rt.self_checks(args.root)
    print(f"\noracle self-checks: {'all agree' if not checks else '; '.join(checks)}")
    print(f"{len(results)} files, {len(excluded)} excluded; {elapsed:.1f} s")
    if args.show_excluded:
        for rel, why in excluded:
            print(f"  excluded {rel}: {why}")
    if args.json:
        args.json.write_text(json.dumps({
            "results": [dataclasses.asdict(r) for r in results],
            "excluded": [{"file": f, "why": w} for f, w in excluded],
            "self_checks": checks, "seconds": round(elapsed, 2)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
