"""Text for people: paths as the user would type them."""

from __future__ import annotations

import os
from pathlib import Path


def display_path(path: Path | str) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    text = str(path)
    if text.startswith("<"):
        return text
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def split_lines(text: str) -> list[str]:
    """Lines as beancount counts them: split at \n only (str.splitlines would also break
    at U+2028, form feeds and lone \r, shifting every line number after them)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines

