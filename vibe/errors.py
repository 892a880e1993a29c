"""User-facing errors: one clear line saying what is wrong and what to do.

Library code raises these; the command lines catch `VibeError`, print its message on one line
and exit non-zero, so bad input never ends in a traceback.
"""


class VibeError(Exception):
    """Base class of errors whose message is meant for the user as is."""

    exit_code = 2


class AssetError(VibeError):
    """A model file (SMPL, regressor, checkpoint, prior) is missing, unreadable or malformed."""


class InputError(VibeError):
    """The user's input (video, image folder, keypoints, option values) cannot be used."""


class OutputError(VibeError):
    """A result cannot be written (unwritable folder, full disk)."""


class DiskFullError(OutputError):
    """No space left on the device (or quota exceeded) while writing; nothing half-written was kept."""

    def __init__(self, message: str, written: int = 0):
        super().__init__(message)
        self.written = written  # bytes the failed file had reached: part of the space it needs


class NoPeopleFound(InputError):
    """The detector found nobody in the whole input. A command that reads a video for its people
    (vibe.pipeline.run) takes `result` (the search's outcome, without people) as a valid, empty
    result; lower-level callers see an error."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
