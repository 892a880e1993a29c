"""eval.py and vibe.evaluation: known answers on toy 3DPW / MPI-INF-3DHP files."""
import json

import numpy as np
import pytest
import torch

from vibe_db_factory import vibe_db_dir  # noqa: F401 (fixture)
from vibe.config import load_config
from vibe.data.vibe_db import open_dataset
from vibe.errors import InputError

EVAL_PY = __import__("importlib").import_module("eval")
H36M_TO_COMMON14 = [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10]  # SPEC section 3
MPII3D17_FROM_SPIN49 = [38, 37, 33, 32, 31, 34, 35, 36, 27, 26, 25, 28, 29, 30, 39, 41, 43]  # by hand from the name tables
D = 0.010  # 10 mm


def _gt_3dpw(vibe_db_dir, body_model):
    dataset = open_dataset("3dpw", vibe_db_dir, "test", 16, 0.0)
    db = dataset.db
    with torch.no_grad():
        pose, shape = torch.from_numpy(db["pose"]), torch.from_numpy(db["shape"])
        verts = body_model(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=shape).verts.numpy()
    return db, np.asarray(db["joints3D"], np.float64), verts.astype(np.float64)


def _run_eval(tmp_path, data_dir, db_dir, *args):
    out = tmp_path / "metrics.json"
    code = EVAL_PY.main(["--db_dir", str(db_dir), "--data_dir", str(data_dir), "--output", str(out), *args])
    assert code == 0
    return json.loads(out.read_text())


def _write_predictions(path, db, joints, verts=None):
    arrays = {"vid_name": db["vid_name"], "frame_id": db["frame_id"], "joints": joints}
    if verts is not None:
        arrays["verts"] = verts
    np.savez(path, **arrays)
    return path


def _accel_per_video(joints, vid_names):
    """Mean over videos' frames of the mean-over-joints |x[t-1] - 2x[t] + x[t+1]| (mm), pelvis-centred."""
    centred = joints - joints[:, [2, 3]].mean(1, keepdims=True)
    values = []
    for name in dict.fromkeys(vid_names):
        x = centred[vid_names == name]
        values.append(np.linalg.norm(x[:-2] - 2 * x[1:-1] + x[2:], axis=-1).mean(-1))
    return np.concatenate(values).mean() * 1000


def test_predictions_equal_to_ground_truth_give_zero_errors(tmp_path, vibe_db_dir, tiny_smpl_dir, tiny_body_model):
    db, joints, verts = _gt_3dpw(vibe_db_dir, tiny_body_model)
    path = _write_predictions(tmp_path / "p.npz", db, joints, verts)
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--predictions", str(path))
    for key in ("MPJPE", "PA-MPJPE", "PVE", "ACCEL_ERR"):
        assert result[key] == pytest.approx(0.0, abs=1e-4), key
    assert result["ACCEL"] == pytest.approx(_accel_per_video(joints, np.asarray(db["vid_name"])), rel=1e-6)


def test_known_perturbations_give_hand_computed_errors(tmp_path, vibe_db_dir, tiny_smpl_dir, tiny_body_model):
    db, joints, verts = _gt_3dpw(vibe_db_dir, tiny_body_model)
    frames, num_verts = len(joints), verts.shape[1]
    # One non-hip joint 10 mm along x in every frame; one vertex 10 mm along x: pelvis unchanged.
    shifted, moved_verts = joints.copy(), verts.copy()
    shifted[:, 6, 0] += D  # right wrist
    moved_verts[:, 0, 0] += D
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--predictions",
                       str(_write_predictions(tmp_path / "p.npz", db, shifted, moved_verts)))
    assert result["MPJPE"] == pytest.approx(10.0 / 14, rel=1e-6)
    assert result["PVE"] == pytest.approx(10.0 / num_verts, rel=1e-6)
    assert result["ACCEL_ERR"] == pytest.approx(0.0, abs=1e-6)  # a constant offset has no acceleration
    # One joint of one interior frame: second differences d, 2d, d at frames k-1, k, k+1.
    spike = joints.copy()
    spike[5, 0, 0] += D  # right ankle, frame 5 of the first video
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--predictions",
                       str(_write_predictions(tmp_path / "p.npz", db, spike)))
    accel_entries = frames - 2 * len(set(db["vid_name"]))
    assert result["ACCEL_ERR"] == pytest.approx(4 * 10.0 / 14 / accel_entries, rel=1e-6)
    assert result["MPJPE"] == pytest.approx(10.0 / 14 / frames, rel=1e-6)
    assert "PVE" not in result  # no meshes in the file


