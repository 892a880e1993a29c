"""Build the open body model (vibe/body/assets/open_body.npz) from the CC0 MakeHuman mesh in `anny`.

The result is a body model in SMPL's file format (the keys smplx.SMPL reads) that a 72-d SMPL pose
vector drives the same way as SMPL: SMPL's 24-joint tree, world-aligned joint axes, T rest pose,
y up, the body's left on +x, facing +z, metres.

How it is made:
1. anny's adult phenotypes (its WHO-calibrated sampler, ages 20-70) give a set of bodies.
2. Each body is posed by anny's own skeleton and skinning into SMPL's T-pose (arms horizontal and
   straight, palms down, legs straight down in the frontal plane).
3. The mean body is the template; a PCA of the T-posed bodies gives 10 shape directions scaled so a
   beta of 1 is one standard deviation.
4. anny's 104 bones are merged into SMPL's 24 joints (skin weights summed per joint); joint centres
   are placed at anny's anatomical bone heads and turned into vertex regressors (convex
   combinations of nearby vertices fitted over all bodies, so they follow shape changes).
5. Landmark vertices (nose, eyes, ears, toes, heels, fingertips) and the 9 VIBE extra and 17 H36M
   joints are defined the same way.

anny's eyeballs and tongue (separate helper meshes, not skin) are dropped; the mouth and eye-socket
skin of the base mesh is kept.

Usage (two environments: anny lives in its own venv, outside the repo):
    ANNY_CACHE_DIR=/work/anny-cache /work/anny-venv/bin/python tools/build_open_body.py build
    .venv/bin/python tools/build_open_body.py gallery      # docs/open_body_gallery.png via smplx
The build venv: `python3 -m venv /work/anny-venv && /work/anny-venv/bin/pip install torch==2.13.0
anny scipy`.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "vibe" / "body" / "assets" / "open_body.npz"
DEFAULT_GALLERY = REPO / "docs" / "open_body_gallery.png"

log = logging.getLogger("build_open_body")

ANNY_RIG = "anny"
ANNY_TOPOLOGY = "anny-noeyes-notongue"  # eyeballs and tongue are helper meshes, not skin
NUM_SAMPLES = 400  # bodies in the shape PCA
NUM_FIT_SAMPLES = 150  # bodies the vertex regressors are fitted on (the rest check them)
BATCH = 50  # bodies posed per anny call (memory)
SEED = 0
ADULT_AGE_YEARS = (20.0, 70.0)
NUM_BETAS = 10
NUM_POSE_BASIS = 207  # 23 joints x 9: smplx's posedirs width (all zero here)

# anny is z up, facing -y, the body's left on +x; SMPL is y up, facing +z, left on +x.
ANNY_TO_SMPL_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Where SMPL's own rest pelvis joint sits (its template origin is about 0.22 m above the pelvis),
# so both bodies land alike under the same camera.
SMPL_REST_PELVIS = np.array([0.0, -0.22, 0.03])

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
SMPL_ROOT_PARENT = 4294967295  # SMPL's kintree_table marks the root's parent as uint32 -1

# anny bone (label without the .L/.R side) -> SMPL joint index (left, right); the central bones map
# to one joint. Every vertex moves with the SMPL joint whose segment its anny bone lies on.
BONE_TO_SMPL = [
    (r"root|pelvis|spine05|spine04", (0, 0)),
    (r"spine03", (3, 3)),
    (r"spine02", (6, 6)),
    (r"spine01", (9, 9)),
    (r"neck0\d", (12, 12)),
    (r"head|eye", (15, 15)),
    (r"upperleg0\d", (1, 2)),
    (r"lowerleg0\d", (4, 5)),
    (r"foot", (7, 8)),
    (r"toe\d-\d", (10, 11)),
    (r"clavicle|shoulder01", (13, 14)),
    (r"upperarm0\d", (16, 17)),
    (r"lowerarm0\d", (18, 19)),
    (r"wrist|metacarpal\d|finger1-1", (20, 21)),  # palm and thumb base move with the wrist
    (r"finger\d-\d", (22, 23)),
]

EXTRA_VERTEX_NAMES = [
    "nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
    "RHeel", "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex", "rmiddle",
    "rring", "rpinky",
]
# VIBE's J_regressor_extra order and H36M's 17-joint order, as named points (see point_targets).
EXTRA9_POINTS = ["hip.R", "hip.L", "neck_lsp", "head_top", "hip_mid", "thorax", "spine_mid", "jaw", "head_h36m"]
# Rows as in VIBE/SPIN's J_regressor_h36m.npy, which their evaluation reads through the index list
# [6,5,4,1,2,3,16,15,14,11,12,13,8,10] as (r ankle, r knee, r hip, l hip, ..., neck, head top):
# the legs sit mirrored against the textbook H36M labels, and rows 8 / 10 serve as LSP neck / head top.
H36M_POINTS = [
    "hip_mid", "hip.L", "knee.L", "ankle.L", "hip.R", "knee.R", "ankle.R", "spine_mid", "neck_lsp",
    "jaw", "head_top", "shoulder.L", "elbow.L", "wrist.L", "shoulder.R", "elbow.R", "wrist.R",
]
SMPL_NAMED = {"hip": (1, 2), "knee": (4, 5), "ankle": (7, 8), "shoulder": (16, 17), "elbow": (18, 19), "wrist": (20, 21)}

# Regressor fitting: candidate vertices within growing radii until the fit is this close.
FIT_RADII = (0.06, 0.09, 0.12, 0.16, 0.2, 0.25)
FIT_TOLERANCE = 0.002  # m, mean over the bodies
SUM_TO_ONE_WEIGHT = 100.0  # row weight making the vertex weights sum to 1
RIDGE = 1e-3  # spreads weight over several vertices (stabler under shape change)
HEAD_TOP_VERTICES = 12  # vertices averaged for the top of the head
HEEL_BAND = 0.02  # m above the sole where the heel vertex is looked for
EYE_SURFACE_OFFSET = np.array([0.0, 0.0, 0.012])  # eyeball centre -> front of the (removed) eye
EAR_BELOW_EYES, EAR_BAND = 0.02, 0.015  # m: the ear canal sits a little below the eyes


def side_of(label: str) -> int:
    """0 for left (.L, +x), 1 for right (.R)."""
    return 1 if label.endswith(".R") else 0


def smpl_joint_of_bone(label: str) -> int:
    base = label.split(".")[0]
    for pattern, joints in BONE_TO_SMPL:
        if re.fullmatch(pattern, base):
            return joints[side_of(label)]
    raise ValueError(f"anny bone {label} has no SMPL joint")


# --------------------------------------------------------------------------------------------
# anny side: sampling and T-posing (runs in the anny venv)
# --------------------------------------------------------------------------------------------

def load_anny():
    import anny

    return anny.Anny(rig=ANNY_RIG, topology=ANNY_TOPOLOGY, skinning_method="lbs")


def sample_phenotypes(model, count: int, seed: int):
    """(count, P) adult phenotypes from anny's WHO-calibrated sampler, in model.phenotype_labels order."""
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    low, high = (torch.tensor(a, dtype=model.dtype) for a in ADULT_AGE_YEARS)
    sampler = SimpleShapeDistribution(model, morphological_age_distribution=torch.distributions.Uniform(low, high))
    torch.manual_seed(seed)
    _, kwargs = sampler.sample(count)
    return torch.stack([kwargs[label] for label in model.phenotype_labels], dim=1)


