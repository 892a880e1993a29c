"""Software renderer in numpy/OpenCV: the fallback when OpenGL is unavailable.

Filled meshes go through a vectorised z-buffer rasteriser: every triangle's bounding box is
expanded into candidate pixel centres, kept where all three edge functions agree (inside),
depth and colour are interpolated perspective-correctly (linear in 1/z, as OpenGL does), and
the nearest candidate per pixel wins. Wireframes are drawn with cv2.polylines, meshes from far
to near (all edges visible, as an OpenGL line-mode wireframe).
"""
from __future__ import annotations

import cv2
import numpy as np

from vibe.render.base import Intrinsics, Renderer, Scene

MAX_CANDIDATES = 4_000_000  # candidate pixels per rasterisation chunk (bounds memory)
LINE_SHIFT = 4  # cv2 sub-pixel bits for wireframe vertex coordinates
_MIN_AREA = 1e-9  # doubled triangle area, px^2: thinner triangles are skipped


class SoftwareRenderer(Renderer):
    """Numpy z-buffer renderer; same picture as the OpenGL one up to edge pixels."""

    backend_name = "software"

    def _rasterize(self, scene: Scene, intrinsics: Intrinsics, wireframe: bool):
        return rasterize(scene, intrinsics, self.width, self.height, self.settings.near, wireframe)


def rasterize(scene: Scene, intrinsics: Intrinsics, width: int, height: int, near: float,
              wireframe: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """-> (colour (H, W, 3) uint8, coverage (H, W) bool). Faces with a vertex nearer than `near`
    are skipped (OpenGL would clip them)."""
    if wireframe:
        return _draw_wireframe(scene, intrinsics, width, height, near)
    color = np.zeros((height * width, 3), dtype=np.float32)
    depth = np.full(height * width, np.inf)
    triangles = _screen_triangles(scene, intrinsics, width, height, near)
    for chunk in _chunks(triangles["counts"]):
        _rasterize_chunk({k: v[chunk] for k, v in triangles.items()}, width, color, depth)
    coverage = np.isfinite(depth)
    return _to_uint8(color).reshape(height, width, 3), coverage.reshape(height, width)


def _to_uint8(color: np.ndarray) -> np.ndarray:
    """Colours in [0, 1] -> uint8, rounded as OpenGL stores normalised colours."""
    return np.rint(np.clip(color, 0.0, 1.0) * 255.0).astype(np.uint8)


def _screen_triangles(scene: Scene, intrinsics: Intrinsics, width: int, height: int, near: float) -> dict:
    """Per visible face: barycentric coefficients (F, 3, 3), inverse depths (F, 3), colours
    (F, 3, 3), pixel bounding box and its pixel count."""
    faces = scene.faces
    z = scene.verts[:, 2].astype(np.float64)
    faces = faces[(z[faces] > near).all(axis=1)]
    uv = intrinsics.project(scene.verts.astype(np.float64))[faces]  # (F, 3, 2)
    coefficients = _barycentric_coefficients(uv)
    x_min = np.maximum(np.ceil(uv[..., 0].min(axis=1)), 0).astype(np.int64)
    x_max = np.minimum(np.floor(uv[..., 0].max(axis=1)), width - 1).astype(np.int64)
    y_min = np.maximum(np.ceil(uv[..., 1].min(axis=1)), 0).astype(np.int64)
    y_max = np.minimum(np.floor(uv[..., 1].max(axis=1)), height - 1).astype(np.int64)
    keep = np.isfinite(coefficients).all(axis=(1, 2)) & (x_max >= x_min) & (y_max >= y_min)
    box_w = (x_max - x_min + 1)[keep]
    return {
        "coefficients": coefficients[keep], "inv_z": 1.0 / z[faces][keep], "rgb": scene.colors[faces][keep],
        "x_min": x_min[keep], "y_min": y_min[keep], "box_w": box_w,
        "counts": box_w * (y_max - y_min + 1)[keep],
    }


def _barycentric_coefficients(uv: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rows (a, b, c) with barycentric weight k of pixel (x, y) = a x + b y + c.

    Weight k is the edge function of the edge opposite corner k divided by the triangle's
    doubled signed area, so both windings give weights >= 0 inside. Degenerate triangles
    (|area| <= _MIN_AREA) get NaN rows.
    """
    start, end = np.roll(uv, -1, axis=1), np.roll(uv, -2, axis=1)  # edge opposite each corner
    a = start[..., 1] - end[..., 1]
    b = end[..., 0] - start[..., 0]
    c = start[..., 0] * end[..., 1] - start[..., 1] * end[..., 0]
    area = (a[:, 0] * uv[:, 0, 0] + b[:, 0] * uv[:, 0, 1] + c[:, 0])[:, None]
    area = np.where(np.abs(area) > _MIN_AREA, area, np.nan)
    return np.stack([a, b, c], axis=2) / area[..., None]


def _chunks(counts: np.ndarray):
    """Slices of consecutive faces whose candidate pixels add up to at most MAX_CANDIDATES
    (a single larger face gets a slice of its own)."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + MAX_CANDIDATES, side="right")), start + 1)
        yield slice(start, stop)
        start = stop


def _rasterize_chunk(tri: dict, width: int, color: np.ndarray, depth: np.ndarray) -> None:
    """Z-buffer one chunk of triangles into the flat `color` (H*W, 3) and `depth` (H*W,)."""
    counts = tri["counts"]
    face = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    box_w = tri["box_w"][face]
    x = tri["x_min"][face] + offset % box_w
    y = tri["y_min"][face] + offset // box_w
    coefficients = tri["coefficients"][face]
    weights = coefficients[..., 0] * x[:, None] + coefficients[..., 1] * y[:, None] + coefficients[..., 2]
    inside = (weights >= 0).all(axis=1)
    face, weights = face[inside], weights[inside]
    persp = weights * tri["inv_z"][face]  # perspective-correct: interpolate in 1/z
    inv_z = persp.sum(axis=1)
    z = 1.0 / inv_z
    flat = y[inside] * width + x[inside]
    np.minimum.at(depth, flat, z)
    won = z <= depth[flat]
    rgb = np.einsum("nk,nkc->nc", persp[won], tri["rgb"][face[won]]) / inv_z[won, None]
    color[flat[won]] = rgb


def _draw_wireframe(scene: Scene, intrinsics: Intrinsics, width: int, height: int, near: float):
    """All triangle edges, each mesh in its mean shaded colour, meshes drawn far to near."""
    canvas = np.zeros((height, width, 3), dtype=np.float32)
    mask = np.zeros((height, width), dtype=np.uint8)
    uv = intrinsics.project(scene.verts.astype(np.float64))
    z = scene.verts[:, 2]
    far_to_near = sorted(scene.face_ranges, key=lambda r: -z[scene.faces[r[0]:r[1]]].mean())
    for start, stop in far_to_near:
        faces = scene.faces[start:stop]
        faces = faces[(z[faces] > near).all(axis=1)]
        if not len(faces):
            continue
        polygons = list(np.rint(uv[faces] * (1 << LINE_SHIFT)).astype(np.int32))
        mesh_color = tuple(float(c) for c in scene.colors[np.unique(faces)].mean(axis=0))
        cv2.polylines(canvas, polygons, True, mesh_color, 1, cv2.LINE_8, LINE_SHIFT)
        cv2.polylines(mask, polygons, True, 1, 1, cv2.LINE_8, LINE_SHIFT)
    return _to_uint8(canvas), mask.astype(bool)
