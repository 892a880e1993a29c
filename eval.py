#!/usr/bin/env python
"""Evaluate a VIBE-layout checkpoint (VIBE's released vibe_model_wo_3dpw.pth.tar by default, or one
written by train.py) or a predictions file on 3DPW (MPJPE, PA-MPJPE, PVE in mm; ACCEL, ACCEL_ERR in
mm/frame^2) or MPI-INF-3DHP (MPJPE, PA-MPJPE in mm; PCK@150 mm, AUC in %), on VIBE's preprocessed
test files. VIBE's published 3DPW test figures: MPJPE 93.59, PA-MPJPE 56.56, PVE 113.41,
ACCEL 27.12, ACCEL_ERR 27.99."""
import argparse
import sys

from vibe.cli_support import add_config_arguments, config_from_args, run_cli, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="VIBE-layout checkpoint (default: DATA_DIR/vibe_model_wo_3dpw.pth.tar)")
    source.add_argument("--predictions", help="npz of per-frame predictions: vid_name (N,), frame_id (N,), joints "
                                              "(N, J, 3) metres (3dpw: 14 common joints, mpii3d: 17), optional verts")
    parser.add_argument("--dataset", choices=("3dpw", "mpii3d"), help="default EVAL.DATASET (3dpw)")
    parser.add_argument("--set", help="split (default EVAL.SET: test; mpii3d's test set is VIBE's 'val' file)")
    parser.add_argument("--db_dir", help="VIBE's preprocessed files (default TRAIN.DB_DIR, data/vibe_db)")
    parser.add_argument("--data_dir", help="VIBE's vibe_data folder (SMPL, J_regressor_h36m.npy, checkpoints); "
                                           "default $VIBE_DATA_DIR, else data/vibe_data")
    parser.add_argument("--output", help="also write the metrics to this JSON file")
    add_config_arguments(parser, "EVAL.BATCH_SIZE 8")
    return parser


def main(argv=None) -> int:
    import json

    from vibe.body import load_body_model
    from vibe.config import resolve_data_dir
    from vibe.data.vibe_db import open_dataset
    from vibe.device import pick_device
    from vibe.evaluation import VIBE_PUBLISHED_3DPW, evaluate_generator, evaluate_predictions, format_metrics
    from vibe.io.atomic import write_bytes_atomic
    from vibe.trainer import load_trained_generator

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    cfg = config_from_args(args, {"EVAL.DATASET": args.dataset, "EVAL.SET": args.set, "TRAIN.DB_DIR": args.db_dir,
                                  "DEVICE": args.device})
    data_dir = resolve_data_dir(args.data_dir, cfg)
    device = pick_device(cfg.DEVICE)
    dataset = open_dataset(cfg.EVAL.DATASET, cfg.TRAIN.DB_DIR, cfg.EVAL.SET, cfg.EVAL.SEQLEN, 0.0, cfg.TRAIN.DB_BBOX_SCALE)
    body_model = load_body_model(data_dir, cfg.BODY.GENDER, cfg.BODY.MODEL).to(device)
    if args.predictions:
        result = evaluate_predictions(args.predictions, dataset, body_model)
    else:
        checkpoint = args.checkpoint or data_dir / cfg.MODEL.VIBE_CHECKPOINT
        generator = load_trained_generator(cfg, checkpoint, body_model, device)
        result = evaluate_generator(generator, dataset, body_model, cfg.EVAL.SEQLEN, cfg.EVAL.BATCH_SIZE, device)
    print(f"{dataset.label}: {format_metrics(result)}")
    if cfg.EVAL.DATASET == "3dpw" and cfg.EVAL.SET == "test":
        print(f"VIBE published (3DPW test): {format_metrics(VIBE_PUBLISHED_3DPW)}")
    if args.output:
        write_bytes_atomic(args.output, (json.dumps({"dataset": dataset.label, **result}, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
