"""Everything the user sees: the console, the review prompt, tables, the JSON report."""
