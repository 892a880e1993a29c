#!/usr/bin/env python
"""Fit the bundled pose prior: SMPLify's recipe (a Gaussian mixture of 8 full-covariance components
over the 69-d axis-angle body pose) on the motion library's training split.

    .venv/bin/pip install scikit-learn        # this tool only; the product reads the result
    .venv/bin/python tools/fit_pose_prior.py --db data/vibe_db/mocap_train_db.pt

Writes vibe/fitting/assets/cmu_gmm_08.pkl in gmm_08.pkl's own format (a pickled dict of means
(8, 69), covars (8, 69, 69), weights (8,)), which vibe.fitting.priors reads like the user's file.
Frames are thinned to one in FRAME_STRIDE (neighbouring frames at 25 fps add little) and every
sequence weighs by its length. The data comes from the CMU motion capture database
(mocap.cs.cmu.edu; free for all uses).
"""
from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUTPUT = REPO / "vibe" / "fitting" / "assets" / "cmu_gmm_08.pkl"
COMPONENTS = 8  # SMPLify's gmm_08
ROOT_DIM, POSE_DIM = 3, 72  # theta = 72 pose (root first) + 10 betas
FRAME_STRIDE = 2
# Added to every covariance's diagonal (rad^2): keeps directions the data never moves (the
# twists retargeting pins to rest) from getting a near-zero variance the fit could not leave.
REG_COVAR = 1e-3
SEED = 0


def body_poses(db_path: Path) -> np.ndarray:
    """(N, 69) body poses (no root) of every FRAME_STRIDE-th frame of the library at `db_path`."""
    import joblib

    theta = np.asarray(joblib.load(db_path)["theta"], np.float64)
    return theta[::FRAME_STRIDE, ROOT_DIM:POSE_DIM]


def fit_gmm(poses: np.ndarray) -> dict[str, np.ndarray]:
    try:
        from sklearn.mixture import GaussianMixture
    except ImportError:
        sys.exit("this tool needs scikit-learn: .venv/bin/pip install scikit-learn")
    gmm = GaussianMixture(COMPONENTS, covariance_type="full", reg_covar=REG_COVAR, random_state=SEED,
                          n_init=3, max_iter=500).fit(poses)
    order = np.argsort(-gmm.weights_)  # heaviest first
    return {"means": gmm.means_[order], "covars": gmm.covariances_[order], "weights": gmm.weights_[order]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="mocap_train_db.pt (tools/preprocess.py mocap)")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    poses = body_poses(args.db)
    gmm = fit_gmm(poses)
    from vibe.io.atomic import write_bytes_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(args.out, pickle.dumps(gmm, protocol=2))  # gmm_08.pkl is a protocol-2 pickle
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) from {len(poses)} poses; "
          f"weights {np.round(gmm['weights'], 3).tolist()}")


if __name__ == "__main__":
    main()
