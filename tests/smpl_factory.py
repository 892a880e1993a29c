"""Small random but valid SMPL-format models for tests (no gated SMPL file needed).

The geometry is plausible: SMPL's 24-joint kinematic tree in a T pose (metres, y up, the body's
left on +x, facing +z); each joint owns a cluster of vertices spread along its bone and mirrored
about the joint, so ``J_regressor`` (the cluster means) returns exactly ``REST_JOINTS``. Skinning
weights mix each vertex's joint with its parent and sum to 1. Shape and pose blend shapes are
small random bases, so posing exercises every term of SMPL.

``write_smpl_file(path, arrays)`` writes a chumpy-free .pkl (J_regressor as scipy.sparse csc,
like the real file) or an .npz, chosen by the suffix.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

# Parent of each SMPL joint (kintree_table[0]; the root's parent is stored as uint32 max).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
ROOT_PARENT_IN_FILE = 2**32 - 1
REST_JOINTS = np.array([
    [0.00, 0.00, 0.00],    # 0 pelvis
    [0.07, -0.09, 0.00],   # 1 left_hip
    [-0.07, -0.09, 0.00],  # 2 right_hip
    [0.00, 0.11, -0.02],   # 3 spine1
    [0.10, -0.48, 0.01],   # 4 left_knee
    [-0.10, -0.48, 0.01],  # 5 right_knee
    [0.00, 0.24, 0.00],    # 6 spine2
    [0.09, -0.88, -0.03],  # 7 left_ankle
    [-0.09, -0.88, -0.03], # 8 right_ankle
    [0.00, 0.30, 0.01],    # 9 spine3
    [0.11, -0.94, 0.09],   # 10 left_foot
    [-0.11, -0.94, 0.09],  # 11 right_foot
    [0.00, 0.52, -0.02],   # 12 neck
    [0.08, 0.43, -0.01],   # 13 left_collar
    [-0.08, 0.43, -0.01],  # 14 right_collar
    [0.00, 0.61, 0.03],    # 15 head
    [0.18, 0.45, -0.02],   # 16 left_shoulder
    [-0.18, 0.45, -0.02],  # 17 right_shoulder
    [0.44, 0.45, -0.03],   # 18 left_elbow
    [-0.44, 0.45, -0.03],  # 19 right_elbow
    [0.70, 0.45, -0.02],   # 20 left_wrist
    [-0.70, 0.45, -0.02],  # 21 right_wrist
    [0.79, 0.44, -0.03],   # 22 left_hand
    [-0.79, 0.44, -0.03],  # 23 right_hand
])
NUM_JOINTS = len(SMPL_PARENTS)
NUM_BETAS = 10
NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)
LEAF_BONE_LENGTH = 0.1  # m, for joints without children (head, hands, feet)
LIMB_RADIUS = 0.03  # m, spread of vertices around the bone axis
SHAPE_SCALE = 0.01  # m per unit beta
POSE_BLEND_SCALE = 0.002
MIN_OWN_WEIGHT = 0.6  # each vertex follows its own joint at least this much
BONE_SPREAD = 0.45  # vertices cover this fraction of the bone on either side of the joint

# Which joint's cluster each embedded extra point is taken from.
VERTEX_JOINT_CLUSTERS = {
    "nose": 15, "reye": 15, "leye": 15, "rear": 15, "lear": 15,
    "LBigToe": 10, "LSmallToe": 10, "LHeel": 7, "RBigToe": 11, "RSmallToe": 11, "RHeel": 8,
    "lthumb": 22, "lindex": 22, "lmiddle": 22, "lring": 22, "lpinky": 22,
    "rthumb": 23, "rindex": 23, "rmiddle": 23, "rring": 23, "rpinky": 23,
}
# Clusters the 9 J_regressor_extra rows (right hip, left hip, neck, head top, pelvis, thorax,
# spine, jaw, head) and the 17 H36M rows draw on.
EXTRA_CLUSTERS = (2, 1, 12, 15, 0, 9, 6, 15, 15)
H36M_CLUSTERS = (0, 1, 4, 7, 2, 5, 8, 6, 12, 15, 15, 16, 18, 20, 17, 19, 21)
VERTICES_PER_REGRESSOR_ROW = 4


def make_smpl_arrays(num_verts: int = 300, seed: int = 0, embed_extras: bool = True) -> dict:
    """The arrays of an SMPL-format model with `num_verts` vertices (at least 3 per joint, so
    that every joint's cluster has a face).

    With `embed_extras` the dict also holds J_regressor_extra (9, V), J_regressor_h36m (17, V),
    vertex_id_names (21,) and vertex_id_values (21,), as the open body model carries them.
    """
    rng = np.random.default_rng(seed)
    clusters = np.array_split(np.arange(num_verts), NUM_JOINTS)
    v_template = np.zeros((num_verts, 3))
    j_regressor = np.zeros((NUM_JOINTS, num_verts))
    weights = np.zeros((num_verts, NUM_JOINTS))
    for joint, members in enumerate(clusters):
        v_template[members] = REST_JOINTS[joint] + _mirrored_offsets(joint, len(members), rng)
        j_regressor[joint, members] = 1.0 / len(members)
        own = rng.uniform(MIN_OWN_WEIGHT, 1.0, size=len(members)) if joint else np.ones(len(members))
        weights[members, joint] = own
        weights[members, max(SMPL_PARENTS[joint], 0)] += 1.0 - own
    arrays = {
        "v_template": v_template,
        "shapedirs": rng.normal(scale=SHAPE_SCALE, size=(num_verts, 3, NUM_BETAS)),
        "posedirs": rng.normal(scale=POSE_BLEND_SCALE, size=(num_verts, 3, NUM_POSE_BASIS)),
        "J_regressor": j_regressor,
        "J": j_regressor @ v_template,
        "weights": weights,
        "kintree_table": np.array([[ROOT_PARENT_IN_FILE, *SMPL_PARENTS[1:]], np.arange(NUM_JOINTS)], np.int64),
        "f": _cluster_faces(clusters),
    }
    if embed_extras:
        arrays.update(make_extra_regressors(clusters, rng))
        arrays.update(_vertex_ids(clusters))
    return arrays


def make_extra_regressors(clusters, rng) -> dict:
    """J_regressor_extra (9, V) and J_regressor_h36m (17, V): rows of a few cluster vertices."""
    num_verts = sum(len(members) for members in clusters)
    return {
        "J_regressor_extra": _regressor_rows(EXTRA_CLUSTERS, clusters, num_verts, rng),
        "J_regressor_h36m": _regressor_rows(H36M_CLUSTERS, clusters, num_verts, rng),
    }


def write_smpl_file(path: str | Path, arrays: dict) -> Path:
    """Write `arrays` as a chumpy-free .pkl (sparse J_regressor) or an .npz, by the suffix."""
    path = Path(path)
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        data = dict(arrays, J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]))
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=2)
    return path


def write_vibe_regressors(folder: str | Path, num_verts: int, seed: int = 0) -> dict:
    """J_regressor_extra.npy and J_regressor_h36m.npy in `folder`, as VIBE's data dir has them."""
    clusters = np.array_split(np.arange(num_verts), NUM_JOINTS)
    regressors = make_extra_regressors(clusters, np.random.default_rng(seed))
    for key, regressor in regressors.items():
        np.save(Path(folder) / f"{key}.npy", regressor)
    return regressors


def _children(joint: int) -> list[int]:
    return [child for child, parent in enumerate(SMPL_PARENTS) if parent == joint]


def _bone(joint: int) -> np.ndarray:
    """Vector from `joint` to its first child; leaves continue their parent's direction."""
    children = _children(joint)
    if children:
        return REST_JOINTS[children[0]] - REST_JOINTS[joint]
    incoming = REST_JOINTS[joint] - REST_JOINTS[SMPL_PARENTS[joint]]
    return incoming / np.linalg.norm(incoming) * LEAF_BONE_LENGTH


def _mirrored_offsets(joint: int, count: int, rng) -> np.ndarray:
    """`count` offsets along the joint's bone, in +/- pairs so that they average to zero."""
    half = rng.uniform(-BONE_SPREAD, BONE_SPREAD, size=(count // 2, 1)) * _bone(joint)
    half = half + rng.normal(scale=LIMB_RADIUS, size=half.shape)
    centre = np.zeros((count % 2, 3))
    return np.concatenate([half, -half, centre])


def _cluster_faces(clusters) -> np.ndarray:
    """Triangles of consecutive vertices within each joint's cluster."""
    faces = [(m[i], m[i + 1], m[i + 2]) for m in clusters for i in range(len(m) - 2)]
    return np.array(faces, dtype=np.uint32)


def _regressor_rows(row_clusters, clusters, num_verts: int, rng) -> np.ndarray:
    rows = np.zeros((len(row_clusters), num_verts))
    for row, joint in enumerate(row_clusters):
        count = min(VERTICES_PER_REGRESSOR_ROW, len(clusters[joint]))
        picked = rng.choice(clusters[joint], size=count, replace=False)
        rows[row, picked] = rng.dirichlet(np.ones(count))
    return rows


def _vertex_ids(clusters) -> dict:
    used: dict[int, int] = {}
    values = []
    for name, joint in VERTEX_JOINT_CLUSTERS.items():
        position = used.get(joint, 0)
        values.append(int(clusters[joint][position % len(clusters[joint])]))  # distinct when the cluster is big enough
        used[joint] = position + 1
    return {"vertex_id_names": np.array(list(VERTEX_JOINT_CLUSTERS)), "vertex_id_values": np.array(values)}