def rotation_between(a, b):
    """(B, 3, 3) smallest rotations taking directions a (B, 3) onto b (B, 3)."""
    import torch

    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(a, b)
    sin, cos = axis.norm(dim=-1), (a * b).sum(-1)
    return axis_angle(axis / sin.clamp_min(1e-12)[:, None], torch.atan2(sin, cos))


def axis_angle(axis, angle):
    """(B, 3, 3) rotations by angle (B,) about unit axis (B, 3) (Rodrigues)."""
    import torch

    k = torch.zeros(axis.shape[0], 3, 3, dtype=axis.dtype)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3, dtype=axis.dtype) + s * k + (1 - c) * (k @ k)


class Skeleton:
    """World bone poses (B, K, 4, 4) of anny bones, edited by rotating whole subtrees."""

    def __init__(self, labels: list[str], parents: list[int], rest_poses):
        self.index = {label: i for i, label in enumerate(labels)}
        self.poses = rest_poses.clone()
        self.subtree = [[i] for i in range(len(labels))]
        for bone in reversed(range(1, len(labels))):  # parents come before children in anny's rig
            self.subtree[parents[bone]].extend(self.subtree[bone])

    def head(self, label: str):
        return self.poses[:, self.index[label], :3, 3]

    def rotate(self, label: str, rotation) -> None:
        """Rotate the bone and all its descendants by rotation (B, 3, 3) about the bone's head."""
        bones = self.subtree[self.index[label]]
        pivot = self.head(label)[:, None].clone()
        self.poses[:, bones, :3, :3] = rotation[:, None] @ self.poses[:, bones, :3, :3]
        offsets = self.poses[:, bones, :3, 3] - pivot
        self.poses[:, bones, :3, 3] = pivot + (rotation[:, None] @ offsets[..., None])[..., 0]

    def point(self, label: str, child: str, direction) -> None:
        """Rotate `label` so the line from its head to `child`'s head points along direction (3,)."""
        current = self.head(child) - self.head(label)
        self.rotate(label, rotation_between(current, direction.expand_as(current)))


