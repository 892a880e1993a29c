"""InstaVariety tfrecords -> insta_train_db.h5, without TensorFlow: records written here by a hand
protobuf wire-format encoder and TFRecord framing (independent of the reader's runtime-built
message class), checked for keypoint layout, [-1, 1] / pixel units, crop mapping, features."""
import struct

import cv2
import h5py
import numpy as np
import pytest
import torch

from test_preprocess_3dpw import IMAGENET_MEAN, IMAGENET_STD, extractor, spin_checkpoint  # noqa: F401 (fixtures)
from vibe.data.preprocess.insta import preprocess_insta
from vibe.data.preprocess.tfrecord import crc32c, masked_crc, parse_example, read_records
from vibe.data.vibe_db import open_dataset
from vibe.errors import InputError
from vibe.models import load_spin_backbone

CRC32C_CHECK = 0xE3069283  # published check value: CRC-32C of b"123456789"


# --- a minimal protobuf wire-format writer (tag = field << 3 | wire type; 2 = length-delimited) ---
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def feature(values) -> bytes:
    """Feature { bytes_list = 1 | float_list = 2 | int64_list = 3 }, lists packed."""
    if isinstance(values[0], bytes):
        return field(1, b"".join(field(1, v) for v in values))
    if isinstance(values[0], float):
        return field(2, field(1, struct.pack(f"<{len(values)}f", *values)))
    return field(3, field(1, b"".join(varint(int(v)) for v in values)))


def example(features: dict) -> bytes:
    entries = b"".join(field(1, field(1, key.encode()) + field(2, feature(list(values)))) for key, values in features.items())
    return field(1, entries)


def write_tfrecord(path, records) -> None:
    with open(path, "wb") as handle:
        for record in records:
            length = struct.pack("<Q", len(record))
            handle.write(length + struct.pack("<I", masked_crc(length)) + record + struct.pack("<I", masked_crc(record)))


def video_record(rng, frames: int, size: tuple[int, int], normalised: bool):
    """A record and its truth: keypoints (N, 25, 3) insta25 in the record's units, JPEG frames."""
    height, width = size
    body = rng.uniform(-0.9, 0.9, (frames, 2, 14)) if normalised else rng.uniform(0, min(size), (frames, 2, 14))
    vis = rng.integers(0, 2, (frames, 1, 14))
    face = np.concatenate([body[:, :, :5] * 0.9, rng.uniform(0, 1, (frames, 1, 5))], axis=1)
    toes = np.concatenate([body[:, :, 5:11] * 0.8, rng.uniform(0, 1, (frames, 1, 6))], axis=1)
    jpegs = [cv2.imencode(".jpg", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))[1].tobytes()
             for _ in range(frames)]
    fields = {"meta/N": [frames], "image/encoded": jpegs, "image/xys": body.ravel().tolist(),
              "image/visibilities": vis.ravel().tolist(), "image/face_pts": face.ravel().tolist(),
              "image/toe_pts": toes.ravel().tolist(), "image/heightwidths": [height, width] * frames,
              "mosh/shape": [0.0] * 10}
    if normalised:
        fields["image/phis"] = [0.5] * (frames * 4)  # precomputed features (contents unused)
    truth = np.concatenate([np.concatenate([body, vis], 1), face, toes], axis=2).transpose(0, 2, 1)
    return example(fields), truth, jpegs


@pytest.fixture
def release(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "insta" / "train"
    folder.mkdir(parents=True)
    a0, a1, b0 = (video_record(rng, 3, (224, 224), True), video_record(rng, 2, (224, 224), True),
                  video_record(rng, 2, (160, 200), False))
    write_tfrecord(folder / "insta_a.tfrecord", [a0[0], a1[0]])
    write_tfrecord(folder / "insta_b.tfrecord", [b0[0]])
    return tmp_path / "insta", {"insta_a-0": a0, "insta_a-1": a1, "insta_b-0": b0}


def test_crc_and_hand_encoded_example():
    assert crc32c(b"123456789") == CRC32C_CHECK
    parsed = parse_example(example({"n": [7, -2], "x": [1.5, -0.25], "s": [b"ab", b""]}), "test")
    assert parsed == {"n": [7, -2], "x": [1.5, -0.25], "s": [b"ab", b""]}


def test_insta_db(release, tmp_path, extractor, spin_checkpoint):  # noqa: F811 (fixtures)
    src, videos = release
    out = tmp_path / "db"
    path = preprocess_insta(src, out, extractor)
    with h5py.File(path, "r") as h5:
        db = {key: h5[key][:] for key in h5}
    assert [name.decode() for name in db["vid_name"]] == ["insta_a-0"] * 3 + ["insta_a-1"] * 2 + ["insta_b-0"] * 2
    assert db["frame_id"].tolist() == [0, 1, 2, 0, 1, 0, 1]
    # [-1, 1] of a 224 frame -> pixels (n + 1) / 2 * 224; the crop is the frame itself.
    want_a = np.concatenate([videos["insta_a-0"][1], videos["insta_a-1"][1]])
    np.testing.assert_allclose(db["joints2D"][:5, :, :2], (want_a[..., :2] + 1) / 2 * 224, atol=1e-4)
    np.testing.assert_allclose(db["joints2D"][:5, :, 2], want_a[..., 2], atol=1e-6)
    # 200 x 160 frame in pixels: its 200-px square around the centre (100, 80) scaled to 224.
    want_b = videos["insta_b-0"][1]
    np.testing.assert_allclose(db["joints2D"][5:, :, 0], (want_b[..., 0] - 100) * 224 / 200 + 112, atol=1e-3)
    np.testing.assert_allclose(db["joints2D"][5:, :, 1], (want_b[..., 1] - 80) * 224 / 200 + 112, atol=1e-3)
    # Features of the whole 224 frames, normalised by hand, through the unfused backbone.
    frames = [cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
              for key in ("insta_a-0", "insta_a-1") for j in videos[key][2]]
    batch = torch.tensor(np.stack([((f / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1) for f in frames]),
                         dtype=torch.float32)
    with torch.no_grad():
        want_features = load_spin_backbone(spin_checkpoint, device="cpu")(batch).numpy()
    scale = np.abs(want_features).max()
    np.testing.assert_allclose(db["features"][:5] / scale, want_features / scale, atol=1e-4)
    dataset = open_dataset("insta", out, "train", seqlen=2, overlap=0.0)
    assert len(dataset) == 1 + 1 + 1
    np.testing.assert_allclose(dataset[0]["features"].numpy(),
                               db["features"][:2], rtol=1e-6)


def test_damaged_records_are_one_line_errors(release, tmp_path, extractor):  # noqa: F811
    src, _ = release
    path = src / "train" / "insta_b.tfrecord"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(InputError, match="insta_b.tfrecord is truncated in record 0") as err:
        list(read_records(path))
    assert "\n" not in str(err.value)
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    with pytest.raises(InputError, match="length checksum"):
        preprocess_insta(src, tmp_path / "db", extractor)
    write_tfrecord(path, [example({"meta/N": [1], "image/encoded": [b"x"]})])
    with pytest.raises(InputError, match="record 0 lacks image/xys"):
        preprocess_insta(src, tmp_path / "db2", extractor)
    with pytest.raises(InputError, match="no .tfrecord files"):
        preprocess_insta(tmp_path, tmp_path / "db3", extractor)
