"""The `--json` report: a stable contract (version 1), built from plain outcome data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from beanagent.errors import BeanagentError, ExitCode
from beanagent.model import AgentRun, RunResult
from beanagent.statements.model import Ref
from beanagent.text import display_path

REPORT_VERSION = 1


def _ref(ref: Ref) -> dict[str, Any]:
    return {"file": ref.file, "line": ref.line, "id": ref.id}


def _amount(number: Decimal, currency: str) -> str:
    return f"{number} {currency}"


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    # Token counts are numbers; the cost is money, written as a decimal string like amounts.
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in usage.items()}


def _proof(outcome: RunResult) -> dict[str, Any] | None:
    """The reconciliation proof: per proposal (those shown, then those it refused) whether
    it is backed and booked once, and its findings; per statement whether every line is
    booked and what the closing balance still differs by."""
    proof = outcome.proof
    if proof is None:
        return None
    return {
        "passed": not proof.refused,
        "proposals": [{"id": p.id, "backed": p.backed, "once": p.once,
                       "refused": p.refused, "flagged": p.flagged,
                       "new_accounts": list(p.new_accounts),
                       "findings": [{"rule": f.rule, "message": f.message,
                                     "refused": f.refuse, "statement": [_ref(r) for r in f.refs]}
                                    for f in p.findings]} for p in proof.proposals],
        "statements": [{"file": s.file, "account": s.account, "complete": s.complete,
                        "unbooked": [_ref(r) for r in s.unbooked],
                        "difference": None if s.difference is None
                        else _amount(s.difference, s.currency)} for s in proof.statements],
    }


def _findings(outcome: RunResult) -> list[dict[str, Any]]:
    """A run without statements: what the ledger alone shows, each with where and the fix
    (kind: balance, transfer-twice, transfer-one-side, duplicate, stale-flag, dormant)."""
    return [{"kind": f.kind, "message": f.message, "file": display_path(f.file),
             "line": f.line, "fix": f.fix,
             "related": [{"file": display_path(file), "line": line}
                         for file, line in f.related]} for f in outcome.findings]


def _confidence(value: Decimal | None) -> Any:
    # A JSON number, not money: three decimals are plenty.
    return None if value is None else int(value * 1000) / 1000


def build_report(outcome: RunResult) -> dict[str, Any]:
    statements = []
    for st in outcome.statements:
        statements.append({
            "file": st.file, "format": st.format, "account": st.account,
            "currency": st.currency, "lines": len(st.lines),
            "start": st.start.isoformat() if st.start else None,
            "end": st.end.isoformat() if st.end else None,
            "closing_balance": None if st.closing_balance is None
            else _amount(st.closing_balance, st.currency),
        })
    matches, unmatched = [], []
    for st, result in zip(outcome.statements, outcome.matches, strict=True):
        for m in result.matches:
            matches.append({"statement": _ref(m.line.ref),
                            "entry": {"file": display_path(m.txn.file), "line": m.txn.line},
                            "note": m.note,
                            "discrepancy": (_amount(m.discrepancy, st.currency)
                                            if m.discrepancy else None)})
        for lo in result.ledger_only:
            unmatched.append({"entry": {"file": display_path(lo.txn.file), "line": lo.txn.line},
                              "date": lo.txn.date.isoformat(),
                              "amount": _amount(lo.amount, st.currency), "reason": lo.reason})
    items = outcome.proposals
    if outcome.accepted is not None:
        items = tuple(i for i in items if i.id in outcome.accepted)
    proposals = [{
        "id": i.id, "kind": i.spec.kind, "date": i.spec.date.isoformat(), "text": i.text,
        "evidence": [_ref(r) for r in i.spec.evidence],
        "confidence": _confidence(i.spec.confidence), "reason": i.spec.reason,
        "file": display_path(i.target) if i.target else None,
    } for i in items]
    balance = None
    if outcome.balance is not None:
        b = outcome.balance
        balance = {"account": b.account, "date": b.date.isoformat(),
                   "statement": _amount(b.statement, b.currency),
                   "ledger": _amount(b.ledger, b.currency),
                   "difference": _amount(b.difference, b.currency),
                   "culprits": [{"kind": c.kind, "amount": _amount(c.amount, b.currency),
                                 "where": [display_path(w) for w in c.where],
                                 "explanation": c.explanation} for c in b.culprits]}
    gate = outcome.gate
    check = {"passed": gate.passed if gate else True,
             "errors": [{"file": display_path(e.file), "line": e.line,
                         "message": e.message + (f" (proposal {e.proposal})" if e.proposal else "")}
                        for e in (gate.errors if gate else ())],
             "dropped": [{"id": pid, "reason": why} for pid, why in outcome.dropped],
             "seconds": round(gate.seconds, 3) if gate else None,
             "hidden_seconds": (round(max(0.0, gate.seconds - gate.waited), 3)
                                if gate else None)}
    return {
        "version": REPORT_VERSION,
        "ledger": display_path(outcome.ledger),
        "statements": statements,
        "matches": matches,
        "proposals": proposals,
        "unmatched_ledger": unmatched,
        "balance": balance,
        "check": check,
        "proof": _proof(outcome),
        "findings": _findings(outcome),
        "committed": outcome.committed,
        "agent": _agent(outcome.agent, outcome.agent_seconds),
        "error": _outcome_error(outcome),
    }


def _agent(agent: AgentRun | None, seconds: float | None) -> dict[str, Any]:
    """What the agent did and cost; `ended` and `summary`: how a model's run ended and
    its own last words (finish's summary, or the reply that ended it)."""
    return {"name": agent.name if agent else "none",
            "steps": len(agent.steps) if agent else 0,
            "seconds": round(seconds, 3) if seconds is not None else None,
            "model": agent.model if agent else None,
            "usage": _usage(agent.usage) if agent and agent.usage is not None else None,
            "rounds": agent.rounds if agent else 0,
            "stopped": agent.stopped if agent else None,
            "ended": agent.ended if agent else None,
            "summary": agent.said if agent else None}


def _outcome_error(outcome: RunResult) -> dict[str, Any] | None:
    """A run that ended with a failure of its own (the check: exit 3) says so; declining
    (exit 1) is the user's choice, not an error."""
    if outcome.exit_code < ExitCode.BAD_INPUT:
        return None
    message = "the run failed"
    if outcome.exit_code == ExitCode.CHECK_FAILED and outcome.gate is not None:
        errors = outcome.gate.errors
        message = (f"the staged ledger fails bean-check ({len(errors)} new error"
                   f"{'s' * (len(errors) != 1)}"
                   + (f"; first: {errors[0]}" if errors else "") + "); nothing was written")
    kind = {ExitCode.CHECK_FAILED: "check_failed"}.get(outcome.exit_code, "failed")
    return {"type": kind, "message": message, "exit_code": int(outcome.exit_code),
            "file": None, "line": None}


def build_error_report(error: BeanagentError | None, exit_code: int, ledger: Path | None,
                       message: str = "") -> dict[str, Any]:
    """The report of a run that ended with an error before it had an outcome (bad input,
    an agent or sandbox failure, a ledger that changed, a write that failed, Ctrl-C): the
    version, the ledger and the error; nothing was written. An agent that failed after
    it ran adds what it did and cost (`agent`, as in a full report)."""
    run = getattr(error, "run", None)
    extra = {"agent": _agent(run, getattr(error, "seconds", None))} \
        if isinstance(run, AgentRun) else {}
    return {
        "version": REPORT_VERSION,
        "ledger": display_path(ledger) if ledger is not None else None,
        "committed": False,
        **extra,
        "error": {"type": error.kind if error is not None else "interrupted",
                  "message": error.message if error is not None else message,
                  "exit_code": exit_code,
                  "file": display_path(error.file) if error is not None and error.file
                  else None,
                  "line": error.line if error is not None else None},
    }
