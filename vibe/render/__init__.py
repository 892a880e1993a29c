"""vibe.render: meshes drawn over video frames.

    renderer = make_renderer(width, height)            # moderngl/EGL, else software
    frame = renderer.render(frame, [MeshInstance(verts, faces, track_color(tid))], Intrinsics(fx, fy, cx, cy))
    side = renderer.render_side_view(meshes, intrinsics)  # for --sideview

Vertices are in camera coordinates, OpenCV convention (x right, y down, z forward, metres); a
y-up mesh enters through `y_up_to_camera`. Importing this package is light: moderngl is loaded
only when an OpenGL renderer is made.
"""
from __future__ import annotations

import logging

from vibe.errors import InputError, VibeError
from vibe.render.base import (
    Intrinsics,
    MeshInstance,
    Renderer,
    RenderSettings,
    rotate_about_vertical,
    y_up_to_camera,
)
from vibe.render.colors import track_color

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "moderngl", "software")

__all__ = [
    "BACKENDS", "Intrinsics", "MeshInstance", "Renderer", "RenderSettings", "make_renderer",
    "rotate_about_vertical", "track_color", "y_up_to_camera",
]


def make_renderer(width: int, height: int, backend: str = "auto", cfg=None) -> Renderer:
    """A renderer for (height, width) frames.

    backend: 'auto' or 'moderngl' try OpenGL (EGL) first and fall back to the software renderer
    with one warning if no context can be made; 'software' never touches OpenGL. `cfg` (a full
    config, default vibe.config defaults) supplies the RENDER settings.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown render backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if cfg is None:
        from vibe.config import get_cfg_defaults

        cfg = get_cfg_defaults()
    settings = RenderSettings.from_cfg(cfg)
    from vibe.render.software import SoftwareRenderer

    if backend == "software":
        return SoftwareRenderer(width, height, settings)
    try:
        from vibe.render.gl import GLRenderer

        return GLRenderer(width, height, settings)
    except VibeError:
        raise
    except Exception as err:  # noqa: BLE001 - no GL of any kind must ever end a run
        logger.warning("OpenGL renderer unavailable (%s: %s); using the software renderer",
                       type(err).__name__, err)
        return SoftwareRenderer(width, height, settings)
