"""Fault injection for tests/test_robust_runs.py: demo runs killed (SIGKILL, no clean-up of any
kind) at their Nth file operation, and what the results folder holds after each.

    python tests/fault_injection.py SPEC.json    # prints one JSON report per run

One process imports everything once, then runs demo.py's main in a forked child per run (a
cached run then costs well under a second instead of a fresh interpreter's seconds); the parent
never runs torch work, so the children start clean. A file operation is a call that changes what
a folder holds: os.open or open() for writing (files, temporaries), os.replace, os.rename,
os.unlink, os.remove, os.rmdir, os.mkdir. Killing a run before each of them in turn puts the
folder in every state a crash can leave.

SPEC: {"configs": {name: demo argv, ...} (two or more), "results": the results folder they
write, "carry_over": [the cache folder's name], "kills": K, "seed": S}. Each config runs once
whole (counting its file operations), then K runs, the configs taking turns, are each killed at
an operation drawn (seeded) from that config's count, then the first config runs whole again.
Each report: config, kill_at, "killed" or the exit code, the file operations of a finished run,
and the results folder's files {relative path: sha256} (the cache apart, as "cache": its file
names) as the next run finds them: a copy of the output folder recovered with
vibe.io.atomic.recover_folder, as every run does first.
"""
import builtins
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT
_ALWAYS_COUNTED = ("replace", "rename", "unlink", "remove", "rmdir", "mkdir")


def _preload():
    """Import what a demo run imports, once, before forking (no torch work: fork-safe)."""
    import joblib  # noqa: F401
    import torch  # noqa: F401

    import tracker.detectors  # noqa: F401
    import vibe.body  # noqa: F401
    import vibe.fitting  # noqa: F401
    import vibe.io.exporters  # noqa: F401
    import vibe.keypoints.blazepose  # noqa: F401
    import vibe.pipeline  # noqa: F401
    from test_demo_cli import load_demo  # this folder is on sys.path: it holds the script

    return load_demo()


class _FileOperations:
    """Counts file operations; SIGKILLs the process just before operation number `kill_at`."""

    def __init__(self, kill_at: int | None):
        self.kill_at = kill_at
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def install(self) -> None:
        for name in _ALWAYS_COUNTED:
            setattr(os, name, self._counted(getattr(os, name)))
        os.open = self._counted(os.open, lambda path, flags, *rest, **kw: flags & _WRITE_FLAGS)
        writing = self._counted(builtins.open, lambda file, mode="r", *rest, **kw: any(c in mode for c in "wax+"))
        builtins.open = io.open = writing

    def _counted(self, function, is_write=lambda *args, **kwargs: True):
        def counted(*args, **kwargs):
            if is_write(*args, **kwargs):
                self.tick()
            return function(*args, **kwargs)

        return counted


def _run(demo, argv: list[str], kill_at: int | None) -> tuple[str | int, int | None]:
    """demo.main(argv) in a forked child killed at file operation `kill_at`: ('killed' or its exit
    code, the operations it made when it finished)."""
    from vibe.cli_support import run_cli

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.dup2(2, 1)  # the summary to stderr: stdout carries the reports
        operations = _FileOperations(kill_at)
        operations.install()
        code = run_cli(demo.main, argv)
        os.write(write_end, str(operations.count).encode())
        sys.stderr.flush()
        os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        count = pipe.read()
    if os.WIFSIGNALED(status):
        return "killed", None
    return os.WEXITSTATUS(status), int(count)


def _recovered_files(results: Path, carry_over: list[str]) -> tuple[dict[str, str], list[str]]:
    """What the next run finds in `results`: recover_folder on a copy of its output folder, then
    ({relative path: sha256} of the results, names of the cache's files)."""
    from vibe.io.atomic import recover_folder

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / results.parent.name
        shutil.copytree(results.parent, copy, symlinks=True)
        folder = copy / results.name
        recover_folder(folder, carry_over)
        files = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] not in carry_over}
        cache = sorted(p.name for name in carry_over for p in (folder / name).glob("*"))
    return files, cache


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    demo = _preload()
    names = list(spec["configs"])
    rng = random.Random(spec["seed"])

    def report(config: str, kill_at: int | None) -> int | None:
        outcome, operations = _run(demo, spec["configs"][config], kill_at)
        files, cache = _recovered_files(Path(spec["results"]), spec["carry_over"])
        print(json.dumps({"config": config, "kill_at": kill_at, "outcome": outcome, "operations": operations,
                          "files": files, "cache": cache}), flush=True)
        return operations

    counts = {name: report(name, None) for name in names}
    for turn in range(spec["kills"]):
        name = names[turn % len(names)]  # the first config follows the last one
        report(name, rng.randint(1, counts[name]))
    report(names[0], None)


if __name__ == "__main__":
    main(sys.argv[1])