def pose_t(skeleton: Skeleton) -> None:
    """anny's rest (arms 45 degrees down, elbows bent, legs apart) -> SMPL's T-pose, in anny axes."""
    import torch

    dtype = skeleton.poses.dtype
    for side, sign in (("L", 1.0), ("R", -1.0)):
        hip, ankle = skeleton.head(f"upperleg01.{side}"), skeleton.head(f"foot.{side}")
        leg = ankle - hip
        leg[:, 0] = 0.0  # straight down in the frontal plane, keeping the sagittal lean
        skeleton.rotate(f"upperleg01.{side}", rotation_between(ankle - hip, leg))
        outward = torch.tensor([sign, 0.0, 0.0], dtype=dtype)
        skeleton.point(f"upperarm01.{side}", f"lowerarm01.{side}", outward)
        skeleton.point(f"lowerarm01.{side}", f"wrist.{side}", outward)
        skeleton.point(f"wrist.{side}", f"finger3-1.{side}", outward)
        twist_palm_down(skeleton, side, sign)


def twist_palm_down(skeleton: Skeleton, side: str, sign: float) -> None:
    """Turn the hand about the arm axis with the forearm's twist bone until the palm faces down."""
    import torch

    wrist = skeleton.head(f"wrist.{side}")
    across = skeleton.head(f"finger2-1.{side}") - skeleton.head(f"finger5-1.{side}")  # pinky -> index
    palm_normal = torch.linalg.cross(skeleton.head(f"finger3-1.{side}") - wrist, across) * sign
    # rotation about +x taking the normal's (y, z) part to straight down (0, -1); about -x for the right
    angle = -sign * torch.atan2(palm_normal[:, 1], -palm_normal[:, 2])
    axis = torch.tensor([sign, 0.0, 0.0], dtype=wrist.dtype).expand_as(wrist)
    skeleton.rotate(f"lowerarm02.{side}", axis_angle(axis, angle))


@dataclass
class PosedBodies:
    """T-posed bodies in SMPL axes, not yet centred."""

    verts: np.ndarray  # (S, V, 3)
    heads: dict[str, np.ndarray]  # anny bone label -> (S, 3) posed head


