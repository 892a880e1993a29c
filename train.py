#!/usr/bin/env python
"""Train VIBE's temporal model on VIBE's preprocessed files (data/vibe_db: insta_train_db.h5,
mpii3d_train_db.pt, optionally 3dpw_train_db.pt, amass_db.pt for the motion discriminator,
3dpw_val_db.pt for validation), with VIBE's recipe (configs/repro_vibe.yaml).

Multi-process: `torchrun --nproc_per_node N train.py ...` runs the same script under DDP (gloo on
CPU, nccl on GPUs). Results in OUTPUT_DIR: checkpoint.pth.tar and model_best.pth.tar (VIBE's
layout: eval.py and VIBE's own code read them), log.csv, train_state.pth."""
import argparse
import sys

from vibe.cli_support import add_config_arguments, config_from_args, run_cli, setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, "TRAIN.EPOCHS 5")
    parser.add_argument("--output_dir", help="run folder (default TRAIN.OUTPUT_DIR)")
    parser.add_argument("--db_dir", help="VIBE's preprocessed files (default TRAIN.DB_DIR, data/vibe_db)")
    parser.add_argument("--data_dir", help="VIBE's vibe_data folder (SMPL, smpl_mean_params.npz, "
                                           "spin_model_checkpoint.pth.tar); default $VIBE_DATA_DIR, else data/vibe_data")
    parser.add_argument("--resume", action="store_true", help="continue the run in the output folder after its last epoch")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None) -> int:
    import torch

    from vibe.body import load_body_model
    from vibe.config import resolve_data_dir
    from vibe.device import pick_device
    from vibe.trainer import Trainer, init_distributed

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    cfg = config_from_args(args, {"TRAIN.OUTPUT_DIR": args.output_dir, "TRAIN.DB_DIR": args.db_dir,
                                  "DEVICE": args.device, "TRAIN.PROGRESS_BAR": False if args.no_progress else None})
    if cfg.NUM_THREADS:
        torch.set_num_threads(int(cfg.NUM_THREADS))
    dist_info = init_distributed(cfg.TRAIN.DIST_BACKEND)
    device = pick_device(cfg.DEVICE)
    if device.type == "cuda" and dist_info.enabled:
        device = torch.device("cuda", dist_info.local_rank)
    data_dir = resolve_data_dir(args.data_dir, cfg)
    body_model = load_body_model(data_dir, cfg.BODY.GENDER, cfg.BODY.MODEL).to(device)
    try:
        state = Trainer(cfg, cfg.TRAIN.OUTPUT_DIR, body_model, device, dist_info, data_dir, args.resume).fit()
    finally:
        if dist_info.enabled:
            torch.distributed.destroy_process_group()
    if dist_info.is_main:
        print(f"trained {state.epochs_done} epochs; best validation PA-MPJPE {state.best_performance:.2f} mm; "
              f"checkpoints in {cfg.TRAIN.OUTPUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
