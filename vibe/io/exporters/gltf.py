"""glTF binary (.glb) export of one person: the skinned mesh in their averaged shape, a 24-joint
skeleton named after SMPL's joints, and one animation with per-joint rotations and root motion.

Layout: nodes 0..23 are the joints (SMPL's parents, rest offsets as node translations, identity
rest rotations), node 24 holds the mesh and the skin; the scene lists the root joint and the mesh
node. The mesh is the rest (T) pose of v_template + shapedirs @ mean betas; inverse bind matrices
are translations by minus each rest joint. The animation samples, at frame_id / fps seconds (gaps
in a track stay gaps in time, LINEAR interpolation), every joint's local rotation and the root's
translation. The y-up conversion sits in the root joint's rotation and translation
(exporters.skeleton). Pose-corrective blend shapes (posedirs) are not exported: exact for the open
body (its posedirs are zero), an approximation for SMPL.

Skin influences: viewers must read JOINTS_0/WEIGHTS_0 (4 per vertex); glTF allows more sets. With
max_influences 8 the strongest four go to set 0 and the next four to set 1, so Blender (which
reads every set) deforms exactly as the body model, and viewers that read set 0 only and
renormalise it (three.js) get the top-4 approximation.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.io.atomic import atomic_path
from vibe.io.exporters.skeleton import (
    JOINT_NAMES, NUM_JOINTS, RestSkeleton, TrackMotion, camera_translation, check_fps, check_track, rest_skeleton,
    track_motion,
)
from vibe.io.results import TrackResult

log = logging.getLogger(__name__)

INFLUENCES_PER_SET = 4  # glTF JOINTS_n / WEIGHTS_n are VEC4
DEFAULT_MAX_INFLUENCES = int(get_cfg_defaults().EXPORT.GLTF_MAX_INFLUENCES)
BASE_COLOR = [0.75, 0.75, 0.78, 1.0]  # neutral light grey, linear RGBA
ROUGHNESS = 0.8
_ALIGNMENT = 4  # glTF: accessor offsets aligned to their component size, at most 4 bytes here


def export_gltf(path: str | Path, result: TrackResult, model, fps: float,
                image_size: tuple[int, int] | None = None, focal_length: float | None = None,
                max_influences: int = DEFAULT_MAX_INFLUENCES) -> Path:
    """Write `result` (one track) posed on `model` (vibe.body.BodyModel) as a .glb at `path`.

    fps: the video's frame rate (timestamps frame_id / fps). image_size (W, H) and focal_length
    are used only for tracks without `transl` (see skeleton.camera_translation). Atomic.
    """
    check_track(result)
    check_fps(fps)
    if max_influences not in (INFLUENCES_PER_SET, 2 * INFLUENCES_PER_SET):
        raise InputError(f"max_influences must be {INFLUENCES_PER_SET} or {2 * INFLUENCES_PER_SET}, got {max_influences}")
    skeleton = rest_skeleton(model, result.mean_betas)
    motion = track_motion(result, skeleton, camera_translation(result, image_size, focal_length))
    gltf = _build_gltf(skeleton, motion, fps, max_influences)
    gltf.scenes[0].extras = {"betas": result.mean_betas.tolist(), "fps": float(fps), "body_model": model.kind}
    path = Path(path)
    with atomic_path(path) as tmp:
        gltf.save_binary(str(tmp))
    log.info("wrote %s (%d frames)", path, len(motion.frame_ids))
    return path


class _Buffer:
    """One binary blob with a buffer view and an accessor per array."""

    def __init__(self, pygltflib):
        self._lib = pygltflib
        self.chunks: list[bytes] = []
        self.size = 0
        self.views: list = []
        self.accessors: list = []

    def add(self, array: np.ndarray, accessor_type: str, component_type: int, target: int | None = None,
            with_bounds: bool = False) -> int:
        """Append `array` (count, components) or (count,); return its accessor index."""
        data = np.ascontiguousarray(array).tobytes()
        self.views.append(self._lib.BufferView(buffer=0, byteOffset=self.size, byteLength=len(data), target=target))
        padding = -len(data) % _ALIGNMENT
        self.chunks.append(data + b"\0" * padding)
        self.size += len(data) + padding
        flat = array.reshape(len(array), -1)
        bounds = {"min": flat.min(0).tolist(), "max": flat.max(0).tolist()} if with_bounds else {}
        self.accessors.append(self._lib.Accessor(bufferView=len(self.views) - 1, componentType=component_type,
                                                 count=len(array), type=accessor_type, **bounds))
        return len(self.accessors) - 1

    def blob(self) -> bytes:
        return b"".join(self.chunks)


def _build_gltf(skeleton: RestSkeleton, motion: TrackMotion, fps: float, max_influences: int):
    import pygltflib

    buffer = _Buffer(pygltflib)
    mesh = _add_mesh(pygltflib, buffer, skeleton, max_influences)
    skin = pygltflib.Skin(name="smpl_skeleton", skeleton=0, joints=list(range(NUM_JOINTS)),
                          inverseBindMatrices=buffer.add(_inverse_bind_matrices(skeleton.joints),
                                                         pygltflib.MAT4, pygltflib.FLOAT))
    animation = _add_animation(pygltflib, buffer, motion, fps)
    mesh_node = pygltflib.Node(name="body", mesh=0, skin=0)
    gltf = pygltflib.GLTF2(
        scene=0, scenes=[pygltflib.Scene(name="person", nodes=[0, NUM_JOINTS])],
        nodes=_joint_nodes(pygltflib, skeleton) + [mesh_node], meshes=[mesh], skins=[skin],
        animations=[animation], materials=[_material(pygltflib)],
        accessors=buffer.accessors, bufferViews=buffer.views,
    )
    blob = buffer.blob()
    gltf.buffers = [pygltflib.Buffer(byteLength=len(blob))]
    gltf.set_binary_blob(blob)
    return gltf


def _joint_nodes(pygltflib, skeleton: RestSkeleton) -> list:
    return [pygltflib.Node(name=JOINT_NAMES[j], translation=skeleton.offsets[j].tolist(),
                           children=skeleton.children(j)) for j in range(NUM_JOINTS)]


def _material(pygltflib):
    pbr = pygltflib.PbrMetallicRoughness(baseColorFactor=BASE_COLOR, metallicFactor=0.0, roughnessFactor=ROUGHNESS)
    return pygltflib.Material(name="body", pbrMetallicRoughness=pbr)


def _add_mesh(pygltflib, buffer: _Buffer, skeleton: RestSkeleton, max_influences: int):
    attributes = {
        "POSITION": buffer.add(skeleton.verts.astype(np.float32), pygltflib.VEC3, pygltflib.FLOAT,
                               pygltflib.ARRAY_BUFFER, with_bounds=True),
        "NORMAL": buffer.add(vertex_normals(skeleton.verts, skeleton.faces).astype(np.float32), pygltflib.VEC3,
                             pygltflib.FLOAT, pygltflib.ARRAY_BUFFER),
    }
    joints, weights = skin_influences(skeleton.weights, max_influences)
    for set_index in range(joints.shape[1] // INFLUENCES_PER_SET):
        columns = slice(set_index * INFLUENCES_PER_SET, (set_index + 1) * INFLUENCES_PER_SET)
        attributes[f"JOINTS_{set_index}"] = buffer.add(joints[:, columns].astype(np.uint8), pygltflib.VEC4,
                                                       pygltflib.UNSIGNED_BYTE, pygltflib.ARRAY_BUFFER)
        attributes[f"WEIGHTS_{set_index}"] = buffer.add(weights[:, columns].astype(np.float32), pygltflib.VEC4,
                                                        pygltflib.FLOAT, pygltflib.ARRAY_BUFFER)
    indices = buffer.add(skeleton.faces.reshape(-1).astype(np.uint32), pygltflib.SCALAR,
                         pygltflib.UNSIGNED_INT, pygltflib.ELEMENT_ARRAY_BUFFER)
    primitive = pygltflib.Primitive(attributes=pygltflib.Attributes(**attributes), indices=indices, material=0)
    return pygltflib.Mesh(name="body", primitives=[primitive])


def skin_influences(weights: np.ndarray, max_influences: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) skinning weights -> joint indices and weights (V, K), strongest first, renormalised.

    K is the number of influences the mesh needs (its most non-zero weights per vertex), rounded
    up to whole sets of 4 and capped at `max_influences`; unused slots hold joint 0, weight 0.
    """
    needed = int((weights > 0).sum(axis=1).max())
    sets = -(-min(needed, max_influences) // INFLUENCES_PER_SET)
    count = sets * INFLUENCES_PER_SET
    order = np.argsort(-weights, axis=1, kind="stable")[:, :count]
    kept = np.take_along_axis(weights, order, axis=1)
    kept = kept / kept.sum(axis=1, keepdims=True)
    order = np.where(kept > 0, order, 0)
    return order, kept


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals; vertices in no face get +y (glTF needs unit length)."""
    face_normals = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    normals = np.zeros_like(verts)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(lengths > 0, normals / np.where(lengths > 0, lengths, 1.0), [0.0, 1.0, 0.0])


def _inverse_bind_matrices(rest_joints: np.ndarray) -> np.ndarray:
    """(24, 16) column-major 4x4 translations by -rest_joint (every rest joint rotation is identity)."""
    matrices = np.tile(np.eye(4), (len(rest_joints), 1, 1))
    matrices[:, :3, 3] = -rest_joints
    return matrices.transpose(0, 2, 1).reshape(len(rest_joints), 16).astype(np.float32)


def _add_animation(pygltflib, buffer: _Buffer, motion: TrackMotion, fps: float):
    times = buffer.add((motion.frame_ids / fps).astype(np.float32), pygltflib.SCALAR, pygltflib.FLOAT,
                       with_bounds=True)
    quats = continuous_quaternions(Rotation.from_matrix(motion.rotations.reshape(-1, 3, 3)).as_quat()
                                   .reshape(len(motion.frame_ids), NUM_JOINTS, 4))
    samplers, channels = [], []
    outputs = [(j, "rotation", quats[:, j], pygltflib.VEC4) for j in range(NUM_JOINTS)]
    outputs.append((0, "translation", motion.root_positions, pygltflib.VEC3))
    for node, target_path, values, accessor_type in outputs:
        output = buffer.add(values.astype(np.float32), accessor_type, pygltflib.FLOAT)
        samplers.append(pygltflib.AnimationSampler(input=times, output=output, interpolation=pygltflib.ANIM_LINEAR))
        channels.append(pygltflib.AnimationChannel(
            sampler=len(samplers) - 1, target=pygltflib.AnimationChannelTarget(node=node, path=target_path)))
    return pygltflib.Animation(name="motion", samplers=samplers, channels=channels)


def continuous_quaternions(quats: np.ndarray) -> np.ndarray:
    """(n, J, 4) quaternions with signs flipped so consecutive frames have a non-negative dot
    product: q and -q are the same rotation, but linear/slerp interpolation between opposite
    signs would swing the long way round."""
    quats = quats.copy()
    for frame in range(1, len(quats)):
        flip = np.sum(quats[frame] * quats[frame - 1], axis=-1) < 0
        quats[frame, flip] *= -1.0
    return quats
