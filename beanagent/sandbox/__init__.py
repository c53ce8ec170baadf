"""Run untrusted scripts in a separate process: see `runner.Sandbox` (the host side) and
`server` (the process that loads the ledger once and forks one child per script)."""
