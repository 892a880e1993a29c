"""Motion-capture readers (vibe.data.mocap): forward kinematics against hand-computed chains in each
format, malformed files, and checks on the shared CMU data (left/right, units, plausibility)."""
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vibe.data.mocap import MocapSequence, find_mocap_files, read_mocap
from vibe.data.mocap import asfamc, bvh, common, expmap, fk
from vibe.errors import InputError
from vibe.keypoints import convert, joint_index, joint_names

# The shared CMU data, found like tests/media.py finds the media: $VIBE_TEST_MOCAP, else
# ../shared/mocap beside the repo, else the project machines' copy.
_CANDIDATES = [os.environ.get("VIBE_TEST_MOCAP"), Path(__file__).resolve().parents[2] / "shared" / "mocap",
               "/work/shared/mocap"]
MOCAP_DIR = next((Path(p) for p in _CANDIDATES if p and (Path(p) / "cmu_asfamc").is_dir()), None)
needs_mocap = pytest.mark.skipif(MOCAP_DIR is None, reason="shared/mocap (CMU data) not found")

CMU_UNIT_M = 0.0254 / 0.45  # CMU's ASF length unit in metres (shared/mocap README)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# Rotations: against scipy (an independent implementation)


@pytest.mark.parametrize("axes", ["XYZ", "ZXY", "ZYX", "YXZ", "XZY", "YZX", "Z", "XY"])
def test_euler_matrices_match_scipy(axes):
    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (20, len(axes)))
    np.testing.assert_allclose(fk.euler_matrices(angles, axes, intrinsic=True),
                               Rotation.from_euler(axes.upper(), angles).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(fk.euler_matrices(angles, axes, intrinsic=False),
                               Rotation.from_euler(axes.lower(), angles).as_matrix(), atol=1e-12)


def test_expmap_matrices_match_scipy_including_tiny_angles():
    rotvecs = np.random.default_rng(1).normal(size=(4, 6, 3))
    rotvecs[0, 0] = 0.0
    rotvecs[0, 1] = [1e-9, -2e-9, 0.0]
    rotvecs[0, 2] = [3e-5, 0.0, 4e-5]  # below fk.SMALL_ANGLE: the series branch
    expected = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(4, 6, 3, 3)
    np.testing.assert_allclose(fk.expmap_matrices(rotvecs), expected, atol=1e-14)


@pytest.mark.parametrize("root_rotation, first", [
    ([[0, 0, 0], [1, 2, 3], [1, 2, 3]], 1),  # a rest-pose frame before the take: skipped
    ([[0, -0.0, 0], [0, 0, 1e-9], [0, 0, 0]], 1),
    ([[0, 0, 0], [0, 0, 0], [1, 2, 3]], 0),  # a root that does not turn at first: kept
    ([[1, 0, 0], [0, 0, 0]], 0),
    ([[0, 0, 0]], 0),  # one frame: a skeleton's rest pose, kept
])
def test_first_motion_frame(root_rotation, first):
    assert common.first_motion_frame(np.array(root_rotation, dtype=float)) == first


# ---------------------------------------------------------------------------------------------
# BVH

# hip -> a -> b -> End Site. Frame 0 turns every joint; frame 1 is the rest pose moved to the origin.
CHAIN_BVH = """HIERARCHY
ROOT hip
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT a
  {
    OFFSET 0 10 0
    CHANNELS 2 Zrotation Xrotation
    JOINT b
    {
      OFFSET 0 0 5
      CHANNELS 1 Yrotation
      End Site
      {
        OFFSET 3 0 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 90 0 90 90 -90
0 0 0 0 0 0.5 0 0 0
"""


def test_bvh_chain_against_hand_computed_positions(tmp_path):
    motion = bvh.parse_bvh(_write(tmp_path / "chain.bvh", CHAIN_BVH))
    assert [j.name for j in motion.joints] == ["hip", "a", "b", "b_end"]
    assert motion.frame_time == 0.04
    points = bvh.bvh_points(motion)
    # Frame 0 by hand, column vectors. Root: Ry(90) maps x -> -z, z -> x.
    #   a = (1, 2, 3) + Ry90 (0, 10, 0) = (1, 12, 3).
    #   b = a + Ry90 Rz90 Rx90 (0, 0, 5): Rx90 -> (0, -5, 0), Rz90 -> (5, 0, 0), Ry90 -> (0, 0, -5)
    #     = (1, 12, -2). (Listed-order intrinsic: Z then X. The reverse, Rx90 Rz90, would give
    #     (0, -5, 0) and b = (1, 7, 3).)
    #   end = b + Ry90 Rz90 Rx90 Ry(-90) (3, 0, 0): Ry(-90) -> (0, 0, 3), Rx90 -> (0, -3, 0),
    #     Rz90 -> (3, 0, 0), Ry90 -> (0, 0, -3) = (1, 12, -5).
    np.testing.assert_allclose(points[0], [[1, 2, 3], [1, 12, 3], [1, 12, -2], [1, 12, -5]], atol=1e-12)
    # Frame 1: a root turn of 0.5 degree about x (a real frame, so frame 0 is kept) and offsets
    # summed: (0, 0, 0), (0, 10, 0), (0, 10, 5), (3, 10, 5), turned by Rx(0.5 deg).
    rest = np.array([[0, 0, 0], [0, 10, 0], [0, 10, 5], [3, 10, 5]], dtype=float)
    np.testing.assert_allclose(points[1], rest @ Rotation.from_euler("x", 0.5, degrees=True).as_matrix().T,
                               atol=1e-12)


def test_bvh_leading_rest_pose_frame_is_dropped(tmp_path):
    text = CHAIN_BVH.replace("Frames: 2", "Frames: 3").replace(
        "1 2 3 0 90 0", "5 5 5 0 0 0 0 0 0\n1 2 3 0 90 0")
    points = bvh.bvh_points(bvh.parse_bvh(_write(tmp_path / "rest_first.bvh", text)))
    assert len(points) == 2
    np.testing.assert_allclose(points[0, 3], [1, 12, -5], atol=1e-12)


def test_bvh_position_channels_replace_the_offset(tmp_path):
    text = CHAIN_BVH.replace("CHANNELS 2 Zrotation Xrotation", "CHANNELS 3 Xposition Yposition Zposition").replace(
        "1 2 3 0 90 0 90 90 -90", "0 0 0 0 90 0 7 8 9 0").replace("0 0 0 0 0 0.5 0 0 0", "0 0 0 0 0 0.5 0 10 0 0")
    points = bvh.bvh_points(bvh.parse_bvh(_write(tmp_path / "moving_joint.bvh", text)))
    np.testing.assert_allclose(points[0, 1], [9, 8, -7], atol=1e-12)  # Ry90 (7, 8, 9)


def test_bvh_skeleton_other_than_cmu_is_refused_in_one_line(tmp_path):
    with pytest.raises(InputError) as excinfo:
        read_mocap(_write(tmp_path / "chain.bvh", CHAIN_BVH))
    assert "has no 'abdomen'" in _one_line_error(excinfo)


@pytest.mark.parametrize("cut, match", [
    (lambda text: text[:text.index("JOINT b")], "no MOTION section"),
    (lambda text: text.replace("}\nMOTION", "MOTION"), "1 joint(s) not closed"),
    (lambda text: text.replace("Frames: 2", "Frames: 5"), "header says 5 frames, file has 2"),
    (lambda text: text.replace("0.5 0 0 0\n", "0.5\n"), "frame 2 has 6 values, the hierarchy has 9 channels"),
    (lambda text: text.replace("Frame Time: 0.04\n", ""), "Frame Time"),
    (lambda text: text.replace("0 0 0 0 0 0.5", "0 0 x 0 0 0.5"), "not a number"),
    (lambda text: text.replace("CHANNELS 1 Yrotation", "CHANNELS 1 Wrotation"), "bad CHANNELS"),
])
def test_bvh_malformed_files_give_one_line_input_errors(tmp_path, cut, match):
    path = _write(tmp_path / "bad.bvh", cut(CHAIN_BVH))
    with pytest.raises(InputError) as excinfo:
        bvh.parse_bvh(path)
    message = _one_line_error(excinfo)
    assert match in message and str(path) in message


# ---------------------------------------------------------------------------------------------
# ASF / AMC

CHAIN_ASF = """# a two-bone test skeleton
:version 1.10
:name test
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
   hand-made
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name upper
     direction 0 -1 0
     length 4.5
     axis 0 0 0 XYZ
    dof rx ry rz
    limits (-180.0 180.0)
           (-180.0 180.0)
           (-180.0 180.0)
  end
  begin
     id 2
     name lower
     direction 1 0 0
     length 2.25
     axis 0 0 90 XYZ
    dof rx
    limits (-180.0 180.0)
  end
:hierarchy
  begin
    root upper
    upper lower
  end
"""

CHAIN_AMC = """#!OML:ASF test.asf
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 90
upper 90 0 90
lower 90
2
root 0 0 0 0 0 0.5
upper 0 0 0
lower 0
"""


def _asf_chain(tmp_path, amc_text=CHAIN_AMC):
    skeleton = asfamc.parse_asf(_write(tmp_path / "test.asf", CHAIN_ASF))
    values, in_degrees = asfamc.parse_amc(_write(tmp_path / "test_01.amc", amc_text), skeleton)
    return skeleton, asfamc.asf_points(skeleton, values, in_degrees)


def test_asfamc_chain_against_hand_computed_positions(tmp_path):
    skeleton, points = _asf_chain(tmp_path)
    assert [b.name for b in skeleton.bones] == ["upper", "lower"] and skeleton.parents == [-1, 0]
    assert skeleton.length_unit == 0.45
    # Frame 0 by hand, column vectors; turns about fixed axes in the listed order (x, then y, then z).
    #   root at (1, 2, 3), G_root = Rz90 (x -> y, y -> -x).
    #   upper: M = Rz90 Rx90 (rx first). (0, -4.5, 0): Rx90 -> (0, 0, -4.5), Rz90 -> (0, 0, -4.5),
    #     G_root -> (0, 0, -4.5); end = (1, 2, -1.5). (z first, Rx90 Rz90, would end at (1, 6.5, 3).)
    #   lower: axis z 90 -> C = Rz90, L = C Rx90 C^-1 = a turn of 90 about C x = +y, i.e. Ry90.
    #     (2.25, 0, 0): Ry90 -> (0, 0, -2.25), Rx90 -> (0, 2.25, 0), Rz90 -> (-2.25, 0, 0),
    #     G_root -> (0, -2.25, 0); end = (1, -0.25, -1.5). (Without C it would end at (-1.25, 2, -1.5).)
    np.testing.assert_allclose(points[0], [[1, 2, 3], [1, 2, -1.5], [1, -0.25, -1.5]], atol=1e-12)
    # Frame 1: the rest pose (root, upper end (0, -4.5, 0), lower end (2.25, -4.5, 0)) turned 0.5
    # degree about z (RZ, the root order's last value).
    rest = np.array([[0, 0, 0], [0, -4.5, 0], [2.25, -4.5, 0]])
    np.testing.assert_allclose(points[1], rest @ Rotation.from_euler("z", 0.5, degrees=True).as_matrix().T,
                               atol=1e-12)


def test_asfamc_radians_and_unordered_frames(tmp_path):
    """:RADIANS and frames listing their bones in another order (the frame-by-frame parse)."""
    amc = CHAIN_AMC.replace(":DEGREES", ":RADIANS").replace("90", str(np.pi / 2)).replace("0.5", "0.1")
    amc = amc.replace("2\nroot 0 0 0 0 0 0.1\nupper 0 0 0\nlower 0", "2\nlower 0\nupper 0 0 0\nroot 0 0 0 0 0 0.1")
    _, points = _asf_chain(tmp_path, amc)
    np.testing.assert_allclose(points[0], [[1, 2, 3], [1, 2, -1.5], [1, -0.25, -1.5]], atol=1e-12)
    np.testing.assert_allclose(points[1, 2], Rotation.from_euler("z", 0.1).apply([2.25, -4.5, 0]), atol=1e-12)


@pytest.mark.parametrize("amc_text, match", [
    (CHAIN_AMC.replace("upper 0 0 0", "upper 0 0"), "frame 2: upper has 2 values, the skeleton needs 3"),
    (CHAIN_AMC.replace("lower 0\n", ""), "frame 2: lower has no line"),
    (CHAIN_AMC.replace("root 1 2 3 0 0 90", "root 1 2 3 0 0"), "frame 1: root has 5 values"),
    (CHAIN_AMC.replace("upper 90 0 90", "upper 90 zero 90"), "not a number"),
    (":FULLY-SPECIFIED\n:DEGREES\n", "no frames"),
])
def test_asfamc_malformed_motion_gives_one_line_input_errors(tmp_path, amc_text, match):
    skeleton = asfamc.parse_asf(_write(tmp_path / "test.asf", CHAIN_ASF))
    with pytest.raises(InputError) as excinfo:
        asfamc.parse_amc(_write(tmp_path / "test_01.amc", amc_text), skeleton)
    assert match in _one_line_error(excinfo)


@pytest.mark.parametrize("asf_text, match", [
    (CHAIN_ASF[:CHAIN_ASF.index(":hierarchy")], "no :hierarchy section"),
    (CHAIN_ASF.replace("  end\n  begin\n     id 2", "  begin\n     id 2", 1), "a bone has no 'end'"),
    (CHAIN_ASF.replace("upper lower", "upper lower hand"), "names bone 'hand'"),
    (CHAIN_ASF.replace("dof rx\n", "dof rx l\n"), "rotations rx ry rz only"),
])
def test_asf_malformed_skeleton_gives_one_line_input_errors(tmp_path, asf_text, match):
    with pytest.raises(InputError) as excinfo:
        asfamc.parse_asf(_write(tmp_path / "test.asf", asf_text))
    assert match in _one_line_error(excinfo)


def test_amc_finds_its_asf_beside_it_or_says_what_to_do(tmp_path):
    _write(tmp_path / "07" / "07.asf", CHAIN_ASF)
    assert asfamc.find_asf(tmp_path / "07" / "07_03.amc") == tmp_path / "07" / "07.asf"
    _write(tmp_path / "other" / "a.asf", CHAIN_ASF)
    _write(tmp_path / "other" / "b.asf", CHAIN_ASF)
    with pytest.raises(InputError, match="no single .asf skeleton beside it"):
        asfamc.find_asf(tmp_path / "other" / "07_03.amc")


# ---------------------------------------------------------------------------------------------
# expmap

# root -> n1 -> n2, with the set's README kinematics (row vectors).
CHAIN_SKELETON = '{"parents": [-1, 0, 1], "offsets": [[0, 0, 0], [0, 2, 0], [1, 1, 0]], "names": ["root", "n1", "n2"]}'


def _expmap_row(root_position, rotvecs):
    return ",".join(str(v) for v in [*root_position, *np.ravel(rotvecs)])


def test_expmap_chain_against_hand_computed_positions(tmp_path):
    half_pi = np.pi / 2
    rows = [_expmap_row([1, 2, 3], [[0, 0, half_pi], [half_pi, 0, 0], [0, 0, 0]]),
            _expmap_row([0, 0, 0], [[0.1, 0, 0], [0, 0, 0], [0, 0, 0]])]
    skeleton = expmap.parse_skeleton(_write(tmp_path / "set" / "skeleton.json", CHAIN_SKELETON))
    path = _write(tmp_path / "set" / "walk" / "w_1.txt", "\n".join(rows) + "\n")
    points = expmap.expmap_points(skeleton, expmap.parse_rows(path, 12))
    # Frame 0 by hand with row vectors: p_i = offset_i @ R_parent + p_parent, R_i = E(r_i) @ R_parent.
    #   R_0 = Rz90, p_0 = (1, 2, 3).
    #   p_1 = (0, 2, 0) @ Rz90 = Rz90^T (0, 2, 0) = Rz(-90) (0, 2, 0) = (2, 0, 0) -> (3, 2, 3).
    #   R_1 = Rx90 Rz90; p_2 = (1, 1, 0) @ R_1 = Rz(-90) Rx(-90) (1, 1, 0) = Rz(-90) (1, 0, -1)
    #     = (0, -1, -1) -> (3, 1, 2).
    np.testing.assert_allclose(points[0], [[1, 2, 3], [3, 2, 3], [3, 1, 2]], atol=1e-12)
    # Frame 1: root turned by E(0.1 x); p = offsets summed, each @ R_0 = Rx(0.1)^T applied.
    rest = np.array([[0, 0, 0], [0, 2, 0], [1, 3, 0]], dtype=float)
    np.testing.assert_allclose(points[1], rest @ Rotation.from_rotvec([0.1, 0, 0]).as_matrix(), atol=1e-12)


@pytest.mark.parametrize("rows, match", [
    (["1,2,3," + ",".join(["0"] * 9), "1,2,3," + ",".join(["0"] * 8)], "row 2 has 11 values, the skeleton needs 12"),
    (["1,2,3," + ",".join(["0"] * 8) + ",x"], "not a number"),
    ([], "no rows"),
])
def test_expmap_malformed_rows_give_one_line_input_errors(tmp_path, rows, match):
    path = _write(tmp_path / "bad.txt", "\n".join(rows) + "\n")
    with pytest.raises(InputError) as excinfo:
        expmap.parse_rows(path, 12)
    assert match in _one_line_error(excinfo)


def test_expmap_needs_a_skeleton_above_it(tmp_path):
    with pytest.raises(InputError, match="no skeleton.json in its folder or any folder above it"):
        read_mocap(_write(tmp_path / "lonely.txt", "1,2,3\n"))
    _write(tmp_path / "set" / "skeleton.json", '{"parents": [0], "offsets": [[0, 0, 0]], "names": ["root"]}')
    with pytest.raises(InputError, match="disagree, or a parent does not precede"):
        read_mocap(_write(tmp_path / "set" / "a" / "b.txt", "1,2,3,0,0,0\n"))


# ---------------------------------------------------------------------------------------------
# The entry points


def test_find_mocap_files_mixes_formats_and_skips_motionless_bvh(tmp_path):
    _write(tmp_path / "b" / "take.bvh", CHAIN_BVH)
    one_frame = CHAIN_BVH.replace("Frames: 2", "Frames: 1").replace("0 0 0 0 0 0.5 0 0 0\n", "")
    _write(tmp_path / "b" / "standard.bvh", one_frame)
    _write(tmp_path / "a" / "01" / "01_01.amc", CHAIN_AMC)
    _write(tmp_path / "e" / "skeleton.json", CHAIN_SKELETON)
    _write(tmp_path / "e" / "train" / "walk" / "walk_1.txt", "0\n")
    _write(tmp_path / "notes" / "readme.txt", "not motion\n")
    found = find_mocap_files(tmp_path)
    assert found == [tmp_path / "a" / "01" / "01_01.amc", tmp_path / "b" / "take.bvh",
                     tmp_path / "e" / "train" / "walk" / "walk_1.txt"]
    assert len(bvh.bvh_points(bvh.parse_bvh(tmp_path / "b" / "standard.bvh"))) == 1  # still readable
    with pytest.raises(InputError, match="motion folder .* not found"):
        find_mocap_files(tmp_path / "missing")


def test_read_mocap_refuses_unknown_files(tmp_path):
    with pytest.raises(InputError, match="not a motion file this reader knows"):
        read_mocap(_write(tmp_path / "x.c3d", "data"))
    with pytest.raises(InputError, match="not found"):
        read_mocap(tmp_path / "missing.bvh")


@pytest.mark.parametrize("module", [bvh, asfamc, expmap])
def test_each_reader_names_every_point_of_its_convention(module):
    assert sorted(module.POINTS) == sorted(joint_names(module.CONVENTION))
    assert len(set(module.POINTS.values())) == len(module.POINTS)  # one native point per name


# ---------------------------------------------------------------------------------------------
# The shared CMU data


def _point(sequence: MocapSequence, name: str) -> np.ndarray:
    return sequence.positions[:, joint_index(sequence.convention, name)]


def _facing_agrees(sequence: MocapSequence, left: str = "left", right: str = "right") -> float:
    """Fraction of frames whose feet point where (left hip - right hip) x up says the body faces
    (y up, right-handed: a subject facing +z has its left on +x). Swapped labels give ~0."""
    forward = np.cross(_point(sequence, f"{left}_hip") - _point(sequence, f"{right}_hip"), [0.0, 1.0, 0.0])
    feet = sum(_point(sequence, f"{side}_foot") - _point(sequence, f"{side}_ankle") for side in ("left", "right"))
    return float(np.mean(np.sum(forward * feet, axis=-1) > 0))


@needs_mocap
@pytest.mark.parametrize("relative, convention, subject", [
    ("cmu_asfamc/02/02_01.amc", "cmu_asf31", "cmu02"),
    ("cmu_bvh/salsa/01.bvh", "cmu_bvh25", "bvh_salsa_a"),
    ("cmu_bvh/salsa/16.bvh", "cmu_bvh25", "bvh_salsa_b"),
    ("cmu_bvh/martial/03.bvh", "cmu_bvh25", "bvh/martial/03"),
    ("cmu_expmap/train/walking/walking_1.txt", "cmu_expmap28", "cmu02"),
    ("cmu_expmap/test/walking/walking_1.txt", "cmu_expmap28", "expmap/test/walking/walking_1"),
])
def test_real_files_read_with_left_on_the_subjects_left(relative, convention, subject):
    sequence = read_mocap(MOCAP_DIR / relative)
    assert sequence.convention == convention and sequence.subject == subject
    assert sequence.positions.dtype == np.float32 and sequence.positions.shape[1:] == (len(joint_names(convention)), 3)
    assert sequence.fps == pytest.approx(30.0, abs=1e-3)
    assert _facing_agrees(sequence) > 0.95
    assert _facing_agrees(sequence, left="right", right="left") < 0.05  # the check tells the sides apart
    assert np.all(np.isfinite(sequence.positions))


@needs_mocap
def test_asf_left_bones_point_to_plus_x_and_feet_to_plus_z():
    skeleton = asfamc.parse_asf(MOCAP_DIR / "cmu_asfamc" / "02" / "02.asf")
    bones = {bone.name: bone for bone in skeleton.bones}
    assert bones["lfemur"].direction[0] > 0 > bones["rfemur"].direction[0]
    assert bones["lfoot"].direction[2] > 0 and bones["rfoot"].direction[2] > 0  # toes forward: facing +z


@needs_mocap
def test_walking_is_human_and_the_legs_alternate():
    """02_01 (a walk): bones rigid, README's plausibility numbers, left and right ankles take turns."""
    walk = read_mocap(MOCAP_DIR / "cmu_asfamc" / "02" / "02_01.amc")
    shin = np.linalg.norm(_point(walk, "left_knee") - _point(walk, "left_ankle"), axis=-1)
    np.testing.assert_allclose(shin, 7.28717 * CMU_UNIT_M, atol=1e-5)  # ltibia length in 02.asf
    root = _point(walk, "cmu_root")
    speed = np.median(np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=-1)) * walk.fps
    assert 1.0 < speed < 1.3  # README: 1.15 m/s
    ankles = (_point(walk, "left_ankle") + _point(walk, "right_ankle")) / 2
    assert 0.8 < np.median(root[:, 1] - ankles[:, 1]) < 0.9
    direction = (root[-1] - root[0])[[0, 2]] / np.linalg.norm((root[-1] - root[0])[[0, 2]])
    lead = (_point(walk, "left_ankle") - _point(walk, "right_ankle"))[:, [0, 2]] @ direction
    assert np.sum(np.diff(np.sign(lead)) != 0) >= 4  # about two strides in 2.9 s


