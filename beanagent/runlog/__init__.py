"""The audit log: writing each run's record (audit) and reading it back (history)."""
