"""What every renderer shares: the camera convention, the mesh and camera records, shading,
blending and the side view. Backends only rasterise (`Renderer._rasterize`).

Camera convention (OpenCV): x right, y down, z forward, metres. A point (x, y, z) lands on
pixel u = fx * x / z + cx, v = fy * y / z + cy, with pixel centres at integer coordinates
(as cv2 and the crop mapping in vibe/geometry.py). The network's and the fitter's posed
vertices are already in this frame: place them with `vibe.geometry.orig_cam_to_translation` and
draw with Intrinsics(f, f, W / 2, H / 2). Meshes built y-up (SMPL's rest frame, the open body's
template) enter it through `y_up_to_camera`, the one place that flips axes.
"""
from __future__ import annotations

import abc
import dataclasses
import logging

import numpy as np

from vibe.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_MESH_COLOR = (0.65, 0.74, 0.86)  # light blue, used when no track colour is given
# Rotation taking a y-up, facing-+z mesh to the camera frame facing the camera: 180 deg about x.
Y_UP_TO_CAMERA = np.diag([1.0, -1.0, -1.0])
SIDE_VIEW_DEGREES = 90.0


def y_up_to_camera(verts: np.ndarray, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Vertices (..., V, 3) of a y-up mesh (SMPL rest frame) -> camera coordinates.

    The mesh is turned 180 degrees about x (up becomes -y, its front faces the camera) and then
    moved by `translation` (3,) in camera coordinates, e.g. (0, 0, depth).
    """
    return np.asarray(verts, dtype=np.float64) @ Y_UP_TO_CAMERA.T + np.asarray(translation, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera in pixels (OpenCV convention, pixel centres at integer coordinates)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """Camera points (..., 3) -> pixel coordinates (..., 2)."""
        z = points[..., 2]
        return np.stack([self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], axis=-1)


@dataclasses.dataclass
class MeshInstance:
    """One mesh to draw: `verts` (V, 3) in camera coordinates (metres, x right, y down, z forward),
    `faces` (F, 3) vertex indices, `color` RGB floats in [0, 1]; `vertex_colors` (V, 3) RGB floats
    in [0, 1], when given, colour each vertex instead (e.g. clothes) and `color` is unused."""

    verts: np.ndarray
    faces: np.ndarray
    color: tuple[float, float, float] = DEFAULT_MESH_COLOR
    vertex_colors: np.ndarray | None = None

    def __post_init__(self):
        self.verts = np.asarray(self.verts, dtype=np.float32)
        self.faces = np.asarray(self.faces)
        if self.verts.ndim != 2 or self.verts.shape[1] != 3:
            raise InputError(f"mesh vertices must have shape (V, 3), got {self.verts.shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or not np.issubdtype(self.faces.dtype, np.integer):
            raise InputError(f"mesh faces must be integer indices of shape (F, 3), got {self.faces.shape} {self.faces.dtype}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= len(self.verts)):
            raise InputError(f"mesh faces index vertices outside 0..{len(self.verts) - 1}")
        color = np.asarray(self.color, dtype=np.float32)
        if color.shape != (3,) or color.min() < 0 or color.max() > 1:
            raise InputError(f"mesh colour must be 3 floats in [0, 1], got {self.color}")
        self.color = tuple(float(c) for c in color)
        if self.vertex_colors is not None:
            self.vertex_colors = np.asarray(self.vertex_colors, dtype=np.float32)
            shape = self.vertex_colors.shape
            if shape != self.verts.shape or not ((self.vertex_colors >= 0) & (self.vertex_colors <= 1)).all():
                raise InputError(f"vertex colours must be (V, 3) = {self.verts.shape} floats in [0, 1], got {shape}")

    def base_colors(self) -> np.ndarray:
        """Unshaded colour of every vertex (V, 3): `vertex_colors`, else `color` repeated."""
        if self.vertex_colors is not None:
            return self.vertex_colors
        return np.broadcast_to(np.asarray(self.color, dtype=np.float32), self.verts.shape)


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """The RENDER section of the config, as the renderers use it."""

    mesh_alpha: float = 0.9
    ambient: float = 0.35
    diffuse: float = 0.65
    light_dir: tuple[float, float, float] = (0.0, -0.4, -1.0)
    near: float = 0.05
    far: float = 200.0
    sideview_background: tuple[int, int, int] = (255, 255, 255)
    egl_library: str = ""

    @classmethod
    def from_cfg(cls, cfg) -> "RenderSettings":
        """Build from a full config (uses cfg.RENDER)."""
        r = cfg.RENDER
        return cls(
            mesh_alpha=float(r.MESH_ALPHA),
            ambient=float(r.AMBIENT),
            diffuse=float(r.DIFFUSE),
            light_dir=tuple(float(x) for x in r.LIGHT_DIR),
            near=float(r.NEAR),
            far=float(r.FAR),
            sideview_background=tuple(int(x) for x in r.SIDEVIEW_BACKGROUND),
            egl_library=str(r.EGL_LIBRARY),
        )


@dataclasses.dataclass
class Scene:
    """All meshes of one frame merged for rasterisation.

    verts (N, 3) float32 camera coordinates; faces (F, 3) int32 into verts; colors (N, 3) float32
    shaded vertex colours in [0, 1]; face_ranges: (start, stop) face rows of each input mesh.
    """

    verts: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    face_ranges: list[tuple[int, int]]


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3): area-weighted sums of the adjacent face normals."""
    tri = verts[faces].astype(np.float64)
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    corner_vertex = faces.ravel()  # each face normal goes to its three corners
    normals = np.stack([np.bincount(corner_vertex, weights=np.repeat(face_normals[:, axis], 3), minlength=len(verts))
                        for axis in range(3)], axis=1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.maximum(length, np.finfo(np.float64).tiny)


def shade_vertices(mesh: MeshInstance, settings: RenderSettings) -> np.ndarray:
    """Lambert + ambient vertex colours (V, 3) in [0, 1] under a directional light.

    Lighting is two-sided (|n . l|) so meshes of either winding look the same.
    """
    light = np.asarray(settings.light_dir, dtype=np.float64)
    light /= np.linalg.norm(light)
    lambert = np.abs(vertex_normals(mesh.verts, mesh.faces) @ light)
    intensity = np.clip(settings.ambient + settings.diffuse * lambert, 0.0, 1.0)
    return (intensity[:, None] * mesh.base_colors()).astype(np.float32)


def build_scene(meshes: list[MeshInstance], settings: RenderSettings) -> Scene:
    """Concatenate meshes into one vertex/face list with shaded colours."""
    verts, faces, colors, ranges = [], [], [], []
    vert_offset = face_offset = 0
    for mesh in meshes:
        verts.append(mesh.verts)
        faces.append(mesh.faces.astype(np.int32) + vert_offset)
        colors.append(shade_vertices(mesh, settings))
        ranges.append((face_offset, face_offset + len(mesh.faces)))
        vert_offset += len(mesh.verts)
        face_offset += len(mesh.faces)
    return Scene(
        verts=np.concatenate(verts).astype(np.float32),
        faces=np.concatenate(faces).astype(np.int32),
        colors=np.concatenate(colors).astype(np.float32),
        face_ranges=ranges,
    )


def rotate_about_vertical(meshes: list[MeshInstance], degrees: float) -> list[MeshInstance]:
    """The meshes turned by `degrees` about the camera's vertical (y) axis through their joint
    centroid, so people keep their places relative to each other."""
    centroid = np.concatenate([m.verts for m in meshes]).mean(axis=0)
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, 0.0, sin], [0.0, 1.0, 0.0], [-sin, 0.0, cos]])
    return [
        dataclasses.replace(m, verts=(m.verts - centroid) @ rotation.T + centroid)
        for m in meshes
    ]