def t_posed_bodies(model, phenotypes) -> PosedBodies:
    import torch

    verts, heads = [], []
    with torch.no_grad():
        for start in range(0, phenotypes.shape[0], BATCH):
            batch = phenotypes[start:start + BATCH]
            rest_poses = model(None, phenotype_kwargs=batch)["rest_bone_poses"]
            skeleton = Skeleton(model.bone_labels, model.bone_parents, rest_poses)
            pose_t(skeleton)
            out = model(skeleton.poses, phenotype_kwargs=batch, pose_parameterization="world")
            verts.append(out["vertices"].numpy() @ ANNY_TO_SMPL_AXES.T)
            heads.append(skeleton.poses[:, :, :3, 3].numpy() @ ANNY_TO_SMPL_AXES.T)
    heads = np.concatenate(heads)
    return PosedBodies(np.concatenate(verts), {label: heads[:, i] for i, label in enumerate(model.bone_labels)})


# --------------------------------------------------------------------------------------------
# Joints, landmarks and regressors (numpy)
# --------------------------------------------------------------------------------------------

def smpl_joint_targets(heads: dict[str, np.ndarray]) -> np.ndarray:
    """(S, 24, 3) SMPL joint centres placed on anny's anatomical bone heads."""
    h = heads

    def mean(*labels):
        return np.mean([h[label] for label in labels], axis=0)

    hip_mid = mean("upperleg01.L", "upperleg01.R")
    pelvis = np.stack([hip_mid[:, 0], h["spine04"][:, 1], hip_mid[:, 2]], axis=1)  # lumbosacral height
    joints = [pelvis, h["upperleg01.L"], h["upperleg01.R"], h["spine03"], h["lowerleg01.L"], h["lowerleg01.R"],
              h["spine02"], h["foot.L"], h["foot.R"], h["spine01"]]
    for side in "LR":  # SMPL's foot joint: the ball of the foot
        joints.append(mean(*(f"toe{k}-1.{side}" for k in range(1, 6))))
    joints += [h["neck01"]]
    for side in "LR":  # collar: halfway along the clavicle
        joints.append(mean(f"clavicle.{side}", f"upperarm01.{side}"))
    joints += [h["head"], h["upperarm01.L"], h["upperarm01.R"], h["lowerarm01.L"], h["lowerarm01.R"],
               h["wrist.L"], h["wrist.R"]]
    for side in "LR":  # SMPL's hand joint: the knuckles
        joints.append(mean(*(f"finger{k}-1.{side}" for k in range(2, 6))))
    return np.stack(joints, axis=1)


@dataclass
class Rig:
    """Per-vertex skinning facts of the anny mesh."""

    bone_labels: list[str]
    dominant_bone: np.ndarray  # (V,) anny bone with the largest weight
    smpl_weights: np.ndarray  # (V, 24)


def make_rig(model) -> Rig:
    weights = model.vertex_bone_weights.numpy()
    indices = model.vertex_bone_indices.numpy()
    bone_to_joint = np.array([smpl_joint_of_bone(label) for label in model.bone_labels])
    smpl_weights = np.zeros((weights.shape[0], 24))
    np.add.at(smpl_weights, (np.arange(weights.shape[0])[:, None].repeat(weights.shape[1], 1), bone_to_joint[indices]), weights)
    smpl_weights /= smpl_weights.sum(1, keepdims=True)
    dominant = indices[np.arange(indices.shape[0]), weights.argmax(1)]
    return Rig(list(model.bone_labels), dominant, smpl_weights)


def vertices_of(rig: Rig, pattern: str) -> np.ndarray:
    """Indices of the vertices whose dominant anny bone label matches pattern."""
    bones = [i for i, label in enumerate(rig.bone_labels) if re.fullmatch(pattern, label)]
    return np.flatnonzero(np.isin(rig.dominant_bone, bones))


def extreme_vertex(verts: np.ndarray, candidates: np.ndarray, direction: np.ndarray) -> int:
    return int(candidates[np.argmax(verts[candidates] @ direction)])