@needs_mocap
def test_expmap_walking_1_is_amc_02_01_with_a_short_trunk():
    """The same take in both formats (expmap rows sampled a quarter frame later): the lower body
    agrees to millimetres, everything above the thorax sits one thorax bone (11.7 cm) off."""
    amc = read_mocap(MOCAP_DIR / "cmu_asfamc" / "02" / "02_01.amc")
    exp = read_mocap(MOCAP_DIR / "cmu_expmap" / "train" / "walking" / "walking_1.txt")
    asf_as_expmap = convert(amc.positions, amc.convention, exp.convention)
    at_expmap_times = 0.25 * asf_as_expmap[:-1] + 0.75 * asf_as_expmap[1:]
    error = np.linalg.norm(at_expmap_times[:len(exp.positions)] - exp.positions, axis=-1).mean(axis=0)
    names = joint_names(exp.convention)
    lower = [names.index(n) for n in ("cmu_root", "left_hip", "left_knee", "left_ankle", "right_toe",
                                      "cmu_lowerback_end", "cmu_upperback_end")]
    assert error[lower].max() < 0.01
    thorax = 2.06807 * CMU_UNIT_M  # 02.asf's thorax bone, missing from skeleton.json
    assert error[names.index("left_shoulder")] == pytest.approx(thorax, abs=0.005)


