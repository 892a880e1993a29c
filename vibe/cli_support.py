"""Support shared by the command lines (demo.py, train.py, eval.py): logging setup and the
one-line error contract. The library never imports the command lines; they import this."""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Callable

from vibe.errors import VibeError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def add_config_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                         example_override: str = "TRACKER.DETECT_STRIDE 1") -> None:
    """The flags every command line shares: --cfg, --opts, --device, --verbose."""
    parser.add_argument("--cfg", help="YAML file overriding the defaults of vibe/config.py")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE",
                        help=f"config overrides as KEY VALUE pairs, e.g. --opts {example_override}")
    parser.add_argument("--device", help="auto (default), cpu or cuda[:N]")
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def config_from_args(args: argparse.Namespace, flags: dict[str, object]):
    """The config of a command line: defaults <- --cfg YAML <- --opts <- its own flags that were given
    (`flags` maps config keys to flag values; None means not given)."""
    from vibe.config import load_config

    overrides = [str(item) for key, value in flags.items() if value is not None for item in (key, value)]
    return load_config(args.cfg, list(args.opts) + overrides)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so the same clean-up runs: child
    processes (ffmpeg, fitting workers) stopped, temporary and staging files removed."""


INTERRUPTED_MESSAGE = ("{what}; no file was left half-written: each output is complete, or as it was before "
                       "this command")


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run `main`; a VibeError becomes one line on stderr and its exit code (2), Ctrl-C one line
    and 130, SIGTERM (handled like Ctrl-C) one line and 143.

    `argv` None means the real command line: then a signal after `main` has returned (while
    Python shuts down) ends the process at once with main's exit code instead of a traceback.
    """
    with _sigterm_raises():
        try:
            code = int(main(argv) or 0)
        except VibeError as err:
            print(f"error: {err}", file=sys.stderr)
            code = err.exit_code
        except KeyboardInterrupt as err:
            terminated = isinstance(err, Terminated)
            print(f"error: {INTERRUPTED_MESSAGE.format(what='terminated' if terminated else 'interrupted')}",
                  file=sys.stderr)
            code = 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    if argv is None:
        _exit_on_signal(code)
    return code


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal handlers can only be set there


@contextlib.contextmanager
def _sigterm_raises():
    """Within the block SIGTERM raises Terminated (in the main thread; elsewhere it is left as is)."""
    if not _in_main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(code: int) -> None:
    """From now on Ctrl-C or SIGTERM ends the process at once with `code`: the command's work is done."""
    if not _in_main_thread():
        return

    def leave(signum, frame):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, leave)