def landmark_vertices(rig: Rig, template: np.ndarray, heads: dict[str, np.ndarray]) -> dict[str, int]:
    """The 21 vertices smplx appends as joints, picked on the mean T-posed body."""
    ids, head_verts = {}, vertices_of(rig, r"head")
    head_points = template[head_verts]
    ids["nose"] = extreme_vertex(template, head_verts[np.abs(head_points[:, 0]) < 0.01], np.array([0.0, 0, 1]))
    for side, prefix in (("R", "r"), ("L", "l")):
        eye = heads[f"eye.{side}"].mean(0)
        ids[f"{prefix}eye"] = int(head_verts[np.argmin(np.linalg.norm(head_points - eye - EYE_SURFACE_OFFSET, axis=1))])
    eye_y = heads["eye.L"].mean(0)[1]
    for side, prefix, sign in (("R", "r", -1.0), ("L", "l", 1.0)):
        band = head_verts[np.abs(head_points[:, 1] - (eye_y - EAR_BELOW_EYES)) < EAR_BAND]
        ids[f"{prefix}ear"] = extreme_vertex(template, band, np.array([sign, 0, 0]))
    for side, prefix in (("L", "L"), ("R", "R")):
        ids[f"{prefix}BigToe"] = extreme_vertex(template, vertices_of(rig, rf"toe1-\d\.{side}"), np.array([0.0, 0, 1]))
        ids[f"{prefix}SmallToe"] = extreme_vertex(template, vertices_of(rig, rf"toe5-\d\.{side}"), np.array([0.0, 0, 1]))
        foot = vertices_of(rig, rf"foot\.{side}")
        sole = foot[template[foot, 1] < template[foot, 1].min() + HEEL_BAND]
        ids[f"{prefix}Heel"] = extreme_vertex(template, sole, np.array([0.0, 0, -1]))
    for side, prefix in (("L", "l"), ("R", "r")):
        for k, finger in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            tip = heads[f"finger{k}-3.{side}"].mean(0) - heads[f"finger{k}-2.{side}"].mean(0)
            ids[f"{prefix}{finger}"] = extreme_vertex(template, vertices_of(rig, rf"finger{k}-3\.{side}"), tip)
    return {name: ids[name] for name in EXTRA_VERTEX_NAMES}


def point_targets(heads: dict[str, np.ndarray], joints: np.ndarray, verts: np.ndarray,
                  head_top_ids: np.ndarray, nose_id: int) -> dict[str, np.ndarray]:
    """Named anatomical points (S, 3) for the VIBE extra and H36M joints."""
    points = {f"{name}.{side}": joints[:, idx[k]] for name, idx in SMPL_NAMED.items() for k, side in enumerate("LR")}
    points["hip_mid"] = 0.5 * (joints[:, 1] + joints[:, 2])
    points["thorax"] = 0.5 * (heads["clavicle.L"] + heads["clavicle.R"])  # top of the sternum
    points["spine_mid"] = 0.5 * (points["hip_mid"] + points["thorax"])
    points["neck_lsp"] = heads["neck01"] + 0.3 * (heads["head"] - heads["neck01"])
    points["head_top"] = verts[:, head_top_ids].mean(1)
    points["jaw"] = 0.5 * (heads["head"] + verts[:, nose_id])  # mouth level, inside the face
    points["head_h36m"] = heads["head"] + 0.75 * (points["head_top"] - heads["head"])
    return points


def head_top_vertices(rig: Rig, template: np.ndarray) -> np.ndarray:
    head_verts = vertices_of(rig, r"head")
    return head_verts[np.argsort(template[head_verts, 1])[-HEAD_TOP_VERTICES:]]


