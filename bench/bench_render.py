"""Rendering and video-writing speed at 640x480.

Prints ms/frame of `Renderer.render` (shading, rasterising, blending: what a caller pays) for
the OpenGL (moderngl/EGL, Mesa llvmpipe on CPU) and the software renderer on:
- a person-sized ellipsoid of 6890 vertices (SMPL's count) and of 13926 vertices,
- the open body model's rest mesh (13348 vertices), and three 6890-vertex people;
then the H.264 writer's frames/s on 640x480 rendered frames.

Run: `.venv/bin/python bench/bench_render.py [--frames 30]`. Median over frames after a warm-up.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from vibe.config import get_cfg_defaults
from vibe.io.video_writer import VideoWriter
from vibe.render import Intrinsics, MeshInstance, make_renderer, track_color, y_up_to_camera

WIDTH, HEIGHT = 640, 480
K = Intrinsics(fx=500.0, fy=500.0, cx=WIDTH / 2, cy=HEIGHT / 2)
PERSON_DEPTH = 2.6  # metres: a 1.7 m person spans about 330 px at fy = 500
PERSON_RADII = (0.25, 0.85, 0.15)  # ellipsoid half-axes of a person-sized blob
OPEN_BODY = Path(__file__).resolve().parents[1] / "vibe" / "body" / "assets" / "open_body.npz"
WRITER_FPS = Fraction(30000, 1001)


def ellipsoid(rows: int, cols: int):
    """Latitude-longitude ellipsoid: rows * cols + 2 vertices, (V, 3) and (F, 3)."""
    lat = np.linspace(0, np.pi, rows + 2)[1:-1]
    lon = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    grid = np.stack([np.sin(lat)[:, None] * np.cos(lon), np.cos(lat)[:, None] * np.ones_like(lon),
                     np.sin(lat)[:, None] * np.sin(lon)], axis=2).reshape(-1, 3)
    verts = np.vstack([[0, 1, 0], grid, [0, -1, 0]]) * PERSON_RADII
    ring = lambda r: 1 + r * cols + np.arange(cols)  # noqa: E731 - vertex ids of latitude row r
    faces = [np.stack([np.zeros(cols, int), ring(0), np.roll(ring(0), -1)], axis=1)]
    for r in range(rows - 1):
        a, b = ring(r), ring(r + 1)
        faces += [np.stack([a, b, np.roll(b, -1)], axis=1), np.stack([a, np.roll(b, -1), np.roll(a, -1)], axis=1)]
    south = len(verts) - 1
    faces.append(np.stack([np.full(cols, south), np.roll(ring(rows - 1), -1), ring(rows - 1)], axis=1))
    return verts, np.concatenate(faces)


def scenes() -> dict[str, list[MeshInstance]]:
    small, large = ellipsoid(82, 84), ellipsoid(118, 118)  # 6890 and 13926 vertices
    body = np.load(OPEN_BODY)
    body_verts = y_up_to_camera(body["v_template"], translation=(0.0, 0.35, PERSON_DEPTH))
    return {
        f"ellipsoid {len(small[0])} v": [MeshInstance(small[0] + [0, 0, PERSON_DEPTH], small[1], track_color(0))],
        f"ellipsoid {len(large[0])} v": [MeshInstance(large[0] + [0, 0, PERSON_DEPTH], large[1], track_color(0))],
        f"open body {len(body_verts)} v": [MeshInstance(body_verts, body["f"], track_color(0))],
        f"3 people x {len(small[0])} v": [MeshInstance(small[0] + [x, 0, PERSON_DEPTH + d], small[1], track_color(i))
                                          for i, (x, d) in enumerate([(-0.7, 0.5), (0.0, 0.0), (0.6, 1.0)])],
    }


def time_render(renderer, meshes, frames: int) -> float:
    """Median ms/frame of render() over `frames` frames (meshes nudged each frame) after a warm-up."""
    background = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    renderer.render(background, meshes, K)
    times = []
    for i in range(frames):
        moved = [MeshInstance(m.verts + [0.002 * i, 0, 0], m.faces, m.color) for m in meshes]
        start = time.perf_counter()
        renderer.render(background, moved, K)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_writer(renderer, meshes, frames: int) -> float:
    """Frames/s of VideoWriter on pre-rendered 640x480 frames (encoding only)."""
    background = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    images = [renderer.render(background, [MeshInstance(m.verts + [0.01 * i, 0, 0], m.faces, m.color)
                                           for m in meshes], K) for i in range(frames)]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        with VideoWriter(Path(folder) / "bench.mp4", WRITER_FPS, (WIDTH, HEIGHT)) as writer:
            for image in images:
                writer.write(image)
        return frames / (time.perf_counter() - start)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames timed per case")
    args = parser.parse_args()
    print(f"# {cpu_name()}, {platform.python_version()}, {datetime.date.today()}, {WIDTH}x{HEIGHT}")
    renderers = {name: make_renderer(WIDTH, HEIGHT, name) for name in ("moderngl", "software")}
    print(f"moderngl backend in use: {renderers['moderngl'].backend_name}")
    all_scenes = scenes()
    print(f"{'scene':28s} {'moderngl ms':>12s} {'software ms':>12s}")
    for name, meshes in all_scenes.items():
        gl_ms, sw_ms = (time_render(renderers[b], meshes, args.frames) for b in ("moderngl", "software"))
        print(f"{name:28s} {gl_ms:12.1f} {sw_ms:12.1f}")
    writer_fps = time_writer(renderers["moderngl"], next(iter(all_scenes.values())), 4 * args.frames)
    video = get_cfg_defaults().RENDER
    print(f"H.264 writer (libx264, preset {video.VIDEO_PRESET}, crf {video.VIDEO_CRF}), {WIDTH}x{HEIGHT}: "
          f"{writer_fps:.0f} frames/s")


if __name__ == "__main__":
    main()
