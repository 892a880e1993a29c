"""Tracks for the exporter tests (shared with test_export_gltf/bvh/obj) and the bad-input and
atomic-write checks common to all three exporters.

References come from the body model itself (smplx): `reference_world` poses the body with the
track's pose, averaged shape and translation and turns it into the y-up world with a rotation of
180 degrees about x written here, independently of the exporters' constant.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smpl_factory import make_smpl_arrays, write_smpl_file
from vibe.errors import InputError
from vibe.io.exporters import ObjSequenceWriter, export_bvh, export_gltf, export_obj_sequence, export_track
from vibe.io.results import TrackResult

FPS = 30.0
POSE_SCALE = 0.4  # rad per axis-angle component: bent elbows, knees and spine, as in real motion
Y_UP_FROM_CAMERA = Rotation.from_euler("x", 180, degrees=True).as_matrix()
SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)


def _posed(model, pose: np.ndarray, betas: np.ndarray, transl: np.ndarray | None = None):
    with torch.no_grad():
        tensor = torch.as_tensor(pose, dtype=torch.float32)
        return model(tensor[:, :3], tensor[:, 3:], torch.as_tensor(betas, dtype=torch.float32).expand(len(pose), -1),
                     transl=None if transl is None else torch.as_tensor(transl, dtype=torch.float32))


def make_track(model, frame_ids, seed: int = 0, with_transl: bool = True) -> TrackResult:
    """A track of random poses (upright in camera axes: the root turned by pi about x, as the
    network predicts), per-frame betas, a translation 3-5 m in front of the camera and the body
    model's own meshes for the averaged shape (without translation, as the pipeline stores them)."""
    rng = np.random.default_rng(seed)
    frame_ids = np.asarray(frame_ids, dtype=np.int64)
    num = len(frame_ids)
    pose = rng.normal(scale=POSE_SCALE, size=(num, 72))
    pose[:, :3] = (Rotation.from_euler("x", 180, degrees=True) * Rotation.from_rotvec(pose[:, :3])).as_rotvec()
    betas = rng.normal(size=(num, 10))
    transl = np.column_stack([rng.uniform(-1, 1, num), rng.uniform(-0.5, 0.5, num), rng.uniform(3, 5, num)])
    out = _posed(model, pose, betas.mean(0))
    zeros = np.zeros
    return TrackResult(
        frame_ids=frame_ids, bboxes=zeros((num, 4)), pred_cam=zeros((num, 3)),
        orig_cam=np.column_stack([rng.uniform(0.2, 0.4, num), zeros(num) + 0.1, rng.uniform(-0.2, 0.2, num),
                                  rng.uniform(-0.2, 0.2, num)]),
        pose=pose.astype(np.float32), betas=betas.astype(np.float32), verts=out.verts.numpy(),
        joints3d=out.joints.numpy(), joints2d_img_coord=zeros((num, 49, 2)),
        transl=transl if with_transl else None,
    )


def reference_world(model, result: TrackResult, transl: np.ndarray | None = None):
    """The body model's posed (verts (n, V, 3), smpl_joints (n, 24, 3)) for `result`, translated
    by `transl` (default result.transl) and turned into the y-up world."""
    transl = result.transl if transl is None else transl
    out = _posed(model, result.pose.astype(np.float64), result.mean_betas, transl)
    return out.verts.numpy() @ Y_UP_FROM_CAMERA.T, out.smpl_joints.numpy() @ Y_UP_FROM_CAMERA.T


@pytest.fixture(scope="session")
def open_model():
    from vibe.body import load_body_model

    return load_body_model(kind="open")


@pytest.fixture(scope="session")
def tiny_no_posedirs_model(tmp_path_factory):
    """A 300-vertex generated SMPL model with zero pose blend shapes (the .glb cannot carry them)."""
    from vibe.body import load_smpl

    arrays = make_smpl_arrays(num_verts=300, seed=3)
    arrays["posedirs"] = np.zeros_like(arrays["posedirs"])
    return load_smpl(write_smpl_file(tmp_path_factory.mktemp("tiny_flat") / "SMPL_NEUTRAL.pkl", arrays))


def _exporters(model):
    return {
        "glb": lambda path, result: export_gltf(path, result, model, FPS),
        "bvh": lambda path, result: export_bvh(path, result, model, FPS),
        "obj": lambda path, result: export_obj_sequence(path, result, model.faces),
    }


