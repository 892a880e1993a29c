"""vibe.keypoints: 2D keypoint detection and joint-convention conversion.

Only the light conversion layer is re-exported here; detectors import their runtimes lazily.
"""
from vibe.keypoints.conventions import convert, joint_index, joint_names

__all__ = ["convert", "joint_index", "joint_names"]
