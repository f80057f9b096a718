"""Shared command-line plumbing: one-line errors, exit codes, --set overrides."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def add_config_args(parser: argparse.ArgumentParser, default_config: str | None = None) -> None:
    """Add the --config and --set options that every tool takes."""
    parser.add_argument("--config", default=default_config, help="YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set test.flip_test=false (repeatable)",
    )


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's main(); bad input becomes one line on stderr and a non-zero exit code."""
    prog = __import__("os").path.basename(sys.argv[0]) or "tool"
    try:
        return int(main(argv) or 0)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
