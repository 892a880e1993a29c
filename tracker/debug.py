"""Boxes and track ids drawn onto frames, and a debug video (an image for a one-frame input) to
check tracking by eye."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from tracker.crops import boxes_by_frame
from tracker.tracking import cxcywh_to_xyxy
from tracker.types import Track
from tracker.video import VideoSource

logger = logging.getLogger(__name__)

GOLDEN_RATIO_HUE = 0.618034  # spreads consecutive ids over distinct hues
LINE_WIDTH = 2
FONT_SCALE = 0.6
THIN_LINE = 1  # where the box was interpolated


def track_colour(track_id: int) -> tuple[int, int, int]:
    hue = int(180 * ((track_id * GOLDEN_RATIO_HUE) % 1.0))
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw_tracks(frame: np.ndarray, entries: list[tuple[int, np.ndarray, bool]]) -> np.ndarray:
    """A copy of RGB `frame` with (track_id, bbox cx,cy,w,h, interpolated) boxes and ids drawn."""
    canvas = frame.copy()
    for track_id, bbox, interpolated in entries:
        x0, y0, x1, y1 = (int(round(v)) for v in cxcywh_to_xyxy(bbox)[0])
        colour = track_colour(track_id)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, THIN_LINE if interpolated else LINE_WIDTH)
        cv2.putText(canvas, str(track_id), (x0, max(y0 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, colour, LINE_WIDTH)
    return canvas


def _entries(table, tracks_by_id, frame_id):
    return [(tid, bbox, bool(tracks_by_id[tid].interpolated[i])) for tid, i, bbox in table.get(frame_id, [])]


def write_debug_video(source: VideoSource, tracks: list[Track], out_path, cfg=None) -> Path:
    """Re-read `source` and write every frame with the tracks drawn: a video at the input's fps
    (H.264), or an image when `out_path` has an image suffix (vibe.io.image_writer.frame_writer)."""
    from vibe.io.image_writer import frame_writer

    table = boxes_by_frame(tracks)
    tracks_by_id = {t.track_id: t for t in tracks}
    size = (source.info.width, source.info.height)
    with frame_writer(out_path, source.info.fps, size, cfg=cfg) as writer:
        for frame_id, frame in source.frames():
            writer.write(draw_tracks(frame, _entries(table, tracks_by_id, frame_id)))
    logger.info("tracks drawn into %s", out_path)
    return Path(out_path)


def contact_sheet(source: VideoSource, tracks: list[Track], frame_ids: list[int], columns: int = 2) -> np.ndarray:
    """The listed frames with tracks drawn, tiled into one RGB image (rows of `columns`)."""
    table = boxes_by_frame(tracks)
    tracks_by_id = {t.track_id: t for t in tracks}
    wanted, panels = set(frame_ids), {}
    for frame_id, frame in source.frames():
        if frame_id in wanted:
            panel = draw_tracks(frame, _entries(table, tracks_by_id, frame_id))
            cv2.putText(panel, f"frame {frame_id}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, (255, 255, 255), LINE_WIDTH)
            panels[frame_id] = panel
        if frame_id >= max(wanted):
            break
    images = [panels[f] for f in frame_ids if f in panels]
    while len(images) % columns:
        images.append(np.zeros_like(images[0]))
    rows = [np.concatenate(images[i:i + columns], axis=1) for i in range(0, len(images), columns)]
    return np.concatenate(rows, axis=0)
