"""3DPW raw release -> 3dpw_{train,val}_db.pt: a tiny release in the real layout (python-2 style
pickles, imageFiles JPEGs), checked against independent computations: kept frames, square boxes
around the visible joints, 18 -> common14 by index, the root rotated into the camera frame
(scipy), joints from the body model, ResNet-50 features of hand-cut crops."""
import pickle

import cv2
import joblib
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from test_models_checkpoints import HEAD, random_state, resnet50_table
from vibe.config import get_cfg_defaults
from vibe.data.preprocess.features import FeatureExtractor, load_feature_extractor
from vibe.data.preprocess.threedpw import preprocess_3dpw
from vibe.data.vibe_db import open_dataset
from vibe.errors import InputError
from vibe.models import load_spin_backbone

FRAMES, WIDTH, HEIGHT = 5, 120, 96
# common14 (LSP order) from 3DPW's 18 joints, written out: r ankle 10, r knee 9, r hip 8, l hip 11,
# l knee 12, l ankle 13, r wrist 4, r elbow 3, r shoulder 2, l shoulder 5, l elbow 6, l wrist 7.
COMMON_FROM_3DPW = [10, 9, 8, 11, 12, 13, 4, 3, 2, 5, 6, 7]
H36M_TO_COMMON14 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]  # SPEC section 3
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def he_spin_state(seed: int) -> dict:
    """SPIN's layout with He-scaled random convolutions and unit batch-norm statistics, so features
    depend on the crop (random_state's small weights give the same features for every crop)."""
    gen = torch.Generator().manual_seed(seed)
    state = random_state({**resnet50_table(), **HEAD}, seed)
    for key, shape in resnet50_table().items():
        if len(shape) == 4:
            state[key] = torch.randn(shape, generator=gen) * (2.0 / np.prod(shape[1:])) ** 0.5
        elif key.endswith(("running_mean", ".bias")):
            state[key] = torch.zeros(shape)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        elif key.endswith(".weight"):  # residual branches damped so activations stay moderate
            state[key] = torch.full(shape, 0.5 if ("bn3" in key or "downsample" in key) else 1.0)
    return state


@pytest.fixture(scope="session")
def spin_checkpoint(tmp_path_factory):
    """A SPIN checkpoint in the exact layout with random weights."""
    path = tmp_path_factory.mktemp("spin") / "spin_model_checkpoint.pth.tar"
    torch.save({"model": he_spin_state(seed=7)}, path)
    return path


@pytest.fixture(scope="session")
def extractor(spin_checkpoint):
    torch.set_num_threads(2)
    return load_feature_extractor(spin_checkpoint, get_cfg_defaults(), device="cpu")


def person_2d(rng, hidden: dict[int, list[int]]) -> np.ndarray:
    """(FRAMES, 3, 18) 3DPW poses2d: joints inside the image, confidence 0.9 except `hidden` (frame -> joints)."""
    xy = np.stack([rng.uniform(20, WIDTH - 20, (FRAMES, 18)), rng.uniform(15, HEIGHT - 15, (FRAMES, 18))], axis=1)
    conf = np.full((FRAMES, 1, 18), 0.9)
    for frame, joints in hidden.items():
        conf[frame, 0, joints] = 0.1
        xy[frame, :, joints] = 0.0  # 3DPW stores undetected joints at the origin
    return np.concatenate([xy, conf], axis=1)


