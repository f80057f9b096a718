"""Metric tables printed the way the seed prints them."""

from __future__ import annotations

from collections.abc import Mapping


def format_table(table: Mapping[str, float]) -> str:
    """Two lines: column names over values (3 decimals)."""
    names = list(table)
    head = "| " + " | ".join(names) + " |"
    values = "| " + " | ".join(f"{table[n]:.3f}".rjust(len(n)) for n in names) + " |"
    return f"{head}\n{values}"
