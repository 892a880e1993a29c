"""Procedural SMPL motions with known poses: walking, arm swings, turning round, crouching.

Each motion is a `Motion`: pose (T, 72) axis-angle in SMPL's own frame (y up, the body facing +z
at zero global orientation) and root (T, 3) metres, the pelvis trajectory in that frame. Any
SMPL-format model (SMPL, the open body, a generated test model) can play them: a 72-d pose
means the same motion on each. `place_in_camera` puts a motion in front of an OpenCV camera.

Joint angle signs (SMPL): hip flexion (thigh forward) is negative about x, knee flexion
positive about x; the left arm lies along +x, so lowering it is negative about z (right arm:
positive); bending the left elbow forward is negative about y (right elbow: positive).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

FPS = 30.0
NUM_JOINTS = 24
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE = 1, 2, 3, 4, 5, 6, 7, 8
NECK, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 12, 15, 16, 17, 18, 19
ARMS_DOWN = 1.2  # rad of shoulder rotation from the T pose towards the sides
STRIDE_HZ = 0.9  # walking cadence (strides per second)
WALK_SPEED = 1.2  # m/s


@dataclass
class Motion:
    name: str
    pose: np.ndarray  # (T, 72) axis-angle, SMPL frame (y up)
    root: np.ndarray  # (T, 3) pelvis trajectory, SMPL frame, metres


def _rotvec(axis: str, angles: np.ndarray) -> np.ndarray:
    """(T,) angles about 'x', 'y' or 'z' -> (T, 3) axis-angle."""
    return Rotation.from_euler(axis, np.asarray(angles, dtype=np.float64)[:, None]).as_rotvec()


def _compose(*rotvecs: np.ndarray) -> np.ndarray:
    """Axis-angle (T, 3) of the rotation product, first argument leftmost."""
    out = Rotation.from_rotvec(rotvecs[0])
    for rv in rotvecs[1:]:
        out = out * Rotation.from_rotvec(rv)
    return out.as_rotvec()


def _empty(num_frames: int) -> np.ndarray:
    return np.zeros((num_frames, NUM_JOINTS, 3))


def _arms(joints: np.ndarray, lift: np.ndarray, swing_left: np.ndarray, swing_right: np.ndarray,
          elbow: np.ndarray) -> None:
    """Shoulders lowered by ARMS_DOWN - lift and swung forward/back about x; elbows bent forward."""
    joints[:, L_SHOULDER] = _compose(_rotvec("x", swing_left), _rotvec("z", -(ARMS_DOWN - lift)))
    joints[:, R_SHOULDER] = _compose(_rotvec("x", swing_right), _rotvec("z", ARMS_DOWN - lift))
    joints[:, L_ELBOW] = _rotvec("y", -elbow)
    joints[:, R_ELBOW] = _rotvec("y", elbow)


def walking(num_frames: int, fps: float = FPS) -> Motion:
    """Walking forward (+z) at WALK_SPEED with swinging arms."""
    t = np.arange(num_frames) / fps
    phase = 2.0 * np.pi * STRIDE_HZ * t
    joints = _empty(num_frames)
    joints[:, L_HIP] = _rotvec("x", -0.45 * np.sin(phase))
    joints[:, R_HIP] = _rotvec("x", 0.45 * np.sin(phase))
    joints[:, L_KNEE] = _rotvec("x", 0.15 + 0.55 * np.clip(np.sin(phase - 1.2), 0.0, None))
    joints[:, R_KNEE] = _rotvec("x", 0.15 + 0.55 * np.clip(-np.sin(phase - 1.2), 0.0, None))
    joints[:, L_ANKLE] = _rotvec("x", -0.15 * np.sin(phase))
    joints[:, R_ANKLE] = _rotvec("x", 0.15 * np.sin(phase))
    _arms(joints, np.zeros(num_frames), 0.4 * np.sin(phase), -0.4 * np.sin(phase), 0.3 + 0.1 * np.sin(phase))
    root = np.stack([np.zeros_like(t), 0.02 * np.cos(2.0 * phase), WALK_SPEED * t], -1)
    return Motion("walking", joints.reshape(num_frames, -1), root)


def arm_swings(num_frames: int, fps: float = FPS) -> Motion:
    """Standing, both arms swinging up over the head and down, elbows flexing."""
    t = np.arange(num_frames) / fps
    phase = 2.0 * np.pi * 0.6 * t
    joints = _empty(num_frames)
    lift = 1.0 + 1.2 * np.sin(phase)  # from near the sides to well above the shoulders
    _arms(joints, lift, -0.5 * np.sin(0.5 * phase), 0.5 * np.sin(0.5 * phase), 0.6 + 0.5 * np.cos(phase))
    joints[:, SPINE2] = _rotvec("z", 0.1 * np.sin(phase))
    root = np.zeros((num_frames, 3))
    return Motion("arm_swings", joints.reshape(num_frames, -1), root)


def turning(num_frames: int, fps: float = FPS) -> Motion:
    """Turning round on the spot (one full turn about the vertical), arms out a little."""
    joints = _empty(num_frames)
    yaw = np.linspace(0.0, 2.0 * np.pi, num_frames)
    joints[:, 0] = _rotvec("y", yaw)
    joints[:, NECK] = _rotvec("y", 0.2 * np.sin(yaw))
    lift = np.full(num_frames, 0.3)
    _arms(joints, lift, np.zeros(num_frames), np.zeros(num_frames), np.full(num_frames, 0.4))
    root = np.zeros((num_frames, 3))
    return Motion("turning", joints.reshape(num_frames, -1), root)


def crouching(num_frames: int, fps: float = FPS) -> Motion:
    """Squatting down and up: hips and knees flex, the torso leans forward, the pelvis drops."""
    t = np.arange(num_frames) / fps
    depth = 0.5 * (1.0 - np.cos(2.0 * np.pi * 0.4 * t))  # 0 standing .. 1 deepest
    joints = _empty(num_frames)
    for hip in (L_HIP, R_HIP):
        joints[:, hip] = _rotvec("x", -1.3 * depth)
    for knee in (L_KNEE, R_KNEE):
        joints[:, knee] = _rotvec("x", 2.0 * depth)
    for ankle in (L_ANKLE, R_ANKLE):
        joints[:, ankle] = _rotvec("x", -0.5 * depth)
    joints[:, SPINE1] = _rotvec("x", 0.35 * depth)
    _arms(joints, 0.9 * depth, -0.9 * depth, -0.9 * depth, 0.3 * depth)
    root = np.stack([np.zeros_like(t), -0.45 * depth, np.zeros_like(t)], -1)
    return Motion("crouching", joints.reshape(num_frames, -1), root)


MOTIONS = {"walking": walking, "arm_swings": arm_swings, "turning": turning, "crouching": crouching}


def place_in_camera(motion: Motion, distance: float, elevation_deg: float, azimuth_deg: float):
    """The motion seen by an OpenCV camera (x right, y down, z forward) `distance` metres from the
    motion's mean position, looking down by `elevation_deg` and from `azimuth_deg` round the body.

    Returns (pose (T, 72) with the global orientation in camera axes, root (T, 3) camera-space
    pelvis trajectory): the body's joints in the camera are joints(pose) + root - rest pelvis,
    i.e. pass `root` as the body model's translation offset by the model's rest root joint.
    """
    # Tilting the camera down turns the world's up vector towards the camera (-z): +elevation about x.
    world_to_cam = (Rotation.from_euler("x", elevation_deg, degrees=True)
                    * Rotation.from_euler("x", np.pi)  # y up -> y down, +z facing -> facing the camera
                    * Rotation.from_euler("y", azimuth_deg, degrees=True))
    global_orient = (world_to_cam * Rotation.from_rotvec(motion.pose[:, :3])).as_rotvec()
    centred = motion.root - motion.root.mean(0)
    root = world_to_cam.apply(centred) + np.array([0.0, 0.0, distance])
    return np.concatenate([global_orient, motion.pose[:, 3:]], axis=1), root
