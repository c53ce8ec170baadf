"""The user's ledger: loading it (load) and the read-only view scripts get (view)."""