def test_similarity_transform_has_zero_pa_mpjpe_and_the_direct_mpjpe(tmp_path, vibe_db_dir, tiny_smpl_dir,
                                                                      tiny_body_model):
    from scipy.spatial.transform import Rotation

    db, joints, _ = _gt_3dpw(vibe_db_dir, tiny_body_model)
    rotation = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    moved = 1.1 * joints @ rotation.T + np.array([0.5, -0.2, 3.0])
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--predictions",
                       str(_write_predictions(tmp_path / "p.npz", db, moved)))
    centre = lambda x: x - x[:, [2, 3]].mean(1, keepdims=True)  # noqa: E731
    expected = np.linalg.norm(centre(moved) - centre(joints), axis=-1).mean() * 1000
    assert result["MPJPE"] == pytest.approx(expected, rel=1e-6)
    assert result["PA-MPJPE"] == pytest.approx(0.0, abs=1e-3)


def test_mpii3d_pck_auc_and_valid_frames(tmp_path, vibe_db_dir, tiny_smpl_dir):
    dataset = open_dataset("mpii3d", vibe_db_dir, "val", 16, 0.0)
    db = dataset.db
    joints = np.asarray(db["joints3D"], np.float64)[:, MPII3D17_FROM_SPIN49]
    valid = np.asarray(db["valid_i"]).astype(bool)
    pred = joints.copy()
    pred[np.flatnonzero(~valid)[0]] += 1.0  # a whole invalid frame 1 m off: not evaluated
    pred[np.flatnonzero(valid)[0], 4, 1] += 0.2  # one valid joint 200 mm off: beyond PCK's 150 mm
    path = _write_predictions(tmp_path / "p.npz", db, pred)
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--predictions", str(path), "--dataset", "mpii3d",
                       "--set", "val")
    n_valid = valid.sum()
    assert result["MPJPE"] == pytest.approx(200.0 / 17 / n_valid, rel=1e-6)
    assert result["PCK"] == pytest.approx(100.0 * (1 - 1 / (17 * n_valid)), rel=1e-9)
    # AUC thresholds 0, 5, ..., 150 mm with a strict '<': exact joints miss only the 0-mm one.
    assert result["AUC"] == pytest.approx(100.0 * (30 / 31) * (1 - 1 / (17 * n_valid)), rel=1e-9)


def test_network_evaluation_uses_the_h36m_regressor_protocol(tmp_path, vibe_db_dir, tiny_body_model):
    from vibe.evaluation import evaluate_generator, evaluate_predictions
    from vibe.trainer import build_models

    cfg = load_config("configs/smoke_cpu.yaml")
    torch.manual_seed(0)
    generator, _ = build_models(cfg, tiny_body_model)
    dataset = open_dataset("3dpw", vibe_db_dir, "test", 8, 0.0)
    result = evaluate_generator(generator, dataset, tiny_body_model, seqlen=8, batch_size=3)
    # The same predictions by hand: windows of 8 rows from each video's start, tails dropped.
    rows = np.concatenate([np.arange(0, 16), np.arange(20, 36)])  # videos of 20 and 19 frames
    features = torch.from_numpy(np.asarray(dataset.db["features"][rows])).reshape(4, 8, -1)
    with torch.no_grad():
        verts = generator.eval()(features).verts.reshape(32, -1, 3)
        joints = torch.einsum("jv,bvc->bjc", tiny_body_model.j_regressor_h36m, verts)[:, H36M_TO_COMMON14]
    db = {"vid_name": np.asarray(dataset.db["vid_name"])[rows], "frame_id": np.asarray(dataset.db["frame_id"])[rows]}
    path = _write_predictions(tmp_path / "p.npz", db, joints.numpy(), verts.numpy())
    by_hand = evaluate_predictions(path, dataset, tiny_body_model)
    assert result.keys() == by_hand.keys()
    for key in result:
        assert result[key] == pytest.approx(by_hand[key], rel=1e-5, abs=1e-6), key


