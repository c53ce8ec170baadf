"""Grading a `reconcile --json` report against a scenario's truth file.

A proposal's counter-account is right when its main other leg (the largest) is the one the
source ledger had; for a multi-leg entry (a paycheck) every leg must be there, with its
amount and commodity; for a share purchase seen only as a cash line, the right answer is
the review account, flagged. Every graded proposal also goes into the calibration table:
its confidence, whether it was shown as confident (`*` and at least `CONFIDENT`), and
whether it was right."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

CONFIDENT = Decimal("0.6")  # settings.CONFIDENT: what the review shows as confident
# Calibration buckets: lower bounds of confidence.
BUCKETS = (0.0, 0.3, 0.6, 0.8, 0.95)
SPECIAL = {"multileg": "payroll (multi-leg)", "brokerage": "brokerage purchases"}


@dataclasses.dataclass
class Score:
    proposed: int = 0
    true_positive: int = 0
    to_propose: int = 0
    counter_right: int = 0
    counter_seen: int = 0
    novel_flagged: int = 0
    novel: int = 0
    duplicates_flagged: int = 0
    duplicates: int = 0
    typos_kept_out: int = 0
    typos: int = 0
    balance_expected: str = ""
    balance_reported: str = ""
    culprit_named: bool = False
    false: list[str] = dataclasses.field(default_factory=list)
    missed: list[str] = dataclasses.field(default_factory=list)
    wrong_counter: list[str] = dataclasses.field(default_factory=list)
    # layout (a statement format, or a kind of entry) -> [right, graded]
    layouts: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    # every graded proposal: (confidence, shown as confident, right)
    calibration: list[tuple[float, bool, bool]] = dataclasses.field(default_factory=list)

    def add(self, other: Score) -> None:
        for f in dataclasses.fields(self):
            value = getattr(other, f.name)
            if isinstance(value, (int, list)) and not isinstance(value, bool):
                setattr(self, f.name, getattr(self, f.name) + value)
        for name, (right, graded) in other.layouts.items():
            mine = self.layouts.setdefault(name, [0, 0])
            mine[0] += right
            mine[1] += graded

    def count(self, layout: str, right: bool) -> None:
        mine = self.layouts.setdefault(layout, [0, 0])
        mine[0] += right
        mine[1] += 1

    @property
    def confident_wrong(self) -> tuple[int, int]:
        """(wrong, total) among the proposals shown as confident."""
        shown = [right for _, confident, right in self.calibration if confident]
        return shown.count(False), len(shown)

    @property
    def recall(self) -> float:
        return self.true_positive / self.to_propose if self.to_propose else 1.0

    @property
    def precision(self) -> float:
        return self.true_positive / self.proposed if self.proposed else 1.0

    @property
    def counter_accuracy(self) -> float:
        return self.counter_right / self.counter_seen if self.counter_seen else 1.0


def _evidence_key(ref: dict[str, Any]) -> str:
    return ref["id"] or f"{Path(ref['file']).name}:{ref['line']}"


def _postings(text: str) -> list[Any]:
    from beancount.parser import parser

    entries, _, _ = parser.parse_string(text)
    return list(entries[0].postings)


def _main_counter(text: str, own: str) -> str | None:
    legs = [p for p in _postings(text) if p.account != own and p.units is not None]
    if not legs:
        return None
    return max(legs, key=lambda p: abs(p.units.number or 0)).account


def _legs(text: str) -> list[tuple[str, Decimal, str]]:
    return sorted((p.account, p.units.number, p.units.currency) for p in _postings(text)
                  if p.units is not None)


def calibration_table(calibration: list[tuple[float, bool, bool]]) -> list[str]:
    """One line per confidence bucket: proposals, and the fraction whose account was right;
    then the same for those shown as confident."""
    out = [f"{'confidence':<14}{'proposals':>10}{'right':>8}{'fraction':>10}"]
    for k, low in enumerate(BUCKETS):
        high = BUCKETS[k + 1] if k + 1 < len(BUCKETS) else 1.0
        rows = [right for c, _, right in calibration
                if low <= c < high or (high == 1.0 and c == 1.0)]
        label = f"{low:.2f}–{high:.2f}"
        frac = f"{sum(rows) / len(rows):.3f}" if rows else "—"
        out.append(f"{label:<14}{len(rows):>10}{sum(rows):>8}{frac:>10}")
    shown = [right for _, confident, right in calibration if confident]
    frac = f"{sum(shown) / len(shown):.3f}" if shown else "—"
    out.append(f"{'shown as *':<14}{len(shown):>10}{sum(shown):>8}{frac:>10}")
    return out


def score(truth: dict[str, Any], report: dict[str, Any]) -> Score:
    s = Score()
    events = truth["events"]
    where: dict[str, tuple[str, str]] = {}  # row key -> (event, statement account)
    layout = {st["account"]: st["format"] for st in truth["statements"]}
    review = truth.get("review_account", "Expenses:FIXME")
    for st in truth["statements"]:
        for row in st["rows"]:
            where[row["key"]] = (row["event"], st["account"])
    credited: set[str] = set()
    flagged: set[str] = set()
    for p in report["proposals"]:
        if p["kind"] != "transaction":
            continue
        s.proposed += 1
        hits = [where[k] for k in map(_evidence_key, p["evidence"]) if k in where]
        # Two identical purchases on a day are interchangeable: a line of the booked one
        # stands for its twin (which row the matcher kept is not a mistake).
        hits += [(f"X{e[1:]}", a) for e, a in hits if events[e]["kind"] == "identical"]
        fresh = [(e, a) for e, a in hits if events[e]["propose"] and e not in credited]
        if not fresh:
            s.false.append(p["text"].splitlines()[0])
            continue
        event, account = fresh[0]
        credited.add(event)
        s.true_positive += 1
        shown = p["text"][11] == "*" and Decimal(str(p.get("confidence") or 0)) >= CONFIDENT
        if p["text"][11] == "!":
            flagged.add(event)
        ev = events[event]
        got = _main_counter(p["text"], account)
        if ev["kind"] == "novel":
            s.calibration.append((float(p.get("confidence") or 0), shown, got == review))
        if ev["seen"] and ev["kind"] != "novel":
            s.counter_seen += 1
            want = ev["counter"]
            if ev["kind"] == "transfer":  # either side may propose it
                # the card payment: checking (the first statement) and the card
                want = (ev["counter"] if account != ev["counter"]
                        else truth["statements"][0]["account"])
            right = got == want
            if ev.get("legs"):
                want = " ".join(f"{a} {n} {c}" for a, n, c in sorted(ev["legs"]))
                got_legs = _legs(p["text"])
                got = " ".join(f"{a} {n} {c}" for a, n, c in got_legs)
                right = got_legs == sorted((a, Decimal(n), c) for a, n, c in ev["legs"])
            elif ev["kind"] == "brokerage":
                right = right and not shown
            s.counter_right += right
            s.calibration.append((float(p.get("confidence") or 0), shown, right))
            s.count(layout[account], right)
            if ev["kind"] in SPECIAL:
                s.count(SPECIAL[ev["kind"]], right)
            if not right:
                s.wrong_counter.append(f"{p['text'].splitlines()[0]}: {got} ≠ {want}")
    for ev in events.values():
        if ev["propose"]:
            s.to_propose += 1
            if ev["id"] not in credited:
                s.missed.append(f"{ev['id']} ({ev['kind']})")
        if ev["kind"] == "novel":
            s.novel += 1
            s.novel_flagged += ev["id"] in flagged
    for dup in truth["duplicates"]:
        s.duplicates += 1
        s.duplicates_flagged += any(
            u["date"] == dup["date"] and u["amount"].split()[0] == dup["amount"]
            and "likely duplicate" in u["reason"] for u in report["unmatched_ledger"])
    typo_events = {e for e, ev in events.items() if ev["kind"] == "typo"}
    s.typos = len(typo_events)
    s.typos_kept_out = s.typos - sum(
        1 for p in report["proposals"] for ref in p["evidence"]
        if where.get(_evidence_key(ref), ("", ""))[0] in typo_events)
    bal = report.get("balance")
    if bal:
        expected = Decimal(0)
        for typo in truth["typos"]:
            if typo["account"] == bal["account"]:
                expected += Decimal(typo["statement"]) - Decimal(typo["ledger"])
        for dup in truth["duplicates"]:
            if dup["account"] == bal["account"]:
                expected -= Decimal(dup["amount"])
        s.balance_expected = str(expected)
        s.balance_reported = bal["difference"].split()[0]
        s.culprit_named = expected == 0 or bool(bal["culprits"])
    return s

