"""Acclaim ASF skeleton + AMC motion reader, forward kinematics to convention "cmu_asf31".

Kinematics (the Acclaim definition as CMU's own viewer reads it): a bone's `axis a b c XYZ`
gives its frame C = turns a, b, c about the fixed x, y, z axes in the listed order; its AMC
values, in `dof` order, give M = turns about the fixed axes in that order (degrees unless the
AMC says :RADIANS or the ASF `angle rad`). The bone's world rotation is G = G_parent @ C M C^-1
and it ends at end_parent + G @ (length * direction): a bone's own rotation turns the bone
itself. The root moves by its AMC values in the `:root order` (TX TY TZ = position, RX RY RZ =
turns about the fixed axes in that order) plus the ASF's preset `position`.

Units: lengths and the root position are in the ASF's unit: CMU's files count inches times the
`:units length` (0.45), so metres = value / length * 0.0254 (0.05644 m per unit for CMU).

Points: the root, then every bone's END point, named by the joint it is: `lhipjoint` ends at the
left hip joint, `lfemur` at the knee, `ltibia` at the ankle, `lfoot` at the ball of the foot
("left_foot"), `ltoes` at the toe tip ("left_toe"), `lclavicle` at the shoulder, `lhumerus` at
the elbow, `lradius` at the wrist. The root (for subject 02 10 cm above and 3.5 cm behind the hip
joints' midpoint, not the annotated pelvis) and the spine, neck, head and hand bone ends have no shared
name: "cmu_root" and "cmu_<bone>_end". Left is the subject's left: `lfemur` points to +x while
`lfoot` points to +z (y up, the subject faces +z), checked on the data by the tests.

Subject: the ASF's file stem ("02.asf" -> "cmu02", CMU's subject number).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vibe.data.mocap import common, fk
from vibe.data.mocap.types import MocapSequence
from vibe.errors import InputError

CONVENTION = "cmu_asf31"
ASF_LOCAL_UNIT_M = 0.0254  # CMU's ASF lengths are inches times `:units length`
AMC_FPS = 30.0  # AMC files carry no rate; shared/mocap resampled CMU's 120 fps takes to 30
ROOT = "root"
_COMMENT = re.compile(r"#[^\n]*")
_KEYWORD_LINE = re.compile(r"^[ \t]*:(\S*).*$", re.MULTILINE)  # ":DEGREES", ":FULLY-SPECIFIED", ...
_ROTATION_DOFS = ("rx", "ry", "rz")
_TRANSLATION_TOKENS = ("tx", "ty", "tz")

_SHARED = {  # limb bone -> the joint its end point is, where that joint has a shared name
    "hipjoint": "hip", "femur": "knee", "tibia": "ankle", "foot": "foot", "toes": "toe",
    "clavicle": "shoulder", "humerus": "elbow", "radius": "wrist",
}
_SPINE = ("lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head")
_LIMBS = ("hipjoint", "femur", "tibia", "foot", "toes", "clavicle", "humerus", "radius", "wrist", "hand", "fingers",
          "thumb")
_SIDES = {"l": "left", "r": "right"}

# Output point -> native point (ROOT, or the bone whose end it is).
POINTS = {"cmu_root": ROOT} | {f"cmu_{bone}_end": bone for bone in _SPINE} | {
    (f"{side}_{_SHARED[part]}" if part in _SHARED else f"cmu_{prefix}{part}_end"): prefix + part
    for prefix, side in _SIDES.items() for part in _LIMBS
}


@dataclass
class AsfBone:
    """One ASF bone: unit `direction` (world, rest pose), `length`, frame angles `axis` (radians)
    with their `axis_order` (e.g. "XYZ"), and the AMC `dof` order (e.g. ["rx", "ry", "rz"])."""

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str
    dof: list[str]


@dataclass
class AsfSkeleton:
    """A parsed ASF: bones in topological order with parent indices (-1 = the root)."""

    bones: list[AsfBone]
    parents: list[int]
    root_order: list[str]
    root_position: np.ndarray
    length_unit: float
    angles_in_degrees: bool


def read_asfamc(amc_path: str | Path, asf_path: str | Path | None = None, fps: float = AMC_FPS) -> MocapSequence:
    """An .amc file (+ its .asf: given, or `<subject>.asf` beside it) -> MocapSequence in metres."""
    amc_path = Path(amc_path)
    asf_path = Path(asf_path) if asf_path is not None else find_asf(amc_path)
    skeleton = parse_asf(asf_path)
    values, in_degrees = parse_amc(amc_path, skeleton)
    points = asf_points(skeleton, values, in_degrees) * (ASF_LOCAL_UNIT_M / skeleton.length_unit)
    native = [ROOT] + [bone.name for bone in skeleton.bones]
    return MocapSequence(name=f"asfamc/{amc_path.parent.name}/{amc_path.stem}", subject=f"cmu{asf_path.stem}",
                         source_format="asfamc", fps=fps, convention=CONVENTION,
                         positions=common.select_points(points, native, POINTS, CONVENTION, str(amc_path)))


def find_asf(amc_path: Path) -> Path:
    """The skeleton of `amc_path`: `<subject>.asf` beside it (02_01.amc -> 02.asf), else the only .asf there."""
    named = amc_path.with_name(amc_path.stem.split("_")[0] + ".asf")
    if named.is_file():
        return named
    candidates = sorted(amc_path.parent.glob("*.asf"))
    if len(candidates) != 1:
        raise InputError(f"{amc_path}: no single .asf skeleton beside it ({len(candidates)} found); "
                         f"pass the skeleton's path")
    return candidates[0]


def asf_points(skeleton: AsfSkeleton, values: dict[str, np.ndarray], in_degrees: bool) -> np.ndarray:
    """Forward kinematics: (T, 1 + B, 3) positions in ASF units of the root and every bone's end.

    values: the AMC's (T, k) columns per bone in `dof` order, and for ROOT in `root_order`.
    A leading rest-pose frame is left out (common.first_motion_frame).
    """
    to_radians = np.radians if in_degrees else np.asarray
    root_values = values[ROOT]
    rotation_columns = [i for i, t in enumerate(skeleton.root_order) if t.lower() in _ROTATION_DOFS]
    start = common.first_motion_frame(root_values[:, rotation_columns])
    num_frames = len(root_values) - start
    local = np.empty((num_frames, 1 + len(skeleton.bones), 3, 3))
    root_axes = "".join(skeleton.root_order[i][1] for i in rotation_columns)
    local[:, 0] = fk.euler_matrices(to_radians(root_values[start:, rotation_columns]), root_axes, intrinsic=False)
    for index, bone in enumerate(skeleton.bones, start=1):
        axis_frame = fk.euler_matrices(bone.axis[None], bone.axis_order, intrinsic=False)[0]
        turns = to_radians(values[bone.name][start:]) if bone.dof else np.zeros((num_frames, 0))
        motion = fk.euler_matrices(turns, "".join(d[1] for d in bone.dof), intrinsic=False)
        local[:, index] = axis_frame @ motion @ axis_frame.T
    parents = np.array([-1] + [p + 1 for p in skeleton.parents])
    world = fk.chain_rotations(parents, local)
    vectors = np.stack([np.zeros(3)] + [b.length * b.direction for b in skeleton.bones])
    root = skeleton.root_position + _root_translation(skeleton.root_order, root_values[start:])
    return fk.chain_points(parents, root, fk.rotate(world, vectors))


def _root_translation(order: list[str], root_values: np.ndarray) -> np.ndarray:
    """(T, 3) root position from the AMC root columns named by `order` (missing axes stay 0)."""
    translation = np.zeros((len(root_values), 3))
    for column, token in enumerate(order):
        if token.lower() in _TRANSLATION_TOKENS:
            translation[:, _TRANSLATION_TOKENS.index(token.lower())] = root_values[:, column]
    return translation


# ---------------------------------------------------------------------------------------------
# ASF


def parse_asf(path: Path) -> AsfSkeleton:
    """Read an .asf file; InputError with one line for anything malformed."""
    sections = _sections(_read_lines(path))
    for required in ("root", "bonedata", "hierarchy"):
        if required not in sections:
            raise InputError(f"{path}: no :{required} section (not an ASF skeleton, or truncated)")
    units = dict(_key_values(sections.get("units", [])))
    root = dict(_key_values(sections["root"]))
    try:
        length_unit = float(units.get("length", ["1"])[0])
        in_degrees = units.get("angle", ["deg"])[0].lower().startswith("deg")
        position = np.array(root.get("position", ["0", "0", "0"]), dtype=np.float64)
        orientation = np.array(root.get("orientation", ["0", "0", "0"]), dtype=np.float64)
    except (ValueError, IndexError):
        raise InputError(f"{path}: malformed :units or :root section") from None
    order = root.get("order", [])
    if np.any(orientation != 0) or position.shape != (3,) or length_unit <= 0 \
            or any(t.lower() not in _ROTATION_DOFS + _TRANSLATION_TOKENS for t in order):
        raise InputError(f"{path}: unsupported :root (order of TX..RZ, preset orientation 0) or :units length")
    bones = {bone.name: bone for bone in _parse_bones(sections["bonedata"], in_degrees, path)}
    ordered, parents = _topological(bones, _children(sections["hierarchy"]), path)
    return AsfSkeleton(bones=ordered, parents=parents, root_order=order, root_position=position,
                       length_unit=length_unit, angles_in_degrees=in_degrees)


def _read_lines(path: Path) -> list[str]:
    """The file's lines without comments and blank lines."""
    lines = (line.strip() for line in _COMMENT.sub("", common.read_text(path)).splitlines())
    return [line for line in lines if line]


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """':keyword' sections -> their lines (the keyword line's own remainder first when it has one)."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in lines:
        if line.startswith(":"):
            keyword, _, rest = line[1:].partition(" ")
            current = sections.setdefault(keyword.lower(), [])
            if rest.strip():
                current.append(rest.strip())
        else:
            current.append(line)
    return sections


def _key_values(lines: list[str]) -> list[tuple[str, list[str]]]:
    """'key v1 v2 ...' lines -> (key, [v1, v2, ...]); parentheses and commas are whitespace."""
    token_lists = (line.replace("(", " ").replace(")", " ").replace(",", " ").split() for line in lines)
    return [(tokens[0].lower(), tokens[1:]) for tokens in token_lists if tokens]


def _parse_bones(lines: list[str], in_degrees: bool, path: Path) -> list[AsfBone]:
    """:bonedata lines -> bones (begin ... end blocks)."""
    bones, block = [], None
    for line in lines:
        if line == "begin":
            if block is not None:
                raise InputError(f"{path}: :bonedata is malformed (a bone has no 'end')")
            block = []
        elif line == "end":
            if block is None:
                raise InputError(f"{path}: 'end' without 'begin' in :bonedata")
            bones.append(_parse_bone(dict(_key_values(block)), in_degrees, path))
            block = None
        elif block is not None:
            block.append(line)
    if block is not None:
        raise InputError(f"{path}: :bonedata is truncated (a bone has no 'end')")
    return bones


def _parse_bone(fields: dict[str, list[str]], in_degrees: bool, path: Path) -> AsfBone:
    name = fields.get("name", ["?"])[0]
    try:
        direction = np.array(fields["direction"], dtype=np.float64)
        length = float(fields["length"][0])
        axis, axis_order = np.array(fields["axis"][:3], dtype=np.float64), fields["axis"][3].upper()
    except (KeyError, ValueError, IndexError):
        raise InputError(f"{path}: bone {name!r} needs direction (3), length and axis (3 + order)") from None
    dof = [d.lower() for d in fields.get("dof", [])]
    if direction.shape != (3,) or sorted(axis_order) != ["X", "Y", "Z"] or any(d not in _ROTATION_DOFS for d in dof):
        raise InputError(f"{path}: bone {name!r} has an unsupported direction, axis order or dof "
                         f"(rotations rx ry rz only)")
    norm = np.linalg.norm(direction)
    return AsfBone(name=name, direction=direction / norm if norm > 0 else direction, length=length,
                   axis=np.radians(axis) if in_degrees else axis, axis_order=axis_order, dof=dof)


def _children(lines: list[str]) -> dict[str, list[str]]:
    """:hierarchy lines ('parent child child ...' between begin and end) -> children per parent."""
    children: dict[str, list[str]] = {}
    for line in lines:
        tokens = line.split()
        if tokens[0] not in ("begin", "end"):
            children.setdefault(tokens[0], []).extend(tokens[1:])
    return children


def _topological(bones: dict[str, AsfBone], children: dict[str, list[str]], path: Path):
    """Bones depth-first from the root, and each one's parent index in that list (-1 = root)."""
    ordered: list[AsfBone] = []
    parents: list[int] = []
    stack = [(child, -1) for child in reversed(children.get(ROOT, []))]
    while stack:
        name, parent = stack.pop()
        if name not in bones:
            raise InputError(f"{path}: :hierarchy names bone {name!r}, which :bonedata does not define")
        ordered.append(bones[name])
        parents.append(parent)
        stack.extend((child, len(ordered) - 1) for child in reversed(children.get(name, [])))
    if len(ordered) != len(bones):
        raise InputError(f"{path}: :hierarchy does not reach every bone from the root")
    return ordered, parents


