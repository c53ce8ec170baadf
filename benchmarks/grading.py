"""Grading a `reconcile --json` report against a scenario's truth file."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any


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

    def add(self, other: Score) -> None:
        for f in dataclasses.fields(self):
            value = getattr(other, f.name)
            if isinstance(value, (int, list)) and not isinstance(value, bool):
                setattr(self, f.name, getattr(self, f.name) + value)

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


def _main_counter(text: str, own: str) -> str | None:
    from beancount.parser import parser

    entries, _, _ = parser.parse_string(text)
    legs = [p for p in entries[0].postings if p.account != own and p.units is not None]
    if not legs:
        return None
    return max(legs, key=lambda p: abs(p.units.number or 0)).account


def score(truth: dict[str, Any], report: dict[str, Any]) -> Score:
    s = Score()
    events = truth["events"]
    where: dict[str, tuple[str, str]] = {}  # row key -> (event, statement account)
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
        fresh = [(e, a) for e, a in hits if events[e]["propose"] and e not in credited]
        if not fresh:
            s.false.append(p["text"].splitlines()[0])
            continue
        event, account = fresh[0]
        credited.add(event)
        s.true_positive += 1
        if p["text"][11] == "!":
            flagged.add(event)
        ev = events[event]
        if ev["seen"] and ev["kind"] != "novel":
            s.counter_seen += 1
            got = _main_counter(p["text"], account)
            want = ev["counter"]
            if ev["kind"] == "transfer":  # either side may propose it
                want = next(st["account"] for st in truth["statements"]
                            if st["account"] != account)
            if got == want:
                s.counter_right += 1
            else:
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

