"""The built-in sample clip: the bundled open body, dressed by skin-weight regions, playing the
procedural motions of vibe/body/motions.py over a textured floor and wall, with exact truth.

    path = make_sample_clip("output/sample.mp4")   # renders once; later calls reuse the file
    truth = sample_truth()                         # per-frame SMPL pose, translation, boxes, camera

Everything is generated here (no download). The scene, in SMPL's world frame (y up, metres): the
motions of cfg.SAMPLE.MOTIONS one after another, each turned to its heading and eased in from the
previous one's last pose, with the feet put on the floor (y = 0) every frame; a brick wall stands
behind the person across the view. `vibe.body.motions.place_in_camera` sets the camera; the body is
Lambert-shaded by the renderer and casts a soft shadow (a blurred dark ellipse on the floor under
it). The background is drawn per pixel by casting camera rays at the floor and wall planes,
supersampled so the checker does not alias.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from vibe.body import motions
from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.keypoints.conventions import SMPL24
from vibe.render import Intrinsics, MeshInstance, make_renderer

logger = logging.getLogger(__name__)

NUM_BETAS = 10
BETAS = np.zeros(NUM_BETAS, np.float32)  # the open body's mean shape

# Clothes by the SMPL joint that moves a vertex most (argmax of its skinning weights).
CLOTHES = {
    "shirt": (("spine1", "spine2", "spine3", "left_collar", "right_collar", "left_shoulder", "right_shoulder"),
              (0.80, 0.30, 0.20)),
    "trousers": (("pelvis", "left_hip", "right_hip", "left_knee", "right_knee"), (0.18, 0.24, 0.42)),
    "skin": (("neck", "head", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"),
             (0.88, 0.68, 0.55)),
    "shoes": (("left_ankle", "right_ankle", "left_foot", "right_foot"), (0.12, 0.10, 0.10)),
}

SUPERSAMPLE = 3  # background rays per pixel side (anti-aliases the floor checker)
FLOOR_TILE = 0.5  # metres, checker square side
FLOOR_COLORS = ((0.68, 0.63, 0.55), (0.52, 0.48, 0.42))
BRICK_SIZE = (0.5, 0.2)  # metres, width x height; alternate rows shifted by half a brick
MORTAR = 0.02  # metres, joint width between bricks
WALL_COLOR = (0.70, 0.74, 0.80)
MORTAR_COLOR = (0.86, 0.86, 0.84)
NOISE_TEXELS_PER_METRE = 40  # grain of the surface noise
NOISE_PERIOD_TEXELS = 256  # the noise texture tiles every NOISE_PERIOD_TEXELS / NOISE_TEXELS_PER_METRE m
NOISE_SMOOTH_TEXELS = 1.5  # Gaussian sigma of the noise grain
NOISE_AMPLITUDE = 0.08  # +- brightness variation of floor and wall
NOISE_SEED = 0
SHADOW_STRENGTH = 0.55  # fraction of the floor's light taken at the shadow's centre
SHADOW_MARGIN = 1.15  # shadow half-axes = this x the body's half extent on the floor
SHADOW_BLUR = 0.35  # Gaussian sigma as a fraction of the shadow's projected height (soft edge)
SHADOW_POINTS = 48  # polygon points of the shadow ellipse


@dataclasses.dataclass
class SampleTruth:
    """What the sample clip shows, frame by frame (T frames).

    pose (T, 72) SMPL axis-angle with the global orientation in camera axes; betas (10,);
    transl (T, 3) the body model's translation putting its vertices in camera coordinates (OpenCV:
    x right, y down, z forward, metres); intrinsics: the pinhole camera; boxes (T, 4) the person's
    square box (cx, cy, w, h), w == h = the longer side of the projected vertices' bounding box;
    fps; size (width, height).
    """

    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    intrinsics: Intrinsics
    boxes: np.ndarray
    fps: float
    size: tuple[int, int]


@dataclasses.dataclass
class _Scene:
    """Truth plus what drawing needs: camera vertices (T, V, 3), the world -> camera rigid motion
    (x_cam = rotation @ x_world + translation) and the body's floor footprint per frame (T, 2, 2)
    as (min, max) of world x and z."""

    truth: SampleTruth
    verts: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    footprint: np.ndarray


def sample_truth(cfg=None) -> SampleTruth:
    """The sample clip's truth (no rendering)."""
    return _build_scene(cfg).truth


