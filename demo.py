#!/usr/bin/env python
"""Video -> per-person SMPL bodies, meshes, overlay video and exports. Command line over vibe.pipeline."""
import argparse
import sys

from vibe.cli_support import run_cli, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", "--vid_file", dest="video", help="input video file or image folder")
    parser.add_argument("--sample", action="store_true", help="run on the built-in sample clip")
    parser.add_argument("--output_folder", default="output", help="where results go")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    print("demo: the end-to-end pipeline is not built yet (issue 8); the foundation is in place.")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
