"""Every setting, defined once: defaults here, then `beanagent.toml` beside the ledger, then
the environment, then the command line's flags. One frozen `Settings` per run, read once by
the CLI and handed to everything that needs a value.

Example `beanagent.toml`:

    review_account = "Expenses:FIXME"
    window_days = 5
    confident = 0.6
    denylist = ["Expenses:Denylisted"]     # accounts never suggested
    inbox = ["downloads/*.csv", "statements/**/*.ofx"]   # where statements arrive
    archive = "documents"                  # where reconciled statements are filed
    cache = false                          # no load cache (ledger/cache.py) for this ledger

    [[statement]]
    match = "chase-*.csv"                  # glob on the statement's file name
    account = "Liabilities:US:Chase:Sapphire"
    date_format = "%m/%d/%Y"               # any --csv-* override, without the prefix
    negate = false

Every value is checked for its type and range when it is read; a bad one is one
BadInputError (exit 2) naming the file or flag and what is expected.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError

CONFIG_NAME = "beanagent.toml"

# Defaults that code running without a Settings (the script API inside the sandbox, the
# engine's pure functions) falls back to: the same values as Settings' own defaults.
REVIEW_ACCOUNT = "Expenses:FIXME"
WINDOW_DAYS = 5
CONFIDENT = Decimal("0.6")
STEP_TIMEOUT = 60.0
MAX_TOKENS_TOTAL = 500_000
AGENT_TIMEOUT = 600.0
DEFAULT_STEPS = {"code": 12, "json": 40}  # LLM actions per run; JSON tools take one per entry
AGENTS = ("offline", "anthropic", "openai")
# Where a bare `reconcile LEDGER` looks for statements when beanagent.toml names no inbox.
DEFAULT_INBOX = ("inbox/**/*",)
ACTIONS = ("code", "json")


@dataclasses.dataclass(frozen=True)
class CsvOptions:
    """Explicit CSV overrides for when detection is not sure; every field optional (None:
    detect). From `--csv-*` flags and from a `[[statement]]` rule, flags winning."""

    delimiter: str | None = None  # ',', ';', '\t'
    encoding: str | None = None
    header_line: int | None = None  # 1-based physical line of the header row
    date_col: str | None = None  # header name, or a 1-based column number as text
    amount_col: str | None = None
    debit_col: str | None = None
    credit_col: str | None = None
    description_col: str | None = None
    payee_col: str | None = None
    balance_col: str | None = None
    id_col: str | None = None
    currency_col: str | None = None
    type_col: str | None = None  # a column saying debit/credit (Soll/Haben...) for unsigned amounts
    date_format: str | None = None  # strptime format, e.g. "%d/%m/%Y"
    decimal: str | None = None  # "." or ","
    negate: bool | None = None  # flip signs (cards that show charges as positive)

    def over(self, base: CsvOptions) -> CsvOptions:
        """These overrides on top of `base` (a field left None keeps base's)."""
        return dataclasses.replace(base, **{k: v for k, v in self.values().items()})

    def values(self) -> dict[str, Any]:
        """The fields that were given."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}


CSV_KEYS = tuple(f.name for f in dataclasses.fields(CsvOptions))


@dataclasses.dataclass(frozen=True)
class StatementRule:
    match: str  # glob on the statement's file name
    account: str | None = None  # the ledger account this statement belongs to
    csv: CsvOptions = CsvOptions()


@dataclasses.dataclass(frozen=True)
class Settings:
    # --- beanagent.toml (and the environment) ---
    # Where lines with no confident counter-account go (flagged `!`, opened if missing).
    review_account: str = REVIEW_ACCOUNT
    # Days either side of a statement date within which a ledger entry can match it.
    window_days: int = WINDOW_DAYS
    # Counter-account confidence below which a proposal is flagged `!` (and highlighted in
    # the review).
    confident: Decimal = CONFIDENT
    # Accounts never suggested as a counter-account (the offline engine's history votes).
    denylist: tuple[str, ...] = ()
    # Wall-clock limit for one script in the sandbox, in seconds.
    step_timeout: float = STEP_TIMEOUT
    # Model for the LLM agent (flag --model, env BEANAGENT_MODEL, or this).
    model: str | None = None
    # LLM agents: at most this many actions (scripts run, or tool calls) in a run, gate
    # rounds included (flag --max-steps). Default: DEFAULT_STEPS by --actions.
    max_steps: int | None = None
    # LLM agents: at most this many tokens in a run (input, output and cached, every
    # request, gate rounds included; flag --max-tokens).
    max_tokens_total: int = MAX_TOKENS_TOTAL
    # LLM agents: wall-clock limit for the agent's whole run (model and scripts), seconds.
    agent_timeout: float = AGENT_TIMEOUT
    # The file new entries go into (relative to the ledger's folder; it must be one the
    # ledger includes). Default: the file holding the account's most recent entries.
    target_file: str | None = None
    # Where each run's audit record goes: "ledger" (.beanagent/log/ beside the ledger),
    # "state" ($XDG_STATE_HOME/beanagent/log/), "off", or a file path (env
    # BEANAGENT_AUDIT_LOG, or this).
    audit_log: str = "ledger"
    # Globs (relative to the ledger's folder, never leaving it) naming where statements
    # arrive: a bare `reconcile LEDGER` reconciles the new ones.
    inbox: tuple[str, ...] = DEFAULT_INBOX
    # The folder (relative to the ledger's) reconciled statements are filed in, one
    # subfolder per account (beangulp's layout); None: they stay where they are.
    archive: str | None = None
    # Per-statement settings, first match wins.
    statements: tuple[StatementRule, ...] = ()
    # Keep the ledger's full load between runs in the user's cache folder (ledger/cache.py).
    # The file may only turn it off: where the cache lives is the user's own environment's
    # (BEANAGENT_CACHE_DIR), never a shared folder's file (flag --no-cache).
    cache: bool = True
    source: Path | None = None  # the beanagent.toml these came from, if any

    # --- the command line only ---
    agent: str = "offline"  # offline, anthropic or openai
    base_url: str | None = None  # LLM agents: the API's URL
    actions: str = "code"  # LLM agents: code (scripts) or json (plain tool calls)
    account: str | None = None  # the ledger account of the statements
    dry_run: bool = False
    yes: bool = False  # accept every proposal that passes the checks
    closing_balance: tuple[Decimal, str] | None = None  # for statements that carry none
    importers: Path | None = None  # the user's beangulp import config
    csv: CsvOptions = CsvOptions()  # --csv-* overrides
    save_script: Path | None = None  # save the agent's scripts here
    allow_weak_sandbox: bool = False  # run scripts even without Landlock/seccomp
    allow_insecure_url: bool = False  # LLM agents: plain http to a non-loopback --base-url
    output: Path | None = None  # the file new entries go into (one the ledger includes)
    verbose: bool = False  # show what the agent's scripts print

    def rule_for(self, statement: Path) -> StatementRule | None:
        return next((r for r in self.statements if fnmatch.fnmatch(statement.name, r.match)),
                    None)

    def csv_for(self, statement: Path) -> CsvOptions:
        """The CSV overrides for one statement: its rule's, then the flags'."""
        rule = self.rule_for(statement)
        return self.csv.over(rule.csv) if rule else self.csv

    @property
    def step_limit(self) -> int:
        """LLM actions per run: --max-steps, else max_steps, else by --actions."""
        return self.max_steps if self.max_steps is not None else DEFAULT_STEPS[self.actions]

    def engine(self) -> dict[str, str]:
        """What the script API's `engine` needs, as it crosses into the sandbox."""
        return {"review_account": self.review_account, "window_days": str(self.window_days),
                "confident": str(self.confident), "denylist": ",".join(self.denylist)}


def denylist_warnings(denylist: Iterable[str], accounts: Iterable[str]) -> list[str]:
    """A denylisted account the ledger doesn't have is likely mistyped: say which is close."""
    from beanagent.text import did_you_mean

    known = list(accounts)
    return [f"denylist: {name} is not an account of the ledger{did_you_mean(name, known)}"
            for name in denylist if name not in known]


# --- reading and checking ---------------------------------------------------------------

_FILE_KEYS = ("review_account", "window_days", "confident", "denylist", "step_timeout", "model",
              "max_steps", "max_tokens_total", "agent_timeout", "target_file", "audit_log",
              "inbox", "archive", "cache")


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else None


def _positive_seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if 0 < value <= 86_400 else None


def _confidence(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and 0 <= number <= 1 else None


def _account_name(value: Any) -> str | None:
    from beancount.core.account import is_valid

    return value if isinstance(value, str) and is_valid(value) else None


def _account_names(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    names = [_account_name(v) for v in value]
    return None if None in names else tuple(n for n in names if n is not None)


def _switch(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() and "\x00" not in value else None


def _window(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 60
    return value if ok else None


def _inside(value: Any) -> str | None:
    """A path or glob relative to the ledger's folder that can't leave it: beanagent.toml
    may come with a shared folder, and what an inbox finds is read (and shown to a model)."""
    text = _text(value)
    if text is None or text.startswith(("/", "\\", "~")) or ":" in text:
        return None
    parts = text.replace("\\", "/").split("/")
    return None if ".." in parts else text


def _globs(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    globs = [_inside(v) for v in value]
    return None if None in globs else tuple(g for g in globs if g is not None)


# setting -> (parser returning None when the value is bad, what is expected)
_CHECKS: dict[str, tuple[Any, str]] = {
    "review_account": (_account_name, "an account name like \"Expenses:FIXME\""),
    "window_days": (_window, "a whole number of days from 0 to 60"),
    "confident": (_confidence, "a number from 0 to 1, like 0.6"),
    "denylist": (_account_names, "a list of account names like [\"Expenses:Denylisted\"]"),
    "step_timeout": (_positive_seconds, "a number of seconds above 0"),
    "model": (_text, "a model name"),
    "max_steps": (_positive_int, "a whole number above 0"),
    "max_tokens_total": (_positive_int, "a whole number above 0"),
    "agent_timeout": (_positive_seconds, "a number of seconds above 0"),
    "target_file": (_text, "a file name relative to the ledger's folder"),
    "audit_log": (_text, "\"ledger\", \"state\", \"off\" or a file path"),
    "inbox": (_globs, "a list of globs inside the ledger's folder, like [\"inbox/**/*\"] "
              "(no absolute path, no ..)"),
    "cache": (_switch, "true or false"),
    "archive": (_inside, "a folder inside the ledger's folder, like \"documents\" "
                "(no absolute path, no ..)"),
}


def _checked(key: str, value: Any, where: str) -> Any:
    parse, expected = _CHECKS[key]
    parsed = parse(value)
    if parsed is None:
        raise BadInputError(f"{key} must be {expected}, not {value!r}", file=where)
    return parsed


def _csv(item: Mapping[str, Any], where: str) -> CsvOptions:
    values: dict[str, Any] = {}
    for key in CSV_KEYS:
        if key not in item:
            continue
        value = item[key]
        if key == "negate":
            ok = isinstance(value, bool)
        elif key == "header_line":
            ok = _positive_int(value) is not None
        elif key in ("date_col", "amount_col", "debit_col", "credit_col", "description_col",
                     "payee_col", "balance_col", "id_col", "currency_col", "type_col"):
            ok = isinstance(value, (str, int)) and not isinstance(value, bool)
            value = str(value)
        else:
            ok = isinstance(value, str) and bool(value)
        if not ok:
            raise BadInputError(f"statement setting {key} has the wrong type ({value!r})",
                                file=where)
        values[key] = value
    return CsvOptions(**values)


def _from_toml(data: dict[str, Any], where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "statement":
            continue
        if key not in _FILE_KEYS:
            raise BadInputError(f"unknown setting {key!r} (known: {', '.join(sorted(_FILE_KEYS))})",
                                file=where)
        values[key] = _checked(key, value, where)
    rules = []
    items = data.get("statement", [])
    if not isinstance(items, list):
        raise BadInputError("statement rules are written [[statement]]", file=where)
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise BadInputError("each [[statement]] needs a 'match' glob", file=where)
        extra = set(item) - {"match", "account", *CSV_KEYS}
        if extra:
            raise BadInputError(f"unknown statement setting(s): {', '.join(sorted(extra))}",
                                file=where)
        account = item.get("account")
        if account is not None and _account_name(account) is None:
            raise BadInputError(f"statement account must be an account name, not {account!r}",
                                file=where)
        rules.append(StatementRule(item["match"], account, _csv(item, where)))
    values["statements"] = tuple(rules)
    return values


def config_path(ledger: Path) -> Path:
    return ledger.resolve().parent / CONFIG_NAME


def load_settings(ledger: Path, **flags: Any) -> Settings:
    """Defaults, then beanagent.toml beside `ledger`, then the environment, then `flags`
    (the command line's values; None means "not given")."""
    path = config_path(ledger)
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInputError(f"invalid configuration: {exc}", file=str(path)) from None
        except OSError as exc:
            raise BadInputError(f"cannot read the configuration: {exc.strerror}",
                                file=str(path)) from None
        values = _from_toml(data, str(path))
        values["source"] = path
    for key, env in (("model", "BEANAGENT_MODEL"), ("audit_log", "BEANAGENT_AUDIT_LOG")):
        if os.environ.get(env):
            values[key] = _checked(key, os.environ[env], f"${env}")
    for key, value in flags.items():
        if value is None:
            continue
        if key in _CHECKS:
            value = _checked(key, value, f"--{key.replace('_', '-')}")
        values[key] = value
    settings = Settings(**values)
    if settings.agent not in AGENTS:
        raise BadInputError(f"unknown agent {settings.agent!r}: use {', '.join(AGENTS)}")
    if settings.actions not in ACTIONS:
        raise BadInputError(f"--actions must be code or json, not {settings.actions!r}")
    if settings.agent == "offline" and (settings.base_url or settings.actions != "code"):
        raise BadInputError("--base-url and --actions apply to the LLM agents "
                            "(--agent anthropic or openai)")
    return settings