def sample_background(cfg=None) -> np.ndarray:
    """The sample clip's empty room (H, W, 3) uint8 RGB, without the person or the shadow."""
    cfg = cfg if cfg is not None else get_cfg_defaults()
    return _background(_build_scene(cfg), cfg)


def make_sample_clip(path, cfg=None) -> Path:
    """Write the sample clip (H.264) to `path` unless a file is already there; -> the path.

    Deterministic: the same config gives the same frames. Written atomically, so an interrupted
    run never leaves a partial clip under `path`.
    """
    from vibe.io.video_writer import VideoWriter

    path = Path(path)
    if path.is_file():
        logger.info("sample clip %s already there", path)
        return path
    cfg = cfg if cfg is not None else get_cfg_defaults()
    model = _load_model()
    scene = _build_scene(cfg, model)
    truth = scene.truth
    logger.info("rendering the sample clip (%d frames) to %s", len(truth.pose), path)
    with VideoWriter(path, truth.fps, truth.size, cfg=cfg) as writer:
        for frame in _frames(scene, model, cfg):
            writer.write(frame)
    return path


def clothes_colors(skin_weights: np.ndarray) -> np.ndarray:
    """Per-vertex RGB (V, 3) from SMPL skinning weights (V, 24): the CLOTHES region of each
    vertex's dominant joint."""
    region_color = np.zeros((len(SMPL24), 3), np.float32)
    for joint_names, color in CLOTHES.values():
        for name in joint_names:
            region_color[SMPL24.index(f"smpl_{name}")] = color
    return region_color[np.asarray(skin_weights).argmax(axis=1)]


# ---------------------------------------------------------------- motion and truth

def _check_cfg(sample) -> None:
    lengths = {len(sample.MOTIONS), len(sample.MOTION_SECONDS), len(sample.HEADINGS_DEG)}
    if len(lengths) != 1 or not sample.MOTIONS:
        raise InputError("SAMPLE.MOTIONS, SAMPLE.MOTION_SECONDS and SAMPLE.HEADINGS_DEG must be non-empty "
                         "lists of the same length")
    unknown = [name for name in sample.MOTIONS if name not in motions.MOTIONS]
    if unknown:
        raise InputError(f"unknown sample motion(s) {unknown}; choose from {sorted(motions.MOTIONS)}")


def _turned(motion: motions.Motion, heading_deg: float) -> motions.Motion:
    """The motion turned by `heading_deg` about the vertical (y) axis."""
    turn = Rotation.from_euler("y", heading_deg, degrees=True)
    orient = (turn * Rotation.from_rotvec(motion.pose[:, :3])).as_rotvec()
    return motions.Motion(motion.name, np.concatenate([orient, motion.pose[:, 3:]], 1), turn.apply(motion.root))


def _ease_in(previous_pose: np.ndarray, pose: np.ndarray, frames: int) -> np.ndarray:
    """pose (T, 72) whose first `frames` frames move smoothly from `previous_pose` (72,) into it
    (per joint, along the shortest rotation)."""
    frames = min(frames, len(pose))
    alpha = (np.arange(1, frames + 1) / (frames + 1))[:, None]
    alpha = alpha * alpha * (3.0 - 2.0 * alpha)  # smoothstep: no jump in angular speed at either end
    start = Rotation.from_rotvec(np.broadcast_to(previous_pose.reshape(-1, 3), (frames, 24, 3)).reshape(-1, 3))
    target = Rotation.from_rotvec(pose[:frames].reshape(-1, 3))
    step = (start.inv() * target).as_rotvec().reshape(frames, 24, 3) * alpha[..., None]
    eased = pose.copy()
    eased[:frames] = (start * Rotation.from_rotvec(step.reshape(-1, 3))).as_rotvec().reshape(frames, -1)
    return eased


