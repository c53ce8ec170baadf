"""The pure core: matching, categorisation, culprits, proposal rules, the gate's verdict,
the diff and the balance. No file, terminal, sandbox or log I/O (a test enforces it)."""
