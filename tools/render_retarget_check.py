#!/usr/bin/env python
"""Render check frames of the motion library's retargeting: the mocap points (red dots) over the
body fitted to them, one row per source format, three frames per take, each seen from the front
and from the side (the side view shows depth errors a front view hides).

    .venv/bin/python tools/render_retarget_check.py --src ../shared/mocap --out docs/retarget_check.jpg

Each take's first FRAMES frames are retargeted onto the open body exactly as
`tools/preprocess.py mocap` does (vibe.data.mocap.retarget.Retargeter with the config's settings).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TAKES = ("cmu_asfamc/02/02_01.amc", "cmu_bvh/salsa/01.bvh", "cmu_expmap/train/walking/walking_1.txt")
FRAMES = 90  # retargeted per take (3 s at 30 fps)
SHOWN = (0.1, 0.5, 0.9)  # where in those frames the check frames are, as fractions
TILE = 320  # pixels, square
DISTANCE_M = 2.6  # camera to the body's centre
FOCAL_PER_TILE = 1.3  # focal length in tile widths: a 1.7 m body spans ~270 px at DISTANCE_M
VIEWS_DEG = (0.0, 90.0)  # about the vertical axis: front, side
POINT_RADIUS = 4
POINT_COLOR = (255, 0, 0)  # RGB, as the renderer's frames
LABEL_COLOR = (255, 255, 255)


def retargeted(path: Path, retargeter):
    """(sequence cut to FRAMES frames, its RetargetResult)."""
    from dataclasses import replace

    from vibe.data.mocap import read_mocap

    sequence = read_mocap(path)
    sequence = replace(sequence, positions=sequence.positions[:FRAMES])
    return sequence, retargeter.fit(sequence)


def about_vertical(degrees: float) -> np.ndarray:
    """(3, 3) rotation about the y (up) axis."""
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])


def tile(renderer, verts: np.ndarray, faces: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """One view: the body's vertices (V, 3) and the mocap points (P, 3), both y-up world metres,
    turned `degrees` about their centre and drawn from DISTANCE_M in front."""
    import cv2

    from vibe.render import Intrinsics, MeshInstance, track_color, y_up_to_camera

    centre = verts.mean(0)
    turn = about_vertical(degrees)
    to_camera = (lambda xyz: y_up_to_camera((xyz - centre) @ turn.T, (0.0, 0.0, DISTANCE_M)))
    intrinsics = Intrinsics(FOCAL_PER_TILE * TILE, FOCAL_PER_TILE * TILE, TILE / 2, TILE / 2)
    image = renderer.render(np.full((TILE, TILE, 3), 40, np.uint8),
                            [MeshInstance(to_camera(verts), faces, track_color(0))], intrinsics)
    for x, y in intrinsics.project(to_camera(points)).round().astype(int):
        cv2.circle(image, (int(x), int(y)), POINT_RADIUS, POINT_COLOR, -1, cv2.LINE_AA)
    return image


def take_row(renderer, body, sequence, result) -> np.ndarray:
    """The take's check frames side by side, labelled with its name and mean error."""
    import cv2
    import torch

    from vibe.keypoints.conventions import joint_names

    names = joint_names(sequence.convention)
    used = [names.index(name) for name in result.points]
    frames = [int(round(f * (sequence.num_frames - 1))) for f in SHOWN]
    pose = torch.as_tensor(result.pose[frames])
    with torch.no_grad():
        verts = body(pose[:, :3], pose[:, 3:], torch.as_tensor(result.betas)[None].expand(len(frames), -1),
                     torch.as_tensor(result.transl[frames])).verts.numpy()
    tiles = [tile(renderer, verts[k], body.faces, sequence.positions[frame, used], degrees)
             for k, frame in enumerate(frames) for degrees in VIEWS_DEG]
    row = np.concatenate(tiles, axis=1)
    label = f"{sequence.name}: {len(used)} points, mean error {result.mean_error_mm:.1f} mm"
    cv2.putText(row, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, LABEL_COLOR, 1, cv2.LINE_AA)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=str(REPO.parent / "shared" / "mocap"), help="the mocap folder")
    parser.add_argument("--out", default=str(REPO / "docs" / "retarget_check.jpg"))
    args = parser.parse_args(argv)
    from vibe.body import load_open_body
    from vibe.data.mocap.retarget import Retargeter, RetargetSettings
    from vibe.io.image_writer import ImageWriter
    from vibe.render import make_renderer

    body = load_open_body()
    retargeter = Retargeter(body, RetargetSettings.from_cfg())
    renderer = make_renderer(TILE, TILE)
    rows = [take_row(renderer, body, *retargeted(Path(args.src) / take, retargeter)) for take in TAKES]
    sheet = np.concatenate(rows, axis=0)
    with ImageWriter(args.out, (sheet.shape[1], sheet.shape[0])) as writer:  # atomic; RGB in
        writer.write(sheet)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
