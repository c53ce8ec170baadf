# beanagent offline agent: the reconciliation script (deterministic, same every run).
# It runs in the sandbox with the script API globals: ledger, statements, propose, engine.
# Save it with `beanagent reconcile --save-script FILE`, edit it, rerun with `beanagent run`.
# ruff: noqa: F821

proposed = {}  # (account, amount) -> [(statement no., date)] of every proposed leg
opened = set()

results = [engine.match(st) for st in statements]
# The review account opens on the first missing line of any statement (a later statement
# may hold an earlier one).
first_missing = min((ln.date for r in results for ln in r.missing), default=None)

for number, (st, result) in enumerate(zip(statements, results, strict=True)):
    print(f"{st.file}: {len(st.lines)} lines on {st.account}: {len(result.matches)} booked, "
          f"{len(result.missing)} missing, {len(result.ledger_only)} only in the ledger")
    for item in result.ledger_only:
        print(f"  ledger only: {item.txn.date} {item.amount} {item.txn.payee or item.txn.narration}"
              f" ({item.reason})")
    added = Decimal(0)
    for line in result.missing:
        # The same money seen on an earlier statement (a transfer between two of the
        # user's accounts, or the same account in two formats) is booked once.
        legs = proposed.get((st.account, line.amount), [])
        twin = next((p for p in legs if p[0] != number
                     and abs((p[1] - line.date).days) <= engine.window_days), None)
        if twin is not None:
            legs.remove(twin)
            print(f"  {line.ref}: already proposed from another statement")
            continue
        guess = engine.suggest(st, line)
        other = engine.booked_elsewhere(st, line, guess.account)
        if other is not None:
            print(f"  {line.ref}: not proposed: the other side of this transfer is booked at "
                  f"{other.file}:{other.line} ({other.date}) against another account; fix "
                  f"that entry to use {st.account}")
            continue
        postings = engine.template(st, line, guess) or [
            (st.account, line.amount, st.currency), (guess.account, -line.amount, st.currency)]
        for account in [p[0] for p in postings]:
            if account not in ledger.accounts and account not in opened:
                propose.open(account, first_missing, reason="review account for lines without a "
                             "confident counter-account")
                opened.add(account)
        propose.transaction(
            date=line.date,
            # the ledger's name for a payee it knows; else the bank's counterparty column
            payee=(guess.payee if guess.confident else None) or
            (engine.fit(line.payee) if line.payee else None),
            narration=engine.fit(line.description),  # a bank's memo can be long
            postings=postings,
            evidence=[line],
            flag="*" if guess.confident else "!",
            meta=engine.bank_meta(st, line),
            confidence=guess.confidence,
            reason=guess.reason,
        )
        added += line.amount
        proposed.setdefault((st.account, line.amount), []).append((number, line.date))
        proposed.setdefault((guess.account, -line.amount), []).append((number, line.date))

    if st.closing_balance is None:
        continue
    day = engine.balance_date(st)
    booked = ledger.balance(st.account, day, st.currency) + sum(
        (ln.amount for ln in result.missing if ln.date < day), Decimal(0))
    existing = engine.has_balance(st.account, day)
    if existing is not None:
        print(f"  balance on {day} already asserted in the ledger ({existing} {st.currency})")
    elif booked == st.closing_balance:
        propose.balance(st.account, day, st.closing_balance, st.currency,
                        evidence=[st.lines[-1]],
                        reason=engine.fit(f"closing balance of {st.file} as of "
                                          f"{day - timedelta(days=1)}"))
    else:
        print(f"  closing balance {st.closing_balance} {st.currency} differs from the ledger's "
              f"{booked} {st.currency} by {st.closing_balance - booked}: no balance assertion "
              "proposed")
