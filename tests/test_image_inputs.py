"""Still images as inputs: a photo is a one-frame source read by OpenCV's image codecs (any of jpg,
png, webp; EXIF orientation applied; a truncated file is one InputError line), a one-frame input's
overlay and tracks drawing are .jpg images (never one-frame videos), and a folder of photos of
different sizes runs photo by photo. End-to-end runs use the tiny SMPL-format model and
shortened fits (ONE_FRAME_RUN) to stay short."""
import logging
import struct

import cv2
import joblib
import numpy as np
import pytest

from test_demo_cli import assert_one_error_line, load_demo, run_demo
from test_pipeline import FAST_FIT
from tracker.types import IMAGE, IMAGES, VIDEO
from tracker.video import IMAGE_FOLDER_FPS, open_video, read_image
from vibe.cli_support import run_cli
from vibe.errors import InputError, OutputError
from vibe.io.image_writer import ImageWriter, frame_writer
from vibe.io.video_writer import VideoWriter
from vibe.pipeline import expand_input, run
from media import MEDIA_DIR

PHOTO = MEDIA_DIR / "real" / "coco" / "000000196141.jpg"  # a baseball scene, 640x429, 4-5 people
needs_photo = pytest.mark.skipif(not PHOTO.is_file(), reason="COCO test photos not available")
# A photo is searched once (TRACKER.MIN_DETECTIONS 1 keeps its people); its one-frame tracks fit
# fastest in this process, without the extra start poses and the flip search.
ONE_FRAME_RUN = [*FAST_FIT, "TRACKER.MIN_DETECTIONS", "1", "FITTING.WORKERS", "1", "FITTING.EXTRA_STARTS", "[]",
                 "FITTING.FLIP_AFTER_STAGES", "[]"]
EXIF_ROTATE_90_CW = 6  # EXIF orientation: the stored image is shown turned 90 degrees clockwise
MESH_PIXEL_DIFF = 60  # summed RGB difference of a pixel a mesh was drawn over (coding noise is far less)


def gradient(width=96, height=64) -> np.ndarray:
    """An RGB picture (H, W, 3) uint8 of smooth gradients, easy to encode faithfully."""
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    return np.stack([255 * xs / width, 255 * ys / height, np.full_like(xs, 90)], axis=2).astype(np.uint8)


def save(path, rgb: np.ndarray):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an APP1 EXIF segment (big-endian TIFF, one IFD entry: Orientation, SHORT) after SOI."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def output_files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "cache" not in p.parts)


# ---------------------------------------------------------------------------------------- reading

@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_a_photo_is_a_one_frame_source(tmp_path, suffix):
    picture = gradient()
    source = open_video(save(tmp_path / f"picture{suffix}", picture))
    info = source.info
    assert (info.kind, info.n_frames, info.fps, info.is_still) == (IMAGE, 1, IMAGE_FOLDER_FPS, True)
    assert (info.width, info.height) == (96, 64)
    (frame_id, frame), = source.frames()
    assert frame_id == 0 and frame.dtype == np.uint8 and frame.shape == (64, 96, 3)
    assert np.abs(frame.astype(int) - picture).mean() < 3  # RGB, not BGR; lossy formats close


def test_exif_orientation_is_applied(tmp_path):
    picture = np.zeros((40, 80, 3), np.uint8)
    picture[:, :40] = 255  # left half white
    ok, jpeg = cv2.imencode(".jpg", picture)
    path = tmp_path / "phone.jpg"
    path.write_bytes(with_exif_orientation(jpeg.tobytes(), EXIF_ROTATE_90_CW))
    source = open_video(path)
    assert (source.info.width, source.info.height) == (40, 80)
    (_, frame), = source.frames()
    assert frame[:30].mean() > 200 and frame[-30:].mean() < 50  # the left half turned to the top


@pytest.mark.parametrize("name, cut", [("half.jpg", 0.5), ("half.png", 0.5), ("half.webp", 0.5),
                                       ("empty.jpg", 0.0), ("notes.png", None)])