# ---------------------------------------------------------------------------------------------
# AMC


def parse_amc(path: Path, skeleton: AsfSkeleton) -> tuple[dict[str, np.ndarray], bool]:
    """Read an .amc file -> ((T, k) values per bone in dof order and for ROOT, angles in degrees?).

    Every frame must give every bone with dofs exactly its dof count (the root: its order's
    length); anything else is an InputError naming the frame. Files whose frames all list the
    same lines in the same order (every CMU file) are parsed as one table, others frame by frame.
    """
    text = _COMMENT.sub("", common.read_text(path))
    in_degrees = skeleton.angles_in_degrees
    for keyword in _KEYWORD_LINE.findall(text):
        in_degrees = {"DEGREES": True, "RADIANS": False}.get(keyword.upper(), in_degrees)
    body = _KEYWORD_LINE.sub("", text)
    expected = {ROOT: len(skeleton.root_order)} | {b.name: len(b.dof) for b in skeleton.bones if b.dof}
    columns = _columns_fixed_layout(body, expected)
    if columns is None:
        columns = _columns_by_frame([line.strip() for line in body.splitlines() if line.strip()], expected, path)
    return columns, in_degrees


def _columns_fixed_layout(body: str, expected: dict[str, int]) -> dict[str, np.ndarray] | None:
    """Parse all frames as one (T, width) token table laid out like the first frame; None when
    any frame differs (another line order, a missing or short line, a non-number)."""
    layout = _first_frame_layout(body)
    width = 1 + sum(1 + count for _, count in layout)
    tokens = body.split()
    if not layout or len(tokens) % width:
        return None
    table = np.array(tokens, dtype=object).reshape(-1, width)
    columns, column = {}, 1
    for name, count in layout:
        if np.any(table[:, column] != name):
            return None
        if name in expected:
            columns[name] = table[:, column + 1:column + 1 + count]
        column += 1 + count
    if columns.keys() != expected.keys() or any(columns[n].shape[1] != c for n, c in expected.items()):
        return None
    try:
        return {name: np.array(values, dtype=np.float64) for name, values in columns.items()}
    except ValueError:
        return None