def world_motion(cfg=None) -> motions.Motion:
    """The configured motions played one after another in SMPL's world frame (root not yet on the floor)."""
    sample = (cfg if cfg is not None else get_cfg_defaults()).SAMPLE
    _check_cfg(sample)
    fps = float(sample.FPS)
    blend_frames = int(round(float(sample.BLEND_SECONDS) * fps))
    poses, roots = [], []
    for name, seconds, heading in zip(sample.MOTIONS, sample.MOTION_SECONDS, sample.HEADINGS_DEG):
        motion = _turned(motions.MOTIONS[name](max(int(round(seconds * fps)), 1), fps), heading)
        pose, root = motion.pose, motion.root
        if poses:  # continue from where the previous motion ended
            pose = _ease_in(poses[-1][-1], pose, blend_frames)
            root = root - root[0] + roots[-1][-1]
        poses.append(pose)
        roots.append(root)
    return motions.Motion("sample", np.concatenate(poses), np.concatenate(roots))


def _posed(model, pose: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Vertices (T, V, 3) of the body posed by `pose` (T, 72) with its pelvis at `root` (T, 3)."""
    with torch.no_grad():
        out = model(torch.as_tensor(pose[:, :3], dtype=torch.float32),
                    torch.as_tensor(pose[:, 3:], dtype=torch.float32),
                    torch.as_tensor(np.broadcast_to(BETAS, (len(pose), NUM_BETAS)).copy()),
                    transl=torch.as_tensor(root - _rest_pelvis(model), dtype=torch.float32))
    return out.verts.numpy().astype(np.float64)


def _rest_pelvis(model) -> np.ndarray:
    """(3,) the pelvis joint of the rest pose at BETAS (smplx rotates the body about it)."""
    with torch.no_grad():
        out = model(torch.zeros(1, 3), torch.zeros(1, 69), torch.as_tensor(BETAS)[None])
    return out.smpl_joints[0, 0].numpy().astype(np.float64)


def _load_model():
    from vibe.body import load_body_model

    return load_body_model(kind="open")


def _on_the_floor(model, motion: motions.Motion) -> tuple[motions.Motion, np.ndarray]:
    """The motion lifted or lowered frame by frame so its lowest vertex touches the floor (y = 0),
    and its footprint (T, 2, 2): (min, max) of the vertices' world (x, z)."""
    verts = _posed(model, motion.pose, motion.root)
    root = motion.root.copy()
    root[:, 1] -= verts[..., 1].min(axis=1)
    footprint = np.stack([verts[..., [0, 2]].min(axis=1), verts[..., [0, 2]].max(axis=1)], axis=1)
    return motions.Motion(motion.name, motion.pose, root), footprint


def _intrinsics(sample) -> Intrinsics:
    focal = float(sample.FOCAL_DIAG_FACTOR) * float(np.hypot(sample.WIDTH, sample.HEIGHT))
    return Intrinsics(focal, focal, sample.WIDTH / 2.0, sample.HEIGHT / 2.0)


def _build_scene(cfg=None, model=None) -> _Scene:
    cfg = cfg if cfg is not None else get_cfg_defaults()
    sample = cfg.SAMPLE
    model = model if model is not None else _load_model()
    motion, footprint = _on_the_floor(model, world_motion(cfg))
    cam_pose, cam_root = motions.place_in_camera(motion, float(sample.CAMERA_DISTANCE),
                                                 float(sample.CAMERA_ELEVATION_DEG), float(sample.CAMERA_AZIMUTH_DEG))
    intrinsics = _intrinsics(sample)
    verts = _posed(model, cam_pose, cam_root)
    # place_in_camera centres the mean pelvis position, which lies towards where the person stands
    # longest; pan sideways so that everything the person reaches over the clip is centred.
    pan = _centring_pan(intrinsics.project(verts)[..., 0], verts[..., 2], intrinsics)
    cam_root, verts = cam_root - pan, verts - pan
    # The placement is rigid: read its rotation off the first frame's orientation, then its shift.
    rotation = (Rotation.from_rotvec(cam_pose[0, :3]) * Rotation.from_rotvec(motion.pose[0, :3]).inv()).as_matrix()
    translation = cam_root[0] - rotation @ motion.root[0]
    truth = SampleTruth(pose=cam_pose.astype(np.float32), betas=BETAS.copy(),
                        transl=(cam_root - _rest_pelvis(model)).astype(np.float32), intrinsics=intrinsics,
                        boxes=points_square_boxes(intrinsics.project(verts)), fps=float(sample.FPS),
                        size=(int(sample.WIDTH), int(sample.HEIGHT)))
    return _Scene(truth, verts, rotation, translation, footprint)


def _centring_pan(u: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """(3,) sideways camera-space shift that centres the horizontal span of image columns `u`
    (T, V) of points at depths `depth` (T, V), to first order in the shift."""
    offset_px = (u.min() + u.max()) / 2.0 - intrinsics.cx
    return np.array([offset_px * float(np.median(depth)) / intrinsics.fx, 0.0, 0.0])


def points_square_boxes(uv: np.ndarray) -> np.ndarray:
    """Projected vertices (T, V, 2) -> square boxes (T, 4) cx, cy, side, side around each frame's points."""
    low, high = uv.min(axis=1), uv.max(axis=1)
    side = (high - low).max(axis=1)
    centre = (low + high) / 2.0
    return np.concatenate([centre, side[:, None], side[:, None]], axis=1).astype(np.float32)


# ---------------------------------------------------------------- drawing

def _frames(scene: _Scene, model, cfg):
    """Yield the clip's RGB uint8 frames (H, W, 3)."""
    truth = scene.truth
    width, height = truth.size
    opaque = cfg.clone()
    opaque.defrost()
    opaque.RENDER.MESH_ALPHA = 1.0  # a person, not an overlay
    renderer = make_renderer(width, height, str(cfg.RENDER.BACKEND), cfg=opaque)
    colors = clothes_colors(model.smpl.lbs_weights.numpy())
    faces = model.faces
    background = _background(scene, cfg)
    for verts, footprint in zip(scene.verts, scene.footprint):
        image = _with_shadow(background, footprint, scene, cfg)
        yield renderer.render(image, [MeshInstance(verts, faces, vertex_colors=colors)], truth.intrinsics)


def _lambert(normal_cam: np.ndarray, cfg) -> float:
    """The renderer's shading intensity for a plane with this camera-space normal."""
    light = np.asarray(cfg.RENDER.LIGHT_DIR, np.float64)
    return float(cfg.RENDER.AMBIENT + cfg.RENDER.DIFFUSE * abs(normal_cam @ light) / np.linalg.norm(light))


def _noise_texture() -> np.ndarray:
    """Smooth tileable noise (P, P) in [-1, 1], fixed by NOISE_SEED."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(NOISE_SEED)
    grain = rng.uniform(-1.0, 1.0, (NOISE_PERIOD_TEXELS, NOISE_PERIOD_TEXELS))
    smooth = gaussian_filter(grain, NOISE_SMOOTH_TEXELS, mode="wrap")  # wrap: the texture tiles seamlessly
    return (smooth / np.abs(smooth).max()).astype(np.float32)


def _sample_noise(noise: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Noise at surface coordinates (a, b) in metres, wrapped."""
    map_x = np.mod(a * NOISE_TEXELS_PER_METRE, NOISE_PERIOD_TEXELS).astype(np.float32)
    map_y = np.mod(b * NOISE_TEXELS_PER_METRE, NOISE_PERIOD_TEXELS).astype(np.float32)
    return cv2.remap(noise, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)


def _background(scene: _Scene, cfg) -> np.ndarray:
    """The empty room (H, W, 3) uint8: a checker floor (y = 0) and a brick wall WALL_DISTANCE behind
    the mean pelvis position, perpendicular to the camera's horizontal view direction."""
    truth, rotation, translation = scene.truth, scene.rotation, scene.translation
    width, height = truth.size
    k = truth.intrinsics
    sub = (np.arange(width * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5, \
        (np.arange(height * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5  # sub-pixel centres in pixel units
    u, v = np.meshgrid(*sub)
    rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1) @ rotation  # world dirs
    camera_centre = -rotation.T @ translation
    view = rotation.T @ np.array([0.0, 0.0, 1.0])
    across = np.array([view[0], 0.0, view[2]]) / np.hypot(view[0], view[2])  # horizontal view direction
    look_at = rotation.T @ (np.array([0.0, 0.0, float(cfg.SAMPLE.CAMERA_DISTANCE)]) - translation)
    wall_offset = (look_at - camera_centre) @ across + float(cfg.SAMPLE.WALL_DISTANCE)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_floor = -camera_centre[1] / rays[..., 1]
        to_wall = wall_offset / (rays @ across)
    to_floor = np.where(to_floor > 0, to_floor, np.inf)
    hits_floor = to_floor < to_wall
    points = camera_centre + rays * np.where(hits_floor, to_floor, to_wall)[..., None]
    noise = _noise_texture()
    floor = _floor_texture(points, noise) * _lambert(rotation[:, 1], cfg)
    along_wall = np.cross(across, [0.0, 1.0, 0.0])
    wall = _wall_texture(points @ along_wall, points[..., 1], noise) * _lambert(rotation @ across, cfg)
    image = np.where(hits_floor[..., None], floor, wall)
    image = cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _floor_texture(points: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Checker of FLOOR_TILE squares with noise, at world floor points (..., 3) -> RGB (..., 3)."""
    x, z = points[..., 0], points[..., 2]
    parity = (np.floor(x / FLOOR_TILE) + np.floor(z / FLOOR_TILE)) % 2
    color = np.where(parity[..., None] > 0, FLOOR_COLORS[1], FLOOR_COLORS[0])
    return color * (1.0 + NOISE_AMPLITUDE * _sample_noise(noise, x, z))[..., None]


def _wall_texture(along: np.ndarray, up: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Running-bond bricks with mortar joints and noise at wall coordinates (metres) -> RGB (..., 3)."""
    brick_w, brick_h = BRICK_SIZE
    row = np.floor(up / brick_h)
    shifted = along + 0.5 * brick_w * (row % 2)
    in_mortar = (np.mod(up, brick_h) < MORTAR) | (np.mod(shifted, brick_w) < MORTAR)
    color = np.where(in_mortar[..., None], MORTAR_COLOR, WALL_COLOR)
    return color * (1.0 + NOISE_AMPLITUDE * _sample_noise(noise, along, up))[..., None]


def _with_shadow(background: np.ndarray, footprint: np.ndarray, scene: _Scene, cfg) -> np.ndarray:
    """The background darkened by a soft elliptical shadow on the floor under the body's footprint
    (2, 2) = (min, max) of world (x, z)."""
    centre = footprint.mean(axis=0)
    half = SHADOW_MARGIN * (footprint[1] - footprint[0]) / 2.0
    angle = np.linspace(0.0, 2.0 * np.pi, SHADOW_POINTS, endpoint=False)
    ring = np.stack([centre[0] + half[0] * np.cos(angle), np.zeros_like(angle), centre[1] + half[1] * np.sin(angle)], 1)
    uv = scene.truth.intrinsics.project(ring @ scene.rotation.T + scene.translation)
    mask = np.zeros(background.shape[:2], np.float32)
    cv2.fillPoly(mask, [np.rint(uv).astype(np.int32)], 1.0, cv2.LINE_AA)
    sigma = max(SHADOW_BLUR * float(np.ptp(uv[:, 1])), 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    shaded = background.astype(np.float32) * (1.0 - SHADOW_STRENGTH * mask[..., None])
    return np.rint(shaded).astype(np.uint8)
