"""Shared command-line plumbing: one-line errors, exit codes, --set overrides."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError
from .files import no_space

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM exits with 128 + 15
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help with each option's default: "(default: X)" is added where the help text does
    not already say it and there is one (not None, False or an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        nothing = action.default is None or action.default is False or action.default == []
        if "default" in text or nothing or action.default == argparse.SUPPRESS:
            return text  # (`in (None, False, ...)` would also drop a default of 0: 0 == False)
        return super()._get_help_string(action)


def add_config_args(
    parser: argparse.ArgumentParser,
    default_config: str | None = None,
    example: str | None = None,
    help: str = "YAML config file",
) -> None:
    """Add the --config and --set options that every tool takes; with `example` (and no
    default) --config is required and its help shows that example."""
    required = example is not None and default_config is None
    help_text = f"{help}, e.g. {example}" if example else help
    parser.add_argument("--config", default=default_config, required=required, help=help_text)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set test.flip_test=false (repeatable; default: none)",
    )


def int_list(text: str, minimum: int = 1) -> list[int]:
    """Comma-separated integers >= `minimum` (an argparse type)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected integers >= {minimum}, got {text!r}")
    return values


def seed_list(text: str) -> list[int]:
    """Comma-separated seeds (integers >= 0)."""
    return int_list(text, minimum=0)


def name_list(text: str) -> list[str]:
    """Comma-separated names, blanks dropped."""
    return [v.strip() for v in text.split(",") if v.strip()]


def _writable_folder(path: Path, wanted: Path, option: str) -> None:
    """The nearest existing folder at or above `path` must be a folder we can create files in."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {wanted}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=existing)
    except OSError as err:
        raise UserError(
            f"{option} {wanted}: cannot write in {existing} ({err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path: str | os.PathLike, option: str = "output folder") -> Path:
    """Fail before any work when `path` cannot become a folder of outputs: it is a file, lies
    under a file, or is in a read-only place. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, expected a folder")
    _writable_folder(path, path, option)
    return path


def check_output_file(path: str | os.PathLike, option: str = "output file") -> Path:
    """Fail before any work when `path` cannot be written as a file: it is a folder, lies
    under a file, or is in a read-only place. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder, expected a file name")
    _writable_folder(path.parent, path, option)
    return path


def check_not_inputs(
    outputs: Iterable[str | os.PathLike],
    inputs: Iterable[str | os.PathLike],
    option: str = "output",
) -> None:
    """Refuse, before any work, an output path that is one of the inputs (after symlinks): an
    output never replaces an input. Tools pass every file they will write."""
    sources = {Path(p).resolve(): Path(p) for p in inputs}
    for out in outputs:
        target = Path(out).resolve()
        if target in sources:
            raise UserError(
                f"{option} {out}: is the input {sources[target]}; refusing to write over it "
                "(choose another output path)"
            )


LOCK_NAME = ".posetracker.lock"


@contextmanager
def output_lock(folder: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Hold `folder` for this run. A second run given the same folder refuses in one line
    naming the first (pid, host, command). The lock is the operating system's (flock), so a
    killed run never blocks the next; the lock file, and the folder if this run made it and
    left it empty, are removed at the end."""
    import fcntl  # POSIX only, like the signal handling above

    folder = Path(folder)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(
                f"{option} {folder}: another run is writing there ({holder}); wait for it "
                "or choose another output folder"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and lock: try again
    command = " ".join(sys.argv) or "python"
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}: {command}".encode())
    try:
        yield folder
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: a run stopped before writing leaves no folder


class _Stop:
    """What the stop-signal handlers share: the first signal's number, whether outputs are
    being finished, whether the user was told that further signals wait."""

    signum: int | None = None
    finishing = 0
    told = False


def _hold_off(signum: int) -> None:
    """A stop signal that arrives while outputs are finished (or a run already stops): it is
    ignored, and the user is told once why nothing happens."""
    if not _Stop.told:
        _Stop.told = True
        print(
            "finishing the outputs of the frames so far; further interrupts are ignored until then",
            file=sys.stderr,
            flush=True,
        )


def _on_stop_signal(signum: int, frame) -> None:
    """SIGINT and SIGTERM: the first raises KeyboardInterrupt (the tools write what they have
    and exit); later ones, and any during `finishing_outputs`, cannot cut that short."""
    if _Stop.signum is not None or _Stop.finishing:
        _hold_off(signum)
        return
    _Stop.signum = signum
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _stop_signals(handler) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` inside the block (main thread only: signal
    handlers cannot be set elsewhere); the previous handlers come back afterwards."""
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextmanager
def finishing_outputs() -> Iterator[None]:
    """Hold off Ctrl-C and SIGTERM while output files are closed (renamed into place, a
    summary written), so a second interrupt cannot lose them; the signals are ignored."""
    _Stop.finishing += 1
    try:
        if signal.getsignal(signal.SIGINT) is _on_stop_signal:  # inside run_cli already
            yield
        else:
            with _stop_signals(lambda signum, frame: _hold_off(signum)):
                yield
    finally:
        _Stop.finishing -= 1


def run_cli(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None
) -> int:
    """Run a tool's main(); bad input becomes one line on stderr and a non-zero exit code.
    SIGTERM stops a run as Ctrl-C does (KeyboardInterrupt: outputs of the work so far are
    finished); a second signal is ignored while that happens, and, for a command-line run
    (`argv` None: the process exits next), also while the interpreter shuts down."""
    prog = os.path.basename(sys.argv[0]) or "tool"
    _Stop.signum, _Stop.told = None, False
    with _stop_signals(_on_stop_signal):  # also while the messages below are printed
        try:
            code = int(main(argv) or 0)
        except UserError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            code = EXIT_USER_ERROR
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            message = no_space(exc.filename) if exc.filename else "no space left on the device"
            print(f"{prog}: error: {message}", file=sys.stderr)
            code = EXIT_USER_ERROR
        except KeyboardInterrupt:
            stopped_by = "terminated" if _Stop.signum == signal.SIGTERM else "interrupted"
            print(f"{prog}: {stopped_by}", file=sys.stderr)
            code = 128 + _Stop.signum if _Stop.signum else EXIT_INTERRUPTED
    if _Stop.signum is not None and argv is None and _in_main_thread():
        for s in STOP_SIGNALS:  # no traceback from a later signal in atexit clean-up
            signal.signal(s, signal.SIG_IGN)
    return code
