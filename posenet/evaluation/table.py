"""Metric tables printed the way the seed prints them."""

from __future__ import annotations

from collections.abc import Mapping

from posenet.files import write_json


def format_table(table: Mapping[str, float]) -> str:
    """Two lines: column names over values (3 decimals)."""
    names = list(table)
    head = "| " + " | ".join(names) + " |"
    values = "| " + " | ".join(f"{table[n]:.3f}".rjust(len(n)) for n in names) + " |"
    return f"{head}\n{values}"


def report_table(table: Mapping[str, float], json_path: str | None = None) -> None:
    """Print the table; also write it to `json_path` (atomically, no NaN) when given."""
    print(format_table(table))
    if json_path:
        write_json(json_path, table)