# skeleton.json nodes whose offset is not the vector of the ASF bone named by their parent node:
# the children of the thorax and of the wrists, those bones having zero length there.
EXPMAP_ZERO_OFFSETS = ("lowerneck", "lclavicle", "rclavicle", "lhand", "lthumb", "rhand", "rthumb")


@needs_mocap
def test_expmap_skeleton_is_the_asf_of_subject_02_less_three_bones():
    skeleton = expmap.parse_skeleton(MOCAP_DIR / "cmu_expmap" / "skeleton.json")
    asf = asfamc.parse_asf(MOCAP_DIR / "cmu_asfamc" / "02" / "02.asf")
    vectors = {bone.name: bone.length * bone.direction for bone in asf.bones} | {None: np.zeros(3)}
    for name, parent, offset in zip(skeleton.names, skeleton.parents, skeleton.offsets):
        if parent > 0:  # the root's children start at the root: offset 0, as the ASF
            bone = None if name in EXPMAP_ZERO_OFFSETS else skeleton.names[parent]
            np.testing.assert_allclose(offset, vectors[bone], atol=1e-4, err_msg=name)
        else:
            assert not offset.any()
    assert vectors["thorax"][1] > 2.0 and vectors["lwrist"][0] > 1.6  # the bones the set left out


@needs_mocap
def test_bvh_unit_gives_a_human_sized_skeleton():
    rest = read_mocap(MOCAP_DIR / "cmu_bvh" / "standard.bvh")  # one frame: the skeleton at rest
    assert rest.num_frames == 1
    assert _point(rest, "pelvis")[0, 1] == pytest.approx(0.852, abs=0.005)
    leg = _point(rest, "left_hip")[0, 1] - _point(rest, "left_foot")[0, 1]
    assert 0.8 < leg < 0.9
    assert 1.45 < _point(rest, "left_eye")[0, 1] < 1.65


@needs_mocap
def test_find_mocap_files_on_the_shared_data():
    found = find_mocap_files(MOCAP_DIR)
    assert {p.suffix for p in found} == {".bvh", ".amc", ".txt"}
    assert MOCAP_DIR / "cmu_bvh" / "standard.bvh" not in found and MOCAP_DIR / "README.md" not in found
    assert all(p.is_relative_to(MOCAP_DIR / "cmu_expmap") for p in found if p.suffix == ".txt")
    assert found == sorted(found)