def fit_regressor_row(verts: np.ndarray, target: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex vertex weights (V,) reproducing target (S, 3) from verts (S, V, 3); and the errors (S,) in m.

    Candidates are the allowed vertices near the target on the mean body, within the smallest radius
    whose fit is within FIT_TOLERANCE on average. anny places some bone heads (knees, hips, chest)
    in ways no fixed convex vertex combination follows exactly on extreme bodies; the least-squares
    fit then keeps the joint where it is on average.
    """
    from scipy.optimize import nnls

    distance = np.linalg.norm(verts.mean(0)[allowed] - target.mean(0), axis=1)
    best = None
    for radius in FIT_RADII:
        cand = allowed[distance < radius]
        if cand.size < 4:
            continue
        a = np.concatenate([verts[:, cand].transpose(0, 2, 1).reshape(-1, cand.size),
                            np.full((1, cand.size), SUM_TO_ONE_WEIGHT), np.sqrt(RIDGE) * np.eye(cand.size)])
        b = np.concatenate([target.reshape(-1), [SUM_TO_ONE_WEIGHT], np.zeros(cand.size)])
        w, _ = nnls(a, b, maxiter=50 * cand.size)
        w /= w.sum()
        errors = np.linalg.norm(np.einsum("svc,v->sc", verts[:, cand], w) - target, axis=1)
        row = np.zeros(verts.shape[1])
        row[cand] = w
        if best is None or errors.mean() < best[1].mean():
            best = (row, errors)
        if errors.mean() < FIT_TOLERANCE:
            break
    return best


def neighbourhood(rig: Rig, joint: int, spread: float = 0.2) -> np.ndarray:
    """Vertices skinned noticeably to the joint, its parent or its children."""
    family = {joint, SMPL_PARENTS[joint]} | {c for c, p in enumerate(SMPL_PARENTS) if p == joint}
    family.discard(-1)
    return np.flatnonzero(rig.smpl_weights[:, sorted(family)].sum(1) > spread)


def fit_points(verts: np.ndarray, targets: np.ndarray, allowed: list[np.ndarray], names: list[str]) -> np.ndarray:
    """(N, V) regressor rows for targets (S, N, 3), logging each fit's worst error."""
    rows = []
    for i, name in enumerate(names):
        row, errors = fit_regressor_row(verts, targets[:, i], allowed[i])
        log.info("  %-12s fit error mean %4.1f mm, worst %4.1f mm, %3d vertices", name, 1000 * errors.mean(),
                 1000 * errors.max(), np.count_nonzero(row))
        rows.append(row)
    return np.stack(rows)


# Which SMPL joint's neighbourhood holds each named point's candidate vertices.
POINT_NEIGHBOURHOOD = {"hip_mid": 0, "thorax": 12, "spine_mid": 3, "neck_lsp": 12, "jaw": 15, "head_h36m": 15}


def named_point_regressor(rig: Rig, verts: np.ndarray, points: dict[str, np.ndarray], names: list[str],
                          head_top_ids: np.ndarray, fitted: dict[str, np.ndarray]) -> np.ndarray:
    rows = []
    for name in names:
        if name == "head_top":  # a vertex average already
            row = np.zeros(verts.shape[1])
            row[head_top_ids] = 1.0 / head_top_ids.size
        else:
            if name not in fitted:
                allowed = [neighbourhood(rig, POINT_NEIGHBOURHOOD[name])]
                fitted[name] = fit_points(verts, points[name][:, None], allowed, [name])[0]
            row = fitted[name]
        rows.append(row)
    return np.stack(rows)


# --------------------------------------------------------------------------------------------
# Shape space and assembly
# --------------------------------------------------------------------------------------------

def shape_pca(verts: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (V, 3), shapedirs (V, 3, NUM_BETAS) with beta 1 = one std, and explained variance ratios.

    Component signs: the first grows taller with +beta; the others have their largest entry positive.
    """
    flat = verts.reshape(verts.shape[0], -1)
    mean = flat.mean(0)
    _, sing, vt = np.linalg.svd(flat - mean, full_matrices=False)
    std = sing / np.sqrt(flat.shape[0] - 1)
    dirs = vt[:NUM_BETAS] * std[:NUM_BETAS, None]
    coords = (flat - mean) @ vt[0]
    signs = np.sign(vt[:NUM_BETAS][np.arange(NUM_BETAS), np.abs(vt[:NUM_BETAS]).argmax(1)])
    signs[0] = np.sign(np.corrcoef(coords, heights)[0, 1])
    dirs *= signs[:, None]
    ratio = std ** 2 / np.sum(std ** 2)
    return mean.reshape(-1, 3), dirs.T.reshape(-1, 3, NUM_BETAS), ratio[:NUM_BETAS]


def build(out: Path, samples: int) -> None:
    import torch

    torch.set_num_threads(2)
    start = time.time()
    model = load_anny()
    log.info("anny model: %d vertices, %d faces, %d bones (%.0f s)", model.template_vertices.shape[0],
             model.faces.shape[0], model.bone_count, time.time() - start)
    bodies = t_posed_bodies(model, sample_phenotypes(model, samples, SEED))
    joints = smpl_joint_targets(bodies.heads)
    shift = SMPL_REST_PELVIS - joints[:, 0].mean(0)
    verts, joints = bodies.verts + shift, joints + shift
    heads = {label: h + shift for label, h in bodies.heads.items()}
    log.info("posed %d bodies (%.0f s)", samples, time.time() - start)

    heights = verts[..., 1].max(1) - verts[..., 1].min(1)
    template, shapedirs, ratio = shape_pca(verts, heights)
    log.info("stature %.3f +- %.3f m; PCA variance ratios %s", heights.mean(), heights.std(), np.round(ratio, 3))
    rig = make_rig(model)

    fit = slice(0, NUM_FIT_SAMPLES)
    log.info("fitting SMPL joint regressor")
    j_regressor = fit_points(verts[fit], joints[fit], [neighbourhood(rig, j) for j in range(24)], [f"joint{j}" for j in range(24)])
    ids = landmark_vertices(rig, template, heads)
    top_ids = head_top_vertices(rig, template)
    points = point_targets(heads, joints, verts, top_ids, ids["nose"])
    fitted = {f"{n}.{s}": j_regressor[idx[k]] for n, idx in SMPL_NAMED.items() for k, s in enumerate("LR")}
    extra = named_point_regressor(rig, verts[fit], {k: v[fit] for k, v in points.items()}, EXTRA9_POINTS, top_ids, fitted)
    h36m = named_point_regressor(rig, verts[fit], {k: v[fit] for k, v in points.items()}, H36M_POINTS, top_ids, fitted)
    held_out = np.linalg.norm(np.einsum("jv,svc->sjc", j_regressor, verts[NUM_FIT_SAMPLES:]) - joints[NUM_FIT_SAMPLES:], axis=-1)
    log.info("held-out SMPL joint error: mean %.1f mm, worst %.1f mm", 1000 * held_out.mean(), 1000 * held_out.max())

    arrays = dict(
        v_template=template.astype(np.float32),
        shapedirs=shapedirs.astype(np.float32),
        posedirs=np.zeros((template.shape[0], 3, NUM_POSE_BASIS), np.float32),
        J_regressor=j_regressor.astype(np.float32),
        weights=rig.smpl_weights.astype(np.float32),
        kintree_table=np.array([[SMPL_ROOT_PARENT] + SMPL_PARENTS[1:], list(range(24))], np.int64),
        f=model.faces.numpy().astype(np.int32),
        vertex_id_names=np.array(EXTRA_VERTEX_NAMES),
        vertex_id_values=np.array([ids[n] for n in EXTRA_VERTEX_NAMES], np.int64),
        J_regressor_extra=extra.astype(np.float32),
        J_regressor_h36m=h36m.astype(np.float32),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    log.info("wrote %s (%.2f MB) in %.0f s", out, out.stat().st_size / 1e6, time.time() - start)


# --------------------------------------------------------------------------------------------
# Gallery (runs in the project venv, through smplx like any user)
# --------------------------------------------------------------------------------------------

GALLERY_POSES = {  # title -> (view, SMPL joint -> axis-angle in rad on the rest pose)
    "arms down": ("front", {16: (0, 0, -1.3), 17: (0, 0, 1.3)}),
    "walking (side)": ("side", {1: (-0.5, 0, 0), 2: (0.4, 0, 0), 4: (0.6, 0, 0), 5: (0.2, 0, 0), 16: (0, 0, -1.3),
                                17: (0, 0, 1.3), 18: (0, -0.6, 0), 19: (0, 0.6, 0)}),
    "sitting (side)": ("side", {1: (-1.5, 0, 0), 2: (-1.5, 0, 0), 4: (1.5, 0, 0), 5: (1.5, 0, 0), 16: (0, 0, -1.3),
                                17: (0, 0, 1.3)}),
    "bend + wave": ("front", {3: (0.4, 0, 0), 6: (0.3, 0, 0), 17: (0, 0, 1.4), 16: (0, 0, 0.6), 18: (0, -1.5, 0),
                              15: (0, 0.5, 0)}),
}


def render_panel(ax, verts: np.ndarray, faces: np.ndarray, title: str, view: str = "front") -> None:
    """Flat-shaded orthographic mesh drawn back to front (painter's algorithm)."""
    from matplotlib.collections import PolyCollection

    if view == "side":  # seen from the body's left
        verts = verts[:, [2, 1, 0]] * [-1, 1, 1]
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    visible = normal[:, 2] > 0
    shade = 0.25 + 0.75 * np.clip(normal[visible] @ np.array([0.3, 0.4, 0.87]), 0, 1)
    order = np.argsort(tri[visible, :, 2].mean(1))
    colours = np.outer(shade[order], [0.78, 0.66, 0.58])
    ax.add_collection(PolyCollection(tri[visible][order][:, :, :2], facecolors=colours, edgecolors="none"))
    ax.set_xlim(-0.95, 0.95)
    ax.set_ylim(-1.3, 0.65)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=8)


def gallery(model_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import smplx
    import torch

    data = dict(np.load(model_path))
    model = smplx.SMPL(str(model_path), data_struct=smplx.utils.Struct(**data), vertex_ids={
        str(n): int(v) for n, v in zip(data["vertex_id_names"], data["vertex_id_values"])})
    faces = data["f"]

    def body(pose: dict[int, tuple] | None = None, betas=None) -> np.ndarray:
        full = torch.zeros(24, 3)
        for joint, aa in (pose or {}).items():
            full[joint] = torch.tensor(aa)
        b = torch.zeros(1, 10) if betas is None else torch.tensor(betas, dtype=torch.float32)[None]
        with torch.no_grad():
            return model(global_orient=full[None, 0], body_pose=full[None, 1:].reshape(1, 69), betas=b).vertices[0].numpy()

    panels = [(body(), "rest (front)", "front"), (body(), "rest (side)", "side")]
    panels += [(body(pose), name, view) for name, (view, pose) in GALLERY_POSES.items()]
    for k in range(2):
        for value in (-2.0, 2.0):
            betas = np.zeros(10)
            betas[k] = value
            panels.append((body(betas=betas), f"beta{k + 1} = {value:+.0f}", "front"))
    fig, axes = plt.subplots(2, 5, figsize=(10, 5.6), dpi=90)
    for ax, (verts, title, view) in zip(axes.flat, panels):
        render_panel(ax, verts, faces, title, view)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    log.info("wrote %s (%.0f KB)", out, out.stat().st_size / 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the .npz (needs anny and scipy)")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT)
    b.add_argument("--samples", type=int, default=NUM_SAMPLES)
    g = sub.add_parser("gallery", help="render the README picture (needs smplx and matplotlib)")
    g.add_argument("--model", type=Path, default=DEFAULT_OUT)
    g.add_argument("--out", type=Path, default=DEFAULT_GALLERY)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "build":
        build(args.out, args.samples)
    else:
        gallery(args.model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
