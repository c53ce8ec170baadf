"""The LLM agent's first request: how big it is, and what it is made of.

The system prompt plus the first user message (what the provider receives before the model
has done anything), in bytes of UTF-8, with its parts: the instructions (the prompt files
with their placeholders empty), the API reference, the worked example, the ledger's facts
and the statements. Measured on the sample ledger with its inbox, and on the
~13,000-transaction ledger `common.large_ledger()` makes with its checking statement.
Nothing is sent anywhere.
Usage: python -m benchmarks.bench_prompt
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchmarks.common import ACCOUNT, HERE, large_ledger

ROOT = HERE.parent


class _Quiet:
    def status(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


def first_request(ledger: Path, statements: list[Path], account: str | None = None
                  ) -> dict[str, int]:
    """Bytes of the first request and of each part (in code as it stands)."""
    from beanagent.agent import facts as facts_module
    from beanagent.agent.llm import LLMAgent
    from beanagent.model import Task
    from beanagent.settings import load_settings
    from beanagent.workflow import load

    settings = load_settings(ledger, account=account) if account else load_settings(ledger)
    loaded = load(ledger, statements, settings, _Quiet())  # type: ignore[arg-type]
    sts = list(loaded.statements)
    facts = facts_module.ledger_facts(loaded.view, sts)
    task = Task(loaded.statements, settings.review_account, facts)
    agent = LLMAgent(model="m")
    system = agent.system_prompt(task)
    first: Callable[[], str] | None = getattr(agent, "first_message", None)
    user = first() if first is not None else ("Reconcile the statements. Start by running "
                                              "a script.")
    example: Callable[[], str] | None = getattr(facts_module, "worked_example", None)

    def size(text: str) -> int:
        return len(text.encode("utf-8"))

    parts = {
        "api reference": size(facts_module.api_reference()),
        "worked example": size(example()) if example is not None else 0,
        "ledger facts": size(facts),
        "statements": size(facts_module.statement_summary(sts)),
    }
    total = size(system) + size(user)
    return {"total": total, "instructions": total - sum(parts.values()), **parts}


def main() -> None:
    sample = ROOT / "ledgers" / "sample.beancount"
    inbox = sorted((ROOT / "ledgers" / "inbox").glob("*.csv"))
    big, statement = large_ledger()
    runs = [("sample (2 statements)", first_request(sample, inbox)),
            ("13k transactions (1 statement)", first_request(big, [statement], ACCOUNT))]
    width = max(len(k) for k in runs[0][1])
    print("first request (system prompt + first user message), bytes of UTF-8")
    print(" " * (width + 2) + "".join(f"{name:>32}" for name, _ in runs))
    for key in runs[0][1]:
        print(f"{key:<{width + 2}}" + "".join(f"{r[key]:>32,}" for _, r in runs))


if __name__ == "__main__":
    main()
