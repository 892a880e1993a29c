"""The BVH parsed here and run through forward kinematics (elementary rotations composed in
channel order, as BVH readers do) must put every joint where the body model's smpl_joints are."""
from __future__ import annotations

import numpy as np
import pytest

from test_export_data import (  # noqa: F401 (fixtures)
    FPS, SMPL_JOINT_NAMES, make_track, open_model, reference_world, tiny_no_posedirs_model,
)
from vibe.io.exporters import export_bvh

MM = 1e-3


def parse_bvh(text: str):
    """(joints, frame_time, motion): joints in file order as dicts with name, parent index,
    offset and channel names; motion (frames, channels)."""
    tokens = text.split()
    joints, stack, position = [], [], 0
    while tokens[position] != "MOTION":
        token = tokens[position]
        if token in ("ROOT", "JOINT"):
            joints.append({"name": tokens[position + 1], "parent": stack[-1] if stack else -1})
            position += 2
        elif token == "End":  # End Site { OFFSET x y z }: no channels, nothing to animate
            position += 8
        elif token == "{":
            stack.append(len(joints) - 1)
            position += 1
        elif token == "}":
            stack.pop()
            position += 1
        elif token == "OFFSET":
            joints[-1]["offset"] = np.array(tokens[position + 1: position + 4], dtype=float)
            position += 4
        elif token == "CHANNELS":
            count = int(tokens[position + 1])
            joints[-1]["channels"] = tokens[position + 2: position + 2 + count]
            position += 2 + count
        else:
            position += 1  # HIERARCHY
    assert tokens[position + 1] == "Frames:" and tokens[position + 3: position + 5] == ["Frame", "Time:"]
    num_frames, frame_time = int(tokens[position + 2]), float(tokens[position + 5])
    values = np.array(tokens[position + 6:], dtype=float)
    return joints, frame_time, values.reshape(num_frames, -1)


def _axis_rotation(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return {"X": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "Y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "Z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def forward_kinematics(joints, row: np.ndarray) -> np.ndarray:
    """(J, 3) joint positions for one motion row: position channels add to the root's OFFSET,
    rotation channels multiply left to right."""
    positions, globals_, column = [], [], 0
    for joint in joints:
        rotation, translation = np.eye(3), joint["offset"].copy()
        for channel in joint["channels"]:
            value = row[column]
            column += 1
            if channel.endswith("position"):
                translation["XYZ".index(channel[0])] += value
            else:
                rotation = rotation @ _axis_rotation(channel[0], value)
        parent = joint["parent"]
        if parent < 0:
            positions.append(translation)
            globals_.append(rotation)
        else:
            positions.append(positions[parent] + globals_[parent] @ translation)
            globals_.append(globals_[parent] @ rotation)
    return np.array(positions)


@pytest.mark.parametrize("model_name, units, order", [
    ("open_model", 1.0, "ZXY"), ("tiny_no_posedirs_model", 100.0, "ZXY"), ("tiny_no_posedirs_model", 1.0, "XYZ"),
])
def test_bvh_joints_match_body_model(model_name, units, order, request, tmp_path):
    model = request.getfixturevalue(model_name)
    track = make_track(model, range(10, 16), seed=5)
    path = export_bvh(tmp_path / "p.bvh", track, model, FPS, units_per_metre=units, euler_order=order)
    joints, frame_time, motion = parse_bvh(path.read_text())
    assert sorted(j["name"] for j in joints) == sorted(SMPL_JOINT_NAMES)
    assert joints[0]["channels"][:3] == ["Xposition", "Yposition", "Zposition"]
    assert all(j["channels"][-3:] == [f"{axis}rotation" for axis in order] for j in joints)
    assert len(motion) == 6 and frame_time == pytest.approx(1 / FPS, abs=1e-8)
    _, ref_joints = reference_world(model, track)
    file_to_smpl = [SMPL_JOINT_NAMES.index(j["name"]) for j in joints]
    for frame in range(6):
        error = np.linalg.norm(forward_kinematics(joints, motion[frame]) / units - ref_joints[frame, file_to_smpl], axis=-1)
        assert error.max() < MM, f"frame {frame}: max joint error {error.max() * 1000:.3f} mm"


def test_bvh_fills_gaps_at_the_video_frame_rate(tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    track = make_track(model, [3, 4, 8, 9], seed=6)
    joints, frame_time, motion = parse_bvh(export_bvh(tmp_path / "g.bvh", track, model, 25.0).read_text())
    assert len(motion) == 7 and frame_time == pytest.approx(1 / 25.0, abs=1e-8)  # video frames 3..9
    _, ref_joints = reference_world(model, track)
    for row, track_frame in ((0, 0), (1, 1), (5, 2), (6, 3)):
        assert np.abs(forward_kinematics(joints, motion[row])[0] - ref_joints[track_frame, 0]).max() < MM
    for row, video_frame in ((2, 5), (3, 6), (4, 7)):  # root moves linearly from frame 4 to frame 8
        fraction = (video_frame - 4) / 4
        expected = (1 - fraction) * ref_joints[1, 0] + fraction * ref_joints[2, 0]
        assert np.abs(forward_kinematics(joints, motion[row])[0] - expected).max() < MM