def _first_frame_layout(body: str) -> list[tuple[str, int]]:
    """(bone, value count) of each line of the first frame ([] when the body does not start with one)."""
    lines = (line.split() for line in body.splitlines() if line.strip())
    first = next(lines, [])
    if len(first) != 1 or not first[0].isdigit():
        return []
    layout = []
    for tokens in lines:
        if len(tokens) == 1 and tokens[0].isdigit():
            break
        layout.append((tokens[0], len(tokens) - 1))
    return layout


def _columns_by_frame(body: list[str], expected: dict[str, int], path: Path) -> dict[str, np.ndarray]:
    """Frame-by-frame parse (any line order); InputError naming the first bad frame."""
    frames: list[tuple[str, dict[str, list[str]]]] = []
    for line in body:
        if line.isdigit():
            frames.append((line, {}))
        elif not frames:
            raise InputError(f"{path}: bone values before the first frame number")
        else:
            name, *numbers = line.split()
            frames[-1][1][name] = numbers
    if not frames:
        raise InputError(f"{path}: no frames (not an AMC file, or empty)")
    return {name: _column(frames, name, count, path) for name, count in expected.items()}


def _column(frames: list[tuple[str, dict[str, list[str]]]], bone: str, count: int, path: Path) -> np.ndarray:
    """(T, count) values of `bone` over all frames."""
    rows = []
    for number, values in frames:
        row = values.get(bone)
        if row is None or len(row) != count:
            found = "no line" if row is None else f"{len(row)} values"
            raise InputError(f"{path}: frame {number}: {bone} has {found}, the skeleton needs {count}")
        rows.append(row)
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise InputError(f"{path}: {bone} has a value that is not a number") from None
