"""Pass 3: the overlay. The input is decoded once more and each frame gets the meshes of the
people tracked in it, placed by their camera-space translation under the run's pinhole camera,
each in its track's colour; frames where a track is absent show no mesh for it. The output path
picks the sink (vibe.io.image_writer.frame_writer): a video (.mp4: H.264 at the input's frame
rate with its audio) or, for a one-frame input, an image (.jpg); either is written atomically.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from tracker.types import VIDEO
from tracker.video import VideoSource
from vibe.io.image_writer import frame_writer
from vibe.io.results import TrackResult
from vibe.pipeline.passes import ProgressSource
from vibe.pipeline.reconstruct import Camera
from vibe.render import Intrinsics, MeshInstance, make_renderer, track_color

log = logging.getLogger(__name__)


def meshes_by_frame(results: dict[int, TrackResult]) -> dict[int, list[tuple[int, int]]]:
    """frame_id -> [(track_id, row in that track's arrays)]."""
    table: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for track_id, result in results.items():
        for row, frame_id in enumerate(result.frame_ids):
            table[int(frame_id)].append((track_id, row))
    return dict(table)


def render_overlay(source: VideoSource, results: dict[int, TrackResult], faces: np.ndarray, camera: Camera,
                   out_path: Path, cfg, wireframe: bool = False, sideview: bool = False,
                   progress: bool = True) -> Path:
    """Write the overlay to `out_path`, a video or an image by its suffix (side view to the right
    with `sideview`)."""
    renderer = make_renderer(camera.width, camera.height, cfg.RENDER.BACKEND, cfg)
    intrinsics = Intrinsics(camera.focal, camera.focal, camera.width / 2.0, camera.height / 2.0)
    table = meshes_by_frame(results)
    size = (2 * camera.width if sideview else camera.width, camera.height)
    audio = source.path if source.info.kind == VIDEO else None
    with frame_writer(out_path, source.info.fps, size, audio_from=audio, cfg=cfg) as writer:
        for frame_id, frame in ProgressSource(source, "render", progress).frames():
            meshes = [MeshInstance(results[tid].verts[row] + results[tid].transl[row], faces, track_color(tid))
                      for tid, row in table.get(frame_id, [])]
            image = renderer.render(frame, meshes, intrinsics, wireframe=wireframe)
            if sideview:
                image = np.concatenate([image, renderer.render_side_view(meshes, intrinsics, wireframe)], axis=1)
            writer.write(image)
    log.info("overlay (%s renderer): %s", renderer.backend_name, out_path)
    return out_path