def test_checkpoint_in_vibe_layout_evaluates(tmp_path, vibe_db_dir, tiny_smpl_dir, tiny_body_model, capsys):
    from vibe.models.checkpoints import save_vibe_checkpoint
    from vibe.trainer import build_models

    cfg = load_config("configs/smoke_cpu.yaml")
    generator, discriminator = build_models(cfg, None)
    save_vibe_checkpoint(tmp_path / "ours.pth.tar", generator, discriminator, 0, 99.0)
    result = _run_eval(tmp_path, tiny_smpl_dir, vibe_db_dir, "--checkpoint", str(tmp_path / "ours.pth.tar"),
                       "--cfg", "configs/smoke_cpu.yaml")
    assert set(result) == {"dataset", "MPJPE", "PA-MPJPE", "PVE", "ACCEL", "ACCEL_ERR"}
    assert all(np.isfinite(value) for key, value in result.items() if key != "dataset")
    assert "VIBE published (3DPW test): MPJPE 93.59 mm, PA-MPJPE 56.56 mm" in capsys.readouterr().out


def test_bad_predictions_and_missing_files_are_one_line_errors(tmp_path, vibe_db_dir, tiny_smpl_dir, tiny_body_model,
                                                               capsys):
    from vibe.cli_support import run_cli
    from vibe.evaluation import evaluate_predictions

    db, joints, _ = _gt_3dpw(vibe_db_dir, tiny_body_model)
    dataset = open_dataset("3dpw", vibe_db_dir, "test", 16, 0.0)
    with pytest.raises(InputError, match=r"\(frames, 14, 3\)"):
        evaluate_predictions(_write_predictions(tmp_path / "a.npz", db, joints[:, :13]), dataset, tiny_body_model)
    wrong = {"vid_name": np.array(["nope"]), "frame_id": np.array([0])}
    with pytest.raises(InputError, match="not in 3dpw test"):
        evaluate_predictions(_write_predictions(tmp_path / "b.npz", wrong, joints[:1]), dataset, tiny_body_model)
    with pytest.raises(SystemExit) as done:
        EVAL_PY.main(["--help"])
    assert done.value.code == 0
    capsys.readouterr()
    code = run_cli(EVAL_PY.main, ["--db_dir", str(tmp_path), "--data_dir", str(tiny_smpl_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "3dpw_test_db.pt not found" in err


def test_vibe_sized_checkpoint_goes_through_vibes_loader(tmp_path, vibe_db_dir, tiny_smpl_dir):
    """VIBE's released network sizes (default config) load through vibe.models.load_vibe, numpy-typed
    `performance` included, as vibe_model_wo_3dpw.pth.tar does."""
    from vibe.models.discriminator import MotionDiscriminator
    from vibe.models.generator import build_generator
    from vibe.models.checkpoints import generator_state_dict

    torch.manual_seed(0)
    generator = build_generator()
    torch.save({"epoch": 29, "gen_state_dict": generator_state_dict(generator), "performance": np.float64(56.56),
                "gen_optimizer": None, "disc_motion_state_dict": MotionDiscriminator().state_dict(),
                "disc_motion_optimizer": None}, tmp_path / "vibe_model_wo_3dpw.pth.tar")
    for name in ("SMPL_NEUTRAL.pkl",):
        (tmp_path / name).write_bytes((tiny_smpl_dir / name).read_bytes())
    result = _run_eval(tmp_path, tmp_path, vibe_db_dir)  # the checkpoint is found in the data dir by default
    assert all(np.isfinite(result[key]) for key in ("MPJPE", "PA-MPJPE", "PVE", "ACCEL", "ACCEL_ERR"))
