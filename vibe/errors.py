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
