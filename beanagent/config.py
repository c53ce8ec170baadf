"""Settings: defaults, then `beanagent.toml` beside the ledger, then environment, then flags.

Example `beanagent.toml`:

    review_account = "Expenses:FIXME"
    window_days = 5

    [[statement]]
    match = "chase-*.csv"                  # glob on the statement's file name
    account = "Liabilities:US:Chase:Sapphire"
    date_format = "%m/%d/%Y"               # any --csv-* override, without the prefix
    negate = false
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import tomllib
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError

CONFIG_NAME = "beanagent.toml"
CSV_KEYS = ("delimiter", "encoding", "header_line", "date_col", "amount_col", "debit_col",
            "credit_col", "description_col", "payee_col", "balance_col", "id_col",
            "currency_col", "date_format", "decimal", "negate")


@dataclasses.dataclass(frozen=True)
class StatementRule:
    match: str  # glob on the statement's file name
    account: str | None = None  # the ledger account this statement belongs to
    csv: tuple[tuple[str, Any], ...] = ()  # CSV overrides (CsvOptions fields)


@dataclasses.dataclass(frozen=True)
class Config:
    # Where lines with no confident counter-account go (flagged `!`, opened if missing).
    review_account: str = "Expenses:FIXME"
    # Days either side of a statement date within which a ledger entry can match it.
    window_days: int = 5
    # Counter-account confidence below which a proposal is flagged `!` for review.
    confident: float = 0.6
    # Wall-clock limit for one script in the sandbox, in seconds.
    step_timeout: float = 60.0
    # Model for the LLM agent (flag --model, env BEANAGENT_MODEL, or this).
    model: str | None = None
    # LLM agents: at most this many actions (scripts run, or tool calls) in a run, gate
    # rounds included (flag --max-steps). Default: 12 with --actions code, 40 with json.
    max_steps: int | None = None
    # LLM agents: at most this many tokens in a run (input, output and cached, every
    # request, gate rounds included; flag --max-tokens).
    max_tokens_total: int = 500_000
    # LLM agents: wall-clock limit for the agent's whole run (model and scripts), seconds.
    agent_timeout: float = 600.0
    # The file new entries go into (relative to the ledger's folder; it must be one the
    # ledger includes). Default: the file holding the account's most recent entries.
    target_file: str | None = None
    # Where each run's audit record goes: "ledger" (.beanagent/log/ beside the ledger),
    # "state" ($XDG_STATE_HOME/beanagent/log/), "off", or a file path (env
    # BEANAGENT_AUDIT_LOG, or this).
    audit_log: str = "ledger"
    # Per-statement settings, first match wins.
    statements: tuple[StatementRule, ...] = ()
    source: Path | None = None  # the file these came from, if any

    def rule_for(self, statement: Path) -> StatementRule | None:
        return next((r for r in self.statements if fnmatch.fnmatch(statement.name, r.match)),
                    None)


def load_config(ledger: Path) -> Config:
    path = ledger.resolve().parent / CONFIG_NAME
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInputError(f"invalid configuration: {exc}", file=str(path)) from None
        values = _from_toml(data, path)
    env_model = os.environ.get("BEANAGENT_MODEL")
    if env_model:
        values["model"] = env_model
    env_log = os.environ.get("BEANAGENT_AUDIT_LOG")
    if env_log:
        values["audit_log"] = env_log
    return Config(**values, source=path if path.is_file() else None)


def _from_toml(data: dict[str, Any], path: Path) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(Config)} - {"statements", "source"}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "statement":
            continue
        if key not in known:
            raise BadInputError(f"unknown setting {key!r} (known: {', '.join(sorted(known))})",
                                file=str(path))
        values[key] = value
    rules = []
    for item in data.get("statement", []):
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise BadInputError("each [[statement]] needs a 'match' glob", file=str(path))
        extra = set(item) - {"match", "account", *CSV_KEYS}
        if extra:
            raise BadInputError(f"unknown statement setting(s): {', '.join(sorted(extra))}",
                                file=str(path))
        rules.append(StatementRule(item["match"], item.get("account"),
                                   tuple((k, item[k]) for k in CSV_KEYS if k in item)))
    values["statements"] = tuple(rules)
    return values
