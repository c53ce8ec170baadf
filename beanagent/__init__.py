"""beanagent: reconcile a Beancount ledger against bank statements, safely."""

__version__ = "0.1.0"
