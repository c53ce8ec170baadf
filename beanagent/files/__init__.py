"""The user's files: staging proposals into a temp copy, the journaled commit, undo."""