def blend_over(image: np.ndarray, color: np.ndarray, coverage: np.ndarray, alpha: float) -> np.ndarray:
    """`color` (H, W, 3) uint8 laid over `image` with opacity `alpha` where `coverage` (H, W)."""
    out = image.copy()
    rows, cols = np.nonzero(coverage.any(axis=1))[0], np.nonzero(coverage.any(axis=0))[0]
    if not len(rows):
        return out
    # Blend inside the covered bounding box only: a person fills a small part of a frame.
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    mask = coverage[box]
    blended = image[box][mask].astype(np.float32) * (1.0 - alpha) + color[box][mask].astype(np.float32) * alpha
    out[box][mask] = np.rint(blended).astype(np.uint8)
    return out


def _has_faces(meshes: list[MeshInstance]) -> bool:
    return any(len(mesh.faces) for mesh in meshes)


class Renderer(abc.ABC):
    """Draws meshes over frames of a fixed size. Subclasses implement `_rasterize`."""

    backend_name = "abstract"

    def __init__(self, width: int, height: int, settings: RenderSettings | None = None):
        if width <= 0 or height <= 0:
            raise InputError(f"render size must be positive, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.settings = settings or RenderSettings()

    @abc.abstractmethod
    def _rasterize(self, scene: Scene, intrinsics: Intrinsics, wireframe: bool) -> tuple[np.ndarray, np.ndarray]:
        """-> (colour (H, W, 3) uint8, coverage (H, W) bool) of the nearest surface."""

    def render(self, image: np.ndarray, meshes: list[MeshInstance], intrinsics: Intrinsics,
               wireframe: bool = False) -> np.ndarray:
        """Meshes alpha-blended over `image` (H, W, 3) uint8 RGB -> a new (H, W, 3) uint8 image."""
        self._check_image(image)
        if not _has_faces(meshes):
            return image.copy()
        color, coverage = self._rasterize(build_scene(meshes, self.settings), intrinsics, wireframe)
        return blend_over(image, color, coverage, self.settings.mesh_alpha)

    def render_side_view(self, meshes: list[MeshInstance], intrinsics: Intrinsics,
                         wireframe: bool = False) -> np.ndarray:
        """The meshes seen from the side (turned 90 degrees about the vertical axis through their
        centroid) on a plain background (RENDER.SIDEVIEW_BACKGROUND) -> (H, W, 3) uint8."""
        canvas = np.empty((self.height, self.width, 3), dtype=np.uint8)
        canvas[:] = self.settings.sideview_background
        if not _has_faces(meshes):
            return canvas
        return self.render(canvas, rotate_about_vertical(meshes, SIDE_VIEW_DEGREES), intrinsics, wireframe)

    def _check_image(self, image: np.ndarray) -> None:
        expected = (self.height, self.width, 3)
        if not isinstance(image, np.ndarray) or image.shape != expected or image.dtype != np.uint8:
            got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
            raise InputError(f"render expects an RGB uint8 frame of shape {expected}, got {got}")
