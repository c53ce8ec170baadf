"""Recognise files that are plainly not a statement beanagent reads, by their first bytes, so
that they are refused by name ("a PDF document") instead of failing as a CSV."""

from __future__ import annotations

import re

# OFX is recognised here, without ofxtools: importing it costs ~0.3 s, which a run that
# reads only CSV or CAMT files should not pay (statements/ofx.py imports it).
OFX_SUFFIXES = frozenset({".ofx", ".qfx", ".qbo"})
_OFX_START = re.compile(rb"<OFX>", re.IGNORECASE)


def looks_like_ofx(head: bytes) -> bool:
    """Whether the first bytes of a file look like OFX: an OFX 1.x header, an OFX 2.x
    processing instruction, or (header-less files some banks send) an `<OFX>` tag."""
    upper = head.upper()
    return b"OFXHEADER" in upper or b"<?OFX" in upper or _OFX_START.search(head) is not None


_XML_PROLOGUE = re.compile(rb"\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*", re.DOTALL)
_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]{0,60})")
_JSON_START = re.compile(rb'\s*(?:\{\s*(?:"|\})|\[\s*(?:[{\["\]]|-?\d|true|false|null))')


def describe_unsupported(head: bytes) -> str | None:
    """What the file looks like, when it is a kind of file no statement reader takes; None
    when it may still be a CSV."""
    if head.startswith(b"%PDF"):
        return "a PDF document (download the statement as CSV, OFX, MT940 or CAMT instead)"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        if b"[Content_Types].xml" in head or b"xl/" in head:
            return "an Excel or other Office workbook (save it as CSV)"
        return "a zip archive (unpack it and pass the statement inside)"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "an Excel 97-2003 or other Office document (save it as CSV)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive (unpack it first)"
    body = head.removeprefix(b"\xef\xbb\xbf")
    lowered = body.lstrip()[:512].lower()
    # Markup from the first byte (a comment or XML prologue may come before <html>); a CSV
    # row holding an error page's text further down is the CSV reader's to skip.
    if lowered.startswith(b"<") and b"<html" in lowered[:200]:
        return "an HTML page (a bank's 'Excel' export is often one: open it and save as CSV)"
    if _JSON_START.match(body):
        return "a JSON document"
    if body.lstrip().startswith(b"<"):
        prologue = _XML_PROLOGUE.match(body)
        root = _XML_ROOT.match(body, prologue.end() if prologue else 0)
        name = root.group(1).decode("ascii", "replace") if root else "?"
        return f"an XML document (root <{name}>) that is not a CAMT.053/052 statement"
    return None
