"""Animation and mesh exporters: glTF binary (skinned mesh + animation + root motion), BVH, OBJ.

All of them place a track in one y-up, metre world (see exporters.skeleton). pygltflib is imported
only when a .glb is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vibe.io.exporters.bvh import export_bvh
from vibe.io.exporters.gltf import export_gltf
from vibe.io.exporters.obj import ObjSequenceWriter, export_obj_sequence
from vibe.io.exporters.skeleton import CAMERA_TO_Y_UP, JOINT_NAMES, camera_to_y_up
from vibe.io.results import TrackResult


@dataclass
class ExportedFiles:
    """What `export_track` wrote: glb and bvh paths, and the OBJ folder (None without save_obj)."""

    glb: Path
    bvh: Path
    obj_folder: Path | None


def export_track(output_folder: str | Path, track_id: int, result: TrackResult, model, fps: float,
                 image_size: tuple[int, int] | None = None, save_obj: bool = False) -> ExportedFiles:
    """The demo's per-person exports: person_<id>.glb, person_<id>.bvh and, with save_obj,
    meshes/person_<id>/frame_<frame id>.obj, all under `output_folder`."""
    folder = Path(output_folder)
    stem = f"person_{int(track_id)}"
    glb = export_gltf(folder / f"{stem}.glb", result, model, fps, image_size=image_size)
    bvh = export_bvh(folder / f"{stem}.bvh", result, model, fps, image_size=image_size)
    obj_folder = None
    if save_obj:
        obj_folder = export_obj_sequence(folder / "meshes" / stem, result, model.faces, image_size=image_size)
    return ExportedFiles(glb=glb, bvh=bvh, obj_folder=obj_folder)


__all__ = ["CAMERA_TO_Y_UP", "JOINT_NAMES", "ExportedFiles", "ObjSequenceWriter", "camera_to_y_up",
           "export_bvh", "export_gltf", "export_obj_sequence", "export_track"]
