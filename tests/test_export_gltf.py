"""The .glb read back by hand (json + struct, no pygltflib) and skinned by a small LBS written
here must reproduce the body model's own posed vertices (smplx) in the y-up world."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from test_export_data import (  # noqa: F401 (fixtures)
    FPS, SMPL_JOINT_NAMES, make_track, open_model, reference_world, tiny_no_posedirs_model,
)
from vibe.io.exporters import export_gltf

MM = 1e-3
GLB_MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
COMPONENT_DTYPES = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
TYPE_SIZES = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_glb(path):
    """(json dict, accessor reader) of a binary glTF file, parsed per the glTF 2.0 spec."""
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (GLB_MAGIC, 2, len(data))
    json_length, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == JSON_CHUNK
    doc = json.loads(data[20:20 + json_length])
    bin_start = 20 + json_length
    bin_length, bin_type = struct.unpack_from("<II", data, bin_start)
    assert bin_type == BIN_CHUNK
    blob = data[bin_start + 8: bin_start + 8 + bin_length]

    def accessor(index):
        acc = doc["accessors"][index]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype = np.dtype(COMPONENT_DTYPES[acc["componentType"]])
        width = TYPE_SIZES[acc["type"]]
        start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
        values = np.frombuffer(blob, dtype, acc["count"] * width, start)
        return values.reshape(acc["count"], width) if width > 1 else values

    return doc, accessor


def _node_parents(doc) -> list[int]:
    parents = [-1] * len(doc["nodes"])
    for index, node in enumerate(doc["nodes"]):
        for child in node.get("children", []):
            parents[child] = index
    return parents


def skin_frame(doc, accessor, frame: int) -> np.ndarray:
    """(V, 3) world vertices at animation sample `frame`: node rest TRS overridden by the
    animation, world transforms down the hierarchy, skin matrices world @ inverse bind, LBS
    over every JOINTS_n / WEIGHTS_n set."""
    nodes = doc["nodes"]
    translations = [np.array(node.get("translation", [0.0, 0.0, 0.0])) for node in nodes]
    rotations = [np.array(node.get("rotation", [0.0, 0.0, 0.0, 1.0])) for node in nodes]
    animation = doc["animations"][0]
    for channel in animation["channels"]:
        value = accessor(animation["samplers"][channel["sampler"]]["output"])[frame].astype(np.float64)
        target = channel["target"]
        (translations if target["path"] == "translation" else rotations)[target["node"]] = value
    parents = _node_parents(doc)
    world: dict[int, np.ndarray] = {}

    def world_of(index):
        if index not in world:
            local = np.eye(4)
            local[:3, :3] = Rotation.from_quat(rotations[index]).as_matrix()  # glTF quats are x, y, z, w
            local[:3, 3] = translations[index]
            world[index] = local if parents[index] < 0 else world_of(parents[index]) @ local
        return world[index]

    skin = doc["skins"][0]
    inverse_binds = accessor(skin["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    skin_matrices = np.stack([world_of(node) @ ibm for node, ibm in zip(skin["joints"], inverse_binds)])
    attributes = doc["meshes"][0]["primitives"][0]["attributes"]
    rest = np.concatenate([accessor(attributes["POSITION"]), np.ones((len(accessor(attributes["POSITION"])), 1))], 1)
    posed = np.zeros((len(rest), 4))
    set_index = 0
    while f"JOINTS_{set_index}" in attributes:
        joints = accessor(attributes[f"JOINTS_{set_index}"])
        weights = accessor(attributes[f"WEIGHTS_{set_index}"])
        for slot in range(4):
            posed += weights[:, slot, None] * np.einsum("vij,vj->vi", skin_matrices[joints[:, slot]], rest)
        set_index += 1
    return posed[:, :3]


@pytest.mark.parametrize("model_name", ["open_model", "tiny_no_posedirs_model"])
def test_skinned_glb_matches_body_model(model_name, request, tmp_path):
    model = request.getfixturevalue(model_name)
    frame_ids = [5, 6, 7, 12, 13]  # a gap of four frames stays a gap in time
    track = make_track(model, frame_ids, seed=1)
    doc, accessor = read_glb(export_gltf(tmp_path / "person.glb", track, model, FPS))
    ref_verts, _ = reference_world(model, track)
    for frame in (0, 2, 3):
        error = np.linalg.norm(skin_frame(doc, accessor, frame) - ref_verts[frame], axis=-1).max()
        assert error < MM, f"frame {frame}: max vertex error {error * 1000:.3f} mm"
    times = accessor(doc["animations"][0]["samplers"][0]["input"])
    np.testing.assert_allclose(times, np.array(frame_ids) / FPS, rtol=1e-6)
    assert all(s["interpolation"] == "LINEAR" for s in doc["animations"][0]["samplers"])


def test_glb_structure(tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    track = make_track(model, range(4), seed=2)
    doc, accessor = read_glb(export_gltf(tmp_path / "person.glb", track, model, FPS))
    joint_nodes = doc["skins"][0]["joints"]
    assert [doc["nodes"][j]["name"] for j in joint_nodes] == list(SMPL_JOINT_NAMES)
    parents = _node_parents(doc)
    smpl_parents = model.smpl.parents.numpy()
    assert [parents[j] for j in joint_nodes[1:]] == [joint_nodes[p] for p in smpl_parents[1:]]
    # The bind mesh is the body model's zero-pose mesh with the averaged shape.
    with torch.no_grad():
        rest = model(torch.zeros(1, 3), torch.zeros(1, 69), torch.as_tensor(track.mean_betas)[None])
    attributes = doc["meshes"][0]["primitives"][0]["attributes"]
    np.testing.assert_allclose(accessor(attributes["POSITION"]), rest.verts[0].numpy(), atol=1e-5)
    position_accessor = doc["accessors"][attributes["POSITION"]]
    np.testing.assert_allclose(position_accessor["max"], accessor(attributes["POSITION"]).max(0))
    normals = accessor(attributes["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    # Inverse bind matrices undo the rest joint positions.
    ibm = accessor(doc["skins"][0]["inverseBindMatrices"]).reshape(-1, 4, 4).transpose(0, 2, 1)
    np.testing.assert_allclose(ibm[:, :3, 3], -rest.smpl_joints[0].numpy(), atol=1e-5)
    # Weights: one set for this model (two influences per vertex), each vertex summing to 1.
    assert "JOINTS_1" not in attributes
    np.testing.assert_allclose(accessor(attributes["WEIGHTS_0"]).sum(1), 1.0, atol=1e-6)


def test_open_body_uses_two_influence_sets_with_top4_first(open_model, tmp_path):
    track = make_track(open_model, range(2), seed=3)
    doc, accessor = read_glb(export_gltf(tmp_path / "eight.glb", track, open_model, FPS))
    attributes = doc["meshes"][0]["primitives"][0]["attributes"]
    weights = open_model.smpl.lbs_weights.numpy()
    top4 = -np.sort(-weights, axis=1)[:, :4]
    first = accessor(attributes["WEIGHTS_0"])
    second = accessor(attributes["WEIGHTS_1"])
    np.testing.assert_allclose(first, top4 / weights.sum(1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(first.sum(1) + second.sum(1), 1.0, atol=1e-5)
    picked = np.take_along_axis(weights, accessor(attributes["JOINTS_0"]).astype(np.int64), axis=1)
    np.testing.assert_allclose(picked[first > 0], first[first > 0], atol=1e-6)

    doc4, accessor4 = read_glb(export_gltf(tmp_path / "four.glb", track, open_model, FPS, max_influences=4))
    attributes4 = doc4["meshes"][0]["primitives"][0]["attributes"]
    assert "JOINTS_1" not in attributes4
    np.testing.assert_allclose(accessor4(attributes4["WEIGHTS_0"]), top4 / top4.sum(1, keepdims=True), atol=1e-6)


def test_root_motion_from_orig_cam_without_transl(tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    track = make_track(model, range(3), seed=4, with_transl=False)
    width, height = 640, 480
    doc, accessor = read_glb(export_gltf(tmp_path / "p.glb", track, model, FPS, image_size=(width, height)))
    focal = np.hypot(width, height)  # the documented default: focal = image diagonal
    sx, _, tx, ty = track.orig_cam.T
    expected_transl = np.column_stack([tx, ty, 2 * focal / (width * sx)])
    ref_verts, _ = reference_world(model, track, transl=expected_transl)
    for frame in range(3):
        assert np.abs(skin_frame(doc, accessor, frame) - ref_verts[frame]).max() < MM
