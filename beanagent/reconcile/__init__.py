"""The reconciliation engine: pure functions over a `LedgerView` and statements.

Used by the host (for the report's matches) and inside the sandbox (as the `engine`
global that scripts start from), so both always agree.
"""
