"""Small tests on the text fields of data files, shared by the readers that parse them."""

from __future__ import annotations


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (e.g. to tell a CSV header line from a data line)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
