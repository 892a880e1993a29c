"""vibe.data.mocap: motion-capture readers (BVH, ASF/AMC, expmap CSV) with forward kinematics.

- `read_mocap(path)` -> `MocapSequence` (3D points in metres, y up, named by a keypoint convention)
- `find_mocap_files(root)` -> every motion file under a folder, sorted (motionless BVH skipped)
- per format: `read_bvh`, `read_asfamc`, `read_expmap`
"""
from vibe.data.mocap.asfamc import read_asfamc
from vibe.data.mocap.bvh import read_bvh
from vibe.data.mocap.expmap import read_expmap
from vibe.data.mocap.reader import find_mocap_files, read_mocap
from vibe.data.mocap.types import MocapSequence

__all__ = ["MocapSequence", "find_mocap_files", "read_asfamc", "read_bvh", "read_expmap", "read_mocap"]
