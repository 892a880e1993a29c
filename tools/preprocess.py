#!/usr/bin/env python
"""Preprocess a raw dataset release into VIBE's db files (the files train.py and eval.py read).

  python tools/preprocess.py amass --src data/amass --out data/vibe_db [--fps 25]
  python tools/preprocess.py 3dpw --src data/3dpw --out data/vibe_db [--split train val test]
  python tools/preprocess.py insta --src data/insta_variety --out data/vibe_db
  python tools/preprocess.py mpii3d --src data/mpi_inf_3dhp --out data/vibe_db [--split train val]
  python tools/preprocess.py mocap --src ../shared/mocap --out data/vibe_db   # BVH, ASF/AMC, expmap: our motion library

Work goes sequence by sequence into partial files under <out>/.preprocess_work; an interrupted
run picks up where it stopped. 3DPW, InstaVariety and MPI-INF-3DHP need spin_model_checkpoint.pth.tar
(features), and 3DPW an SMPL model (joints), from the data dir (--data_dir, $VIBE_DATA_DIR, else data/vibe_data).
mocap retargets onto the body model BODY.MODEL picks (SMPL when in the data dir, else the open body)
and writes mocap_train_db.pt and mocap_test_db.pt (split by subject: docs/motion_library.md)."""
import argparse
import sys

from vibe.cli_support import add_config_arguments, config_from_args, run_cli, setup_logging

DATASETS = ("amass", "3dpw", "insta", "mpii3d", "mocap")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=DATASETS, help="which release --src holds")
    parser.add_argument("--src", required=True, help="the unpacked release (AMASS: folder of .npz; 3DPW: the folder "
                                                     "holding sequenceFiles/ and imageFiles/; InstaVariety: the "
                                                     "folder holding train/*.tfrecord; MPI-INF-3DHP: the folder "
                                                     "holding S1..S8/ and mpi_inf_3dhp_test_set/; mocap: any "
                                                     "folder of .bvh, ASF/AMC or expmap .txt files)")
    parser.add_argument("--out", help="output folder (default TRAIN.DB_DIR, data/vibe_db)")
    parser.add_argument("--split", nargs="+",
                        help="splits to write (3dpw: train val test; mpii3d: train val; default all)")
    parser.add_argument("--fps", type=float, help="AMASS and mocap target frame rate (default PREPROCESS.AMASS_FPS, 25)")
    parser.add_argument("--data_dir", help="VIBE's vibe_data folder (SMPL, spin_model_checkpoint.pth.tar)")
    parser.add_argument("--spin_checkpoint", help="SPIN checkpoint for the features (default <data_dir>/MODEL.SPIN_CHECKPOINT)")
    add_config_arguments(parser, "PREPROCESS.KEEP_PARTS True")
    return parser


def main(argv=None) -> int:
    from pathlib import Path

    from vibe.config import resolve_data_dir
    from vibe.data.vibe_db import SPLITS
    from vibe.errors import InputError

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    cfg = config_from_args(args, {"PREPROCESS.AMASS_FPS": args.fps, "DEVICE": args.device})
    out_dir = Path(args.out or cfg.TRAIN.DB_DIR)
    splits = args.split or list(SPLITS[args.dataset])
    unknown = sorted(set(splits) - set(SPLITS[args.dataset]))
    if unknown:
        raise InputError(f"{args.dataset} has no split {', '.join(unknown)}; use {', '.join(SPLITS[args.dataset])}")
    if args.dataset == "amass":
        from vibe.data.preprocess.amass import preprocess_amass

        preprocess_amass(args.src, out_dir, cfg)
        return 0
    import torch

    if args.dataset == "mocap":
        from vibe.body import load_body_model
        from vibe.data.preprocess.mocap import preprocess_mocap

        if cfg.NUM_THREADS:
            torch.set_num_threads(int(cfg.NUM_THREADS))
        preprocess_mocap(args.src, out_dir, load_body_model(resolve_data_dir(args.data_dir, cfg), cfg.BODY.GENDER,
                                                            cfg.BODY.MODEL), cfg)
        return 0

    from vibe.body import load_body_model
    from vibe.data.preprocess.features import load_feature_extractor
    from vibe.data.preprocess.insta import preprocess_insta
    from vibe.data.preprocess.threedpw import preprocess_3dpw
    from vibe.device import pick_device

    if cfg.NUM_THREADS:
        torch.set_num_threads(int(cfg.NUM_THREADS))
    data_dir = resolve_data_dir(args.data_dir, cfg)
    device = pick_device(cfg.DEVICE)
    extractor = load_feature_extractor(args.spin_checkpoint or data_dir / cfg.MODEL.SPIN_CHECKPOINT, cfg, device)
    if args.dataset == "insta":
        preprocess_insta(args.src, out_dir, extractor, cfg)
        return 0
    if args.dataset == "mpii3d":
        from vibe.data.preprocess.mpii3d import preprocess_mpii3d

        for split in splits:
            preprocess_mpii3d(args.src, out_dir, split, extractor, cfg)
        return 0
    body_model = load_body_model(data_dir, cfg.BODY.GENDER, cfg.BODY.MODEL).to(device)
    for split in splits:
        preprocess_3dpw(args.src, out_dir, split, extractor, body_model, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
