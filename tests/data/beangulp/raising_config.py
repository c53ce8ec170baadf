"""A config that fails while loading, as when a user's secret is missing."""

import os

TOKEN = os.environ.get("BANK_TOKEN_FOR_A_TEST_THAT_IS_NEVER_SET")
if TOKEN is None:
    raise RuntimeError("BANK_TOKEN is not set")  # beanagent must report this line

CONFIG = []
