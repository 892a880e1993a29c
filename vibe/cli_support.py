"""Support shared by the command lines (demo.py, train.py, eval.py): logging setup and the
one-line error contract. The library never imports the command lines; they import this."""
from __future__ import annotations

import argparse
import logging
import sys
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


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run `main`; a VibeError or Ctrl-C becomes one line on stderr and a non-zero exit code."""
    try:
        return int(main(argv) or 0)
    except VibeError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; finished result files are complete, unfinished ones were not written", file=sys.stderr)
        return 130
