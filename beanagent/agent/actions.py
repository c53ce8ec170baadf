"""What the model can do, as tools: code (`run_python`) or plain JSON tool calls.

`--actions code` (the default) is CodeAct: one tool, `run_python`, whose input is a script.
`--actions json` is the comparison the CodeAct paper made: small fixed tools (match a
statement, suggest a counter-account, propose one entry) whose JSON arguments the host
turns into a tiny script. Either way every action runs as a script in the sandbox and
proposes through `propose`, so the two modes differ only in what the model writes.
"""

from __future__ import annotations

import json
from typing import Any

from beanagent.agent.loop import Call, InvalidCall, ToolSpec


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


RUN_PYTHON = ToolSpec(
    "run_python",
    "Run a Python reconciliation script in the sandbox with the globals ledger, statements, "
    "propose, engine. Returns its printed output, any traceback, and how many proposals "
    "exist so far.",
    _object({"code": {"type": "string", "description": "the script"}}, ["code"]))


class CodeActions:
    def __init__(self) -> None:
        self.tools = [RUN_PYTHON]

    def script(self, call: Call) -> str:
        if call.name != "run_python":
            raise InvalidCall(f"invalid tool call: there is no tool {call.name!r}; use "
                              "run_python with a 'code' string, or finish with a 'summary'")
        code = (call.input or {}).get("code")
        if not isinstance(code, str) or not code.strip():
            raise InvalidCall("invalid tool call: run_python needs a 'code' string (got "
                              f"{sorted(call.input or {})}); or call finish with a 'summary'")
        return code


_INT = {"type": "integer", "minimum": 0}
_STR = {"type": "string"}
_EVIDENCE = {"type": "array", "description": "the statement lines this entry rests on",
             "items": _object({"statement": _INT, "line": _INT}, ["statement", "line"])}

# Each tool: its spec and the body of its script (`args` holds the call's input).
_LINES = '''\
def _line(ref):
    return statements[int(ref["statement"])].lines[int(ref["line"])]
'''
_TOOLS: dict[str, tuple[ToolSpec, str]] = {
    "match_statement": (ToolSpec(
        "match_statement",
        "Match statements[statement] against the ledger: how many lines are booked, the "
        "missing lines (with their index), ledger entries the bank never saw, and where the "
        "closing balance's assertion goes.",
        _object({"statement": _INT}, ["statement"])), '''\
st = statements[int(args["statement"])]
r = engine.match(st)
index = {id(ln): i for i, ln in enumerate(st.lines)}
print(json.dumps({
    "account": st.account, "currency": st.currency, "booked": len(r.matches),
    "missing": [{"line": index[id(ln)], "date": str(ln.date), "amount": str(ln.amount),
                 "description": ln.description} for ln in r.missing],
    "ledger_only": [{"date": str(lo.txn.date), "amount": str(lo.amount),
                     "payee": lo.txn.payee or lo.txn.narration, "reason": lo.reason}
                    for lo in r.ledger_only],
    "closing_balance": None if st.closing_balance is None else str(st.closing_balance),
    "balance_date": str(engine.balance_date(st)),
}, ensure_ascii=False))
'''),
    "suggest": (ToolSpec(
        "suggest",
        "The likely counter-account for statements[statement].lines[line], from the "
        "ledger's history, with a confidence and a reason.",
        _object({"statement": _INT, "line": _INT}, ["statement", "line"])), _LINES + '''\
g = engine.suggest(statements[int(args["statement"])], _line(args))
print(json.dumps({"account": g.account, "payee": g.payee, "confidence": g.confidence,
                  "confident": g.confident, "reason": g.reason}, default=str))
'''),
    "propose_transaction": (ToolSpec(
        "propose_transaction",
        "Propose a transaction. postings: [{account, amount: 'NUMBER CURRENCY'}], at most "
        "one without an amount. The first evidence line's bank id is recorded for reruns.",
        _object({"date": _STR, "payee": _STR, "narration": _STR,
                 "postings": {"type": "array", "items": _object(
                     {"account": _STR, "amount": _STR}, ["account"])},
                 "evidence": _EVIDENCE, "flag": {"type": "string", "enum": ["*", "!"]},
                 "confidence": {"type": "number"}, "reason": _STR},
                ["date", "narration", "postings", "evidence"])), _LINES + '''\
lines = [_line(e) for e in args["evidence"]]
st = statements[int(args["evidence"][0]["statement"])] if lines else None
propose.transaction(
    args["date"], args.get("payee"), args["narration"],
    [(p["account"], p["amount"]) if p.get("amount") else (p["account"],)
     for p in args["postings"]],
    evidence=lines, flag=args.get("flag", "*"),
    meta=engine.bank_meta(st, lines[0]) if lines else None,
    confidence=args.get("confidence"), reason=args.get("reason", ""))
print("proposed")
'''),
    "propose_balance": (ToolSpec(
        "propose_balance",
        "Propose `date balance account amount` (checked at the START of date).",
        _object({"account": _STR, "date": _STR, "amount": {
            "type": "string", "description": "'NUMBER CURRENCY'"}, "reason": _STR},
            ["account", "date", "amount"])), '''\
propose.balance(args["account"], args["date"], args["amount"], reason=args.get("reason", ""))
print("proposed")
'''),
    "propose_open": (ToolSpec(
        "propose_open", "Propose opening an account (e.g. the review account).",
        _object({"account": _STR, "date": _STR,
                 "currencies": {"type": "array", "items": _STR}}, ["account", "date"])), '''\
propose.open(args["account"], args["date"], args.get("currencies", []))
print("proposed")
'''),
}


class JsonActions:
    def __init__(self) -> None:
        self.tools = [spec for spec, _ in _TOOLS.values()]

    def script(self, call: Call) -> str:
        found = _TOOLS.get(call.name)
        if found is None:
            raise InvalidCall(f"invalid tool call: there is no tool {call.name!r}; use "
                              f"{', '.join(_TOOLS)} or finish")
        spec, body = found
        args = call.input or {}
        missing = [k for k in spec.parameters["required"] if k not in args]
        if missing:
            raise InvalidCall(f"invalid tool call: {call.name} needs {', '.join(missing)}")
        # The arguments reach the script as one JSON string literal: data, never code.
        return f"import json\nargs = json.loads({json.dumps(args)!r})\n{body}"


def actions_for(mode: str) -> CodeActions | JsonActions:
    return JsonActions() if mode == "json" else CodeActions()