def test_a_truncated_or_corrupt_photo_is_one_input_error(tmp_path, name, cut):
    if cut is None:
        data = b"this is not a picture\n"
    else:
        ok, encoded = cv2.imencode(name[name.index("."):], gradient(320, 240))
        data = encoded.tobytes()[:int(cut * len(encoded))]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as caught:
        open_video(tmp_path / name)
    message = str(caught.value)
    assert name in message and "truncated or corrupt" in message and "\n" not in message


def test_a_truncated_photo_ends_demo_with_one_error_line(capsys, tmp_path):
    ok, encoded = cv2.imencode(".jpg", gradient(320, 240))
    photo = tmp_path / "cut.jpg"
    photo.write_bytes(encoded.tobytes()[:len(encoded) // 2])
    code, err = run_demo(load_demo(), capsys, ["--video", str(photo), "--output_folder", str(tmp_path / "out")])
    assert_one_error_line(code, err)
    assert "cut.jpg" in err and not (tmp_path / "out").exists()


def test_a_folder_of_one_image_is_a_still_sequence(tmp_path):
    save(tmp_path / "only.png", gradient())
    info = open_video(tmp_path).info
    assert (info.kind, info.n_frames, info.is_still, info.width, info.height) == (IMAGES, 1, True, 96, 64)


def test_a_folder_of_different_sizes_is_not_one_sequence(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    save(folder / "a.png", gradient(96, 64))
    save(folder / "b.png", gradient(80, 64))
    with pytest.raises(InputError, match="b.png is 80x64 .* 96x64"):
        list(open_video(folder).frames())
    inputs = expand_input(folder, tmp_path / "out")
    assert [(i.path.name, i.output_folder) for i in inputs] == [("a.png", tmp_path / "out" / "shots"),
                                                                ("b.png", tmp_path / "out" / "shots")]
    save(folder / "b.png", gradient(96, 64))
    assert [(i.path, i.output_folder) for i in expand_input(folder, tmp_path / "out")] == [(folder, tmp_path / "out")]
    assert [i.path for i in expand_input(folder / "a.png", tmp_path)] == [folder / "a.png"]


# ---------------------------------------------------------------------------------------- writing

def test_image_writer_writes_one_frame_atomically(tmp_path):
    picture = gradient()
    with frame_writer(tmp_path / "still.jpg", 25, (96, 64)) as writer:
        assert isinstance(writer, ImageWriter)
        writer.write(picture)
    assert np.abs(read_image(tmp_path / "still.jpg").astype(int) - picture).mean() < 3
    assert isinstance(frame_writer(tmp_path / "clip.mp4", 25, (96, 64)), VideoWriter)
    with pytest.raises(OutputError, match="one frame"):
        with ImageWriter(tmp_path / "two.jpg", (96, 64)) as writer:
            writer.write(picture)
            writer.write(picture)
    with pytest.raises(InputError, match="shape"):
        with ImageWriter(tmp_path / "wrong.jpg", (96, 64)) as writer:
            writer.write(picture[:, :90])
    assert output_files(tmp_path) == ["still.jpg"]  # failed writes leave no file, not even a temporary


# ---------------------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def photo_run(tiny_smpl_dir, tmp_path_factory):
    """demo.py on the COCO photo with --display: (output folder, exit code, printed summary)."""
    if not PHOTO.is_file():
        pytest.skip("COCO test photos not available")
    out = tmp_path_factory.mktemp("photo_out")
    code = run_cli(load_demo().main, ["--video", str(PHOTO), "--output_folder", str(out), "--display",
                                      "--data_dir", str(tiny_smpl_dir), "--no_progress", "--opts", *ONE_FRAME_RUN])
    return out, code


@needs_photo
def test_a_photo_run_writes_jpg_overlay_and_tracks_and_no_video(photo_run):
    out, code = photo_run
    assert code == 0
    folder = out / PHOTO.stem
    assert not list(out.rglob("*.mp4"))
    payload = joblib.load(folder / "vibe_output.pkl")
    assert len(payload) >= 3  # a batter, a catcher, an umpire at least
    for track_id, entry in payload.items():
        assert entry["frame_ids"].tolist() == [0] and entry["verts"].shape[0] == 1
        for suffix in (".npz", ".glb", ".bvh"):
            assert (folder / f"person_{track_id}{suffix}").is_file()
    photo = read_image(PHOTO)
    overlay = read_image(folder / f"{PHOTO.stem}_vibe_result.jpg")
    assert overlay.shape == photo.shape
    diff = np.abs(overlay.astype(int) - photo.astype(int)).sum(-1)
    assert (diff > MESH_PIXEL_DIFF).mean() > 0.01  # meshes drawn over the people
    assert np.median(diff) < MESH_PIXEL_DIFF / 2  # elsewhere the photo itself
    assert read_image(folder / f"{PHOTO.stem}_tracks.jpg").shape == photo.shape


@needs_photo
def test_a_photo_rerun_with_sideview_doubles_the_image_width(photo_run, tiny_smpl_dir):
    out, _ = photo_run
    outcome = run(PHOTO, out, data_dir=str(tiny_smpl_dir), opts=ONE_FRAME_RUN, progress=False, sideview=True)
    assert set(outcome.cached) == {"track", "crops", "reconstruct"}
    assert outcome.files["overlay"].name == f"{PHOTO.stem}_vibe_result.jpg"
    assert read_image(outcome.files["overlay"]).shape == (429, 2 * 640, 3)
    assert f"overlay: {PHOTO.stem}_vibe_result.jpg" in outcome.summary()


@needs_photo
def test_a_one_frame_video_gets_an_image_overlay(tmp_path, tiny_smpl_dir):
    clip = tmp_path / "still.mp4"
    with VideoWriter(clip, 25, (640, 429)) as writer:  # odd height: the writer pads it to 430
        writer.write(read_image(PHOTO))
    outcome = run(clip, tmp_path / "out", data_dir=str(tiny_smpl_dir), opts=ONE_FRAME_RUN, progress=False)
    assert outcome.video.kind == VIDEO and outcome.video.is_still
    assert outcome.files["overlay"] == tmp_path / "out" / "still" / "still_vibe_result.jpg"
    assert read_image(outcome.files["overlay"]).shape == (430, 640, 3)
    assert not list((tmp_path / "out").rglob("*.mp4"))


@needs_photo
def test_a_folder_of_photos_of_different_sizes_runs_photo_by_photo(tmp_path, tiny_smpl_dir, capsys, caplog):
    folder = tmp_path / "album"
    folder.mkdir()
    photo = read_image(PHOTO)
    save(folder / "wide.jpg", photo)
    save(folder / "cropped.png", photo[:, 100:540])  # 440x429: the batter and the catcher
    (folder / "broken.jpg").write_bytes(PHOTO.read_bytes()[:1000])
    out = tmp_path / "out"
    caplog.set_level(logging.ERROR, logger="vibe.pipeline")
    code = run_cli(load_demo().main, ["--video", str(folder), "--output_folder", str(out), "--no_render",
                                      "--data_dir", str(tiny_smpl_dir), "--no_progress", "--opts", *ONE_FRAME_RUN])
    printed = capsys.readouterr().out
    assert code == 1  # broken.jpg failed, the others ran
    assert "broken.jpg" in caplog.text and "truncated or corrupt" in caplog.text
    people = {}
    for stem in ("wide", "cropped"):
        assert f"== {stem}." in printed
        people[stem] = len(joblib.load(out / "album" / stem / "vibe_output.pkl"))
        assert people[stem] >= 2
    assert not (out / "album" / "broken").exists()
    assert printed.strip().splitlines()[-1] == f"total: {sum(people.values())} people in 2 of 3 inputs; 1 failed"