def write_sequence(src, split_dir: str, name: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    cam = np.tile(np.eye(4), (FRAMES, 1, 1))
    cam[:, :3, :3] = Rotation.random(FRAMES, random_state=seed).as_matrix()
    cam[:, :3, 3] = rng.normal(size=(FRAMES, 3))
    data = {
        "sequence": name, "genders": ["m", "f"], "img_frame_ids": np.arange(FRAMES),
        "poses": [rng.normal(scale=0.3, size=(FRAMES, 72)) for _ in range(2)],
        "betas": [rng.normal(size=10), rng.normal(size=300)],
        "trans": [rng.normal(size=(FRAMES, 3)) for _ in range(2)],
        "jointPositions": [rng.normal(size=(FRAMES, 72)) for _ in range(2)],
        "poses2d": [person_2d(rng, {}), person_2d(rng, {3: list(range(13)), 4: [0, 14, 15, 16, 17]})],
        "campose_valid": [np.array([1, 0, 1, 1, 1]), np.ones(FRAMES)],
        "cam_poses": cam, "cam_intrinsics": np.diag([100.0, 100.0, 1.0]),
    }
    folder = src / "sequenceFiles" / split_dir
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.pkl", "wb") as handle:
        pickle.dump(data, handle, protocol=2)  # the protocol python 2 wrote
    images = src / "imageFiles" / name
    images.mkdir(parents=True, exist_ok=True)
    for frame in range(FRAMES):
        cv2.imwrite(str(images / f"image_{frame:05d}.jpg"), rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    return data


@pytest.fixture
def release(tmp_path):
    src = tmp_path / "3dpw"
    return src, {"train": write_sequence(src, "train", "courtyard_a", 1), "val": write_sequence(src, "validation", "walk_b", 2)}


# Person 0 loses frame 1 (invalid camera pose); person 1 loses frame 3 (5 visible joints, 0 of them
# among the common 12) and keeps frame 4 (13 visible, the 12 common ones among them).
KEPT = {0: [0, 2, 3, 4], 1: [0, 1, 2, 4]}


def expected_box(points18: np.ndarray) -> np.ndarray:
    visible = points18[points18[:, 2] > 0.3, :2]
    low, high = visible.min(axis=0), visible.max(axis=0)
    side = 1.1 * max(high - low)
    return np.array([*(low + high) / 2, side, side])


def hand_cut_features(spin_checkpoint, image_paths, boxes) -> np.ndarray:
    """Crops cut with a hand-built affine (side = 1.2 x box side, 224 px), normalised, through the unfused backbone."""
    crops = []
    for path, (cx, cy, _, side) in zip(image_paths, boxes):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        k = 224 / (1.2 * side)
        affine = np.array([[k, 0, 112 - k * cx], [0, k, 112 - k * cy]])
        crop = cv2.warpAffine(image, affine, (224, 224), flags=cv2.INTER_LINEAR, borderValue=0)
        crops.append(((crop / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    backbone = load_spin_backbone(spin_checkpoint, device="cpu")
    with torch.no_grad():
        return backbone(torch.tensor(np.stack(crops), dtype=torch.float32)).numpy()


def test_train_and_val_files(release, tmp_path, extractor, spin_checkpoint, tiny_body_model):
    src, raw = release
    out = tmp_path / "db"
    train = joblib.load(preprocess_3dpw(src, out, "train", extractor, tiny_body_model))
    data = raw["train"]
    assert train["vid_name"].tolist() == ["courtyard_a_0"] * 4 + ["courtyard_a_1"] * 4
    assert train["frame_id"].tolist() == KEPT[0] + KEPT[1]
    rows = [(person, frame) for person in (0, 1) for frame in KEPT[person]]
    points = [data["poses2d"][p][f].T for p, f in rows]  # (18, 3) each
    np.testing.assert_allclose(train["bbox"], [expected_box(pts) for pts in points], rtol=1e-5)
    want_2d = np.zeros((len(rows), 14, 3))
    for row, pts in enumerate(points):
        want_2d[row, :12, :2] = pts[COMMON_FROM_3DPW, :2]
        want_2d[row, :12, 2] = pts[COMMON_FROM_3DPW, 2] > 0.3
    np.testing.assert_allclose(train["joints2D"], want_2d, rtol=1e-5)
    # Root into the camera frame: R_cam @ R_root, compared as rotation matrices.
    for row, (p, f) in enumerate(rows):
        want = data["cam_poses"][f][:3, :3] @ Rotation.from_rotvec(data["poses"][p][f, :3]).as_matrix()
        np.testing.assert_allclose(Rotation.from_rotvec(train["pose"][row, :3]).as_matrix(), want, atol=1e-5)
        np.testing.assert_allclose(train["pose"][row, 3:], data["poses"][p][f, 3:], rtol=1e-5)
        np.testing.assert_allclose(train["shape"][row], data["betas"][p][:10], rtol=1e-5)
    pose = torch.tensor(train["pose"])
    with torch.no_grad():
        body = tiny_body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=torch.tensor(train["shape"]))
    np.testing.assert_allclose(train["joints3D"], body.joints.numpy(), atol=1e-5)
    images = [src / "imageFiles/courtyard_a" / f"image_{f:05d}.jpg" for _, f in rows]
    want_features = hand_cut_features(spin_checkpoint, images, train["bbox"])
    scale = np.abs(want_features).max()
    np.testing.assert_allclose(train["features"] / scale, want_features / scale, atol=1e-4)
    assert train["features"].shape == (8, 2048) and train["img_name"][0] == "imageFiles/courtyard_a/image_00000.jpg"
    assert len(open_dataset("3dpw", out, "train", seqlen=4, overlap=0.0)) == 2

    val = joblib.load(preprocess_3dpw(src, out, "val", extractor, tiny_body_model))  # the "validation" folder
    assert set(val["vid_name"]) == {"walk_b_0", "walk_b_1"}
    pose, shape = torch.tensor(val["pose"]), torch.tensor(val["shape"])
    with torch.no_grad():
        verts = tiny_body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=shape).verts
        h36m = tiny_body_model.h36m_joints(verts).numpy()
    np.testing.assert_allclose(val["joints3D"], h36m[:, H36M_TO_COMMON14], atol=1e-5)
    dataset = open_dataset("3dpw", out, "val", seqlen=4, overlap=0.0)
    assert len(dataset) == 2 and dataset[0]["kp_3d"].shape == (4, 49, 3)


def test_bad_inputs_are_one_line_errors(release, tmp_path, extractor, tiny_body_model):
    src, _ = release
    (src / "imageFiles/courtyard_a/image_00002.jpg").unlink()
    with pytest.raises(InputError, match="image_00002.jpg is missing or unreadable") as err:
        preprocess_3dpw(src, tmp_path / "db", "train", extractor, tiny_body_model)
    assert "\n" not in str(err.value)
    (src / "sequenceFiles/validation/walk_b.pkl").write_bytes(b"\x80\x02garbage")
    with pytest.raises(InputError, match="walk_b.pkl is unreadable"):
        preprocess_3dpw(src, tmp_path / "db", "val", extractor, tiny_body_model)
    with open(src / "sequenceFiles/validation/walk_b.pkl", "wb") as handle:
        pickle.dump({"poses": []}, handle, protocol=2)
    with pytest.raises(InputError, match="lacks betas, poses2d"):
        preprocess_3dpw(src, tmp_path / "db", "val", extractor, tiny_body_model)
    with pytest.raises(InputError, match="no 3DPW sequence files"):
        preprocess_3dpw(tmp_path, tmp_path / "db", "test", extractor, tiny_body_model)
    assert not list((tmp_path / "db").glob("*.pt"))


def test_feature_batches_do_not_change_features(extractor):
    """Streaming in batches of 2 or 16 gives the same features (batching is an implementation detail)."""
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(3)]
    boxes = np.array([[60, 48, 50, 50], [30, 40, 80, 80], [100, 90, 40, 40]], float)
    small = get_cfg_defaults()
    small.MODEL.FEATURE_BATCH_SIZE = 2
    a = FeatureExtractor(extractor.backbone, small).features(iter(frames), boxes)
    b = extractor.features(iter(frames), boxes)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
    assert np.abs(b[0] - b[1]).max() > 1e-2 * np.abs(b).max()  # features do depend on the crop
