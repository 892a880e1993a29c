"""Keypoints of a body seen through the real keypoint network: the posed body (clothed by skin-weight
regions, as the built-in sample) is rendered over a plain textured background, cut into the
pipeline's keypoint crops around its square box, and BlazePose's landmarks are converted to spin49
image keypoints exactly as the demo's crop pass does (vibe.pipeline.passes.crop_pass).

    keypoints = detected_keypoints(body, verts, intrinsics, (1280, 720), cfg)   # (T, 49, 3)

Used by bench/bench_fitting.py --rendered; the truth stays the body's own joints.
"""
from __future__ import annotations

import numpy as np

from tracker.crops import keypoint_crops
from vibe.render import Intrinsics, MeshInstance, make_renderer
from vibe.sample import clothes_colors, points_square_boxes

BACKGROUND_GREY = 110  # uint8 mean of the background
BACKGROUND_GRAIN = 25  # uint8 +- of its smooth noise
BACKGROUND_GRAIN_PX = 9.0  # Gaussian sigma of that noise, px
BACKGROUND_SEED = 0


def background(size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 grey with smooth grain: some texture, no person-like shapes."""
    import cv2

    width, height = size
    grain = np.random.default_rng(BACKGROUND_SEED).uniform(-1.0, 1.0, (height, width)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), BACKGROUND_GRAIN_PX)
    grain /= np.abs(grain).max()
    grey = np.clip(BACKGROUND_GREY + BACKGROUND_GRAIN * grain, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def detected_keypoints(body, verts: np.ndarray, intrinsics: Intrinsics, size: tuple[int, int], cfg,
                       detector=None) -> np.ndarray:
    """Camera-space vertices (T, V, 3) (OpenCV axes, metres) -> (T, 49, 3) spin49 image keypoints
    (x, y, confidence) from BlazePose on each rendered frame's keypoint crop."""
    from vibe.keypoints.blazepose import BlazePoseDetector

    detector = detector or BlazePoseDetector(cfg)
    opaque = cfg.clone()
    opaque.defrost()
    opaque.RENDER.MESH_ALPHA = 1.0  # a person, not an overlay
    renderer = make_renderer(*size, str(cfg.RENDER.BACKEND), cfg=opaque)
    colors = clothes_colors(body.smpl.lbs_weights.numpy())
    empty = background(size)
    boxes = points_square_boxes(intrinsics.project(verts))
    keypoints = []
    for frame_verts, box in zip(verts, boxes):
        frame = renderer.render(empty.copy(), [MeshInstance(frame_verts, body.faces, vertex_colors=colors)], intrinsics)
        crops = keypoint_crops(frame, box[None], cfg)
        keypoints.append(detector(crops.images).to_spin49(box[None], float(cfg.KEYPOINTS.BBOX_SCALE))[0])
    return np.stack(keypoints).astype(np.float64)