@pytest.mark.parametrize("kind", ["glb", "bvh", "obj"])
def test_bad_tracks_raise_input_error(kind, tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    export = _exporters(model)[kind]
    good = make_track(model, range(4))
    empty = TrackResult(**{key: value[:0] if value is not None else None
                           for key, value in vars(good).items() if key != "meta"})
    short_pose = make_track(model, range(4))
    short_pose.pose = short_pose.pose[:, :69]
    unsorted = make_track(model, [3, 1, 2, 0])
    bad_transl = make_track(model, range(4))
    bad_transl.transl = bad_transl.transl[:, :2]
    for bad in (empty, short_pose, unsorted, bad_transl):
        with pytest.raises(InputError):
            export(tmp_path / f"out.{kind}", bad)
    assert not (tmp_path / f"out.{kind}").exists()
    export(tmp_path / f"ok.{kind}", good)  # the same call succeeds on a valid track


def test_mismatched_betas_and_fps_raise_input_error(tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    track = make_track(model, range(3))
    track.betas = track.betas[:, :8]
    for export in (_exporters(model)["glb"], _exporters(model)["bvh"]):
        with pytest.raises(InputError, match="betas"):
            export(tmp_path / "out", track)
    with pytest.raises(InputError, match="fps"):
        export_gltf(tmp_path / "a.glb", make_track(model, range(3)), model, 0.0)
    with pytest.raises(InputError, match="fps"):
        export_bvh(tmp_path / "a.bvh", make_track(model, range(3)), model, -1.0)
    with pytest.raises(InputError, match="vertices"):
        too_few = make_track(model, range(2))
        too_few.verts = too_few.verts[:, :10]
        export_obj_sequence(tmp_path / "objs", too_few, model.faces)


def test_track_without_translation_needs_image_size(tiny_no_posedirs_model, tmp_path):
    track = make_track(tiny_no_posedirs_model, range(3), with_transl=False)
    with pytest.raises(InputError, match="image size"):
        export_gltf(tmp_path / "a.glb", track, tiny_no_posedirs_model, FPS)


def _fail_after_partial_write(monkeypatch, cls, method: str):
    """Make cls.method write a few bytes to its target, then fail (a full disk mid-write)."""
    def broken(self_or_path, *args, **kwargs):
        target = self_or_path if isinstance(self_or_path, pathlib.Path) else pathlib.Path(args[0])
        with open(target, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(cls, method, broken)


@pytest.mark.parametrize("kind", ["glb", "bvh"])
def test_failure_mid_write_leaves_no_final_file(kind, tiny_no_posedirs_model, tmp_path, monkeypatch):
    import pygltflib

    model = tiny_no_posedirs_model
    export = _exporters(model)[kind]
    track = make_track(model, [7])
    previous = tmp_path / f"previous.{kind}"
    export(previous, track)
    old_bytes = previous.read_bytes()
    if kind == "glb":
        _fail_after_partial_write(monkeypatch, pygltflib.GLTF2, "save_binary")
    else:
        _fail_after_partial_write(monkeypatch, pathlib.Path, "write_text")
    with pytest.raises(OSError, match="disk full"):
        export(tmp_path / f"new.{kind}", track)
    assert sorted(p.name for p in tmp_path.iterdir()) == [previous.name]  # no final file, no temporary
    with pytest.raises(OSError, match="disk full"):  # a failed rewrite leaves the old file intact
        export(previous, track)
    assert previous.read_bytes() == old_bytes


def test_obj_failure_mid_frame_leaves_no_file(tmp_path):
    writer = ObjSequenceWriter(tmp_path, np.array([[0, 1, 2]]))
    writer.write(0, np.eye(3))
    unformattable = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], ["x", 1.0, 0.0]], dtype=object)
    with pytest.raises(TypeError):  # fails inside the vertex formatting, after the file was opened
        writer.write(1, unformattable)
    assert [p.name for p in tmp_path.iterdir()] == ["frame_000000.obj"]


def test_export_track_writes_the_demo_files(tiny_no_posedirs_model, tmp_path):
    track = make_track(tiny_no_posedirs_model, [2, 3], with_transl=False)
    files = export_track(tmp_path, 4, track, tiny_no_posedirs_model, FPS, image_size=(320, 240), save_obj=True)
    assert (files.glb.name, files.bvh.name) == ("person_4.glb", "person_4.bvh")
    assert files.glb.read_bytes()[:4] == b"glTF" and files.bvh.read_text().startswith("HIERARCHY")
    assert sorted(p.name for p in files.obj_folder.iterdir()) == ["frame_000002.obj", "frame_000003.obj"]
    assert export_track(tmp_path / "no_obj", 4, track, tiny_no_posedirs_model, FPS, image_size=(320, 240)).obj_folder is None
