#!/usr/bin/env python
"""Video or photo -> per-person SMPL bodies, meshes, overlay and exports (a command line over
vibe.pipeline). Results go to OUTPUT_FOLDER/<input name>/: vibe_output.pkl (VIBE's keys),
person_<id>.npz/.glb/.bvh, <name>_vibe_result.mp4 (.jpg for a photo). A folder of images is one
sequence of frames, unless its images differ in size: then each photo runs alone, results in
OUTPUT_FOLDER/<folder name>/<photo name>/. VIBE's demo flags are accepted.

Batches (docs/batch.md): --video takes a folder of videos (.mp4, .mov, .avi, .mkv, ...: every
video in it, by name) or a .txt file listing inputs, one path per line (relative to the list's
folder; blank lines and lines starting with # ignored). Models load once; a video that fails is
logged and the others go on; a video whose vibe_output.pkl exists is skipped (--redo runs it
again); OUTPUT_FOLDER/batch_summary[_shard-I-of-N].csv lists video, people, frames, fps, status,
seconds. --shard I/N splits the list over N machines. Exit code 1 when some inputs failed."""
import argparse
import sys
from pathlib import Path

from vibe.cli_support import add_config_arguments, run_cli, setup_logging

EXIT_SOME_FAILED = 1  # a batch ran and some of its inputs failed (each logged its error)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    io = parser.add_argument_group("input and output")
    io.add_argument("--video", "--vid_file", dest="video",
                    help="input video file, photo (jpg, png, webp, bmp, tif) or image folder; or a batch: "
                         "a folder of videos, or a .txt file listing one input path per line")
    io.add_argument("--sample", action="store_true", help="run on the built-in sample clip instead of --video")
    io.add_argument("--output_folder", default="output", help="results go to OUTPUT_FOLDER/<video name>/ (default: output); to "
                         "<video name>_<extension>/ when that folder holds another input's results (clip.mov "
                         "beside clip.mp4's)")
    io.add_argument("--shard", metavar="I/N",
                    help="run only shard I of N of the batch (1-based: 1/N ... N/N; input k goes to shard "
                         "k mod N + 1, clip.mp4 and clip.mov to the same one), so N machines or array tasks split "
                         "one list without talking to each other")
    io.add_argument("--redo", action="store_true",
                    help="run again the batch's inputs whose results are complete (skipped by default)")
    io.add_argument("--data_dir", help="VIBE's vibe_data folder (SMPL, checkpoints, gmm_08.pkl); "
                                       "default $VIBE_DATA_DIR, else data/vibe_data")
    io.add_argument("--no_cache", action="store_true",
                    help="recompute tracking, features, keypoints and fits instead of reusing "
                         "OUTPUT_FOLDER/<video name>/cache/")

    method = parser.add_argument_group("reconstruction")
    method.add_argument("--method", choices=("auto", "vibe", "fitting"), default="auto",
                        help="vibe: the network (needs vibe_model_wo_3dpw.pth.tar and spin_model_checkpoint.pth.tar "
                             "in the data dir); fitting: temporal SMPLify on BlazePose keypoints; auto (default): "
                             "vibe when its checkpoint is there, else fitting")
    method.add_argument("--run_smplify", action="store_true", help="refine the network's result by fitting to keypoints")
    method.add_argument("--body_model", choices=("auto", "smpl", "open"),
                        help="smpl: your SMPL file from the data dir; open: the bundled open body; "
                             "auto (default): SMPL when present")
    method.add_argument("--gender", choices=("neutral", "male", "female"), help="SMPL model gender (default neutral)")
    method.add_argument("--vibe_batch_size", type=int,
                        help="frames per GRU sequence (VIBE's; default 450); used with --opts MODEL.SEQUENCE_MODE "
                             "chunk, the default window mode runs 16-frame windows")

    track = parser.add_argument_group("tracking")
    track.add_argument("--tracking_method", choices=("bbox", "pose"), default="bbox",
                       help="bbox: detector + Kalman tracker (pose, OpenPose's STAF, is not available)")
    track.add_argument("--detector", help="person detector: auto (default: the bundled CenterNet, else HOG), centernet, blazepose, "
                                          "hog, "
                                          "or yolo (needs yolov3.cfg and yolov3.weights in the data dir)")
    track.add_argument("--yolo_img_size", type=int, help="YOLO input size (default 416)")
    track.add_argument("--tracker_batch_size", type=int, help="frames per detector batch (default 8)")
    track.add_argument("--display", action="store_true",
                       help="also write the tracks over the video (<name>_tracks.mp4, .jpg for a photo)")

    render = parser.add_argument_group("rendering and exports")
    render.add_argument("--no_render", action="store_true", help="skip the overlay video (or image)")
    render.add_argument("--wireframe", action="store_true", help="draw meshes as wireframes")
    render.add_argument("--sideview", action="store_true", help="add a side view to the right of the overlay")
    render.add_argument("--save_obj", action="store_true", help="also write one .obj per person and frame (meshes/)")
    render.add_argument("--smooth", action="store_true", help="One Euro smoothing of pose and camera")
    render.add_argument("--smooth_min_cutoff", type=float, help="One Euro minimum cutoff, cycles/frame (default 0.004)")
    render.add_argument("--smooth_beta", type=float, help="One Euro speed coefficient (default 0.7)")

    config = parser.add_argument_group("configuration")
    add_config_arguments(config)
    config.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def main(argv=None) -> int:
    from vibe.errors import InputError
    from vibe.pipeline import (
        BatchInput, RunOptions, expand_input, parse_shard, run, run_inputs, sample_video, select_shard,
        summary_table_path,
    )
    from vibe.pipeline.options import build_config

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.sample == bool(args.video):
        raise InputError("pass exactly one of --video FILE (or --vid_file) and --sample")
    shard = parse_shard(args.shard)
    options = dict(
        method=args.method, run_smplify=args.run_smplify, tracking_method=args.tracking_method,
        render=not args.no_render, wireframe=args.wireframe, sideview=args.sideview, save_obj=args.save_obj,
        smooth=args.smooth, display=args.display, use_cache=not args.no_cache, progress=not args.no_progress,
        cfg_file=args.cfg, opts=args.opts, detector=args.detector, yolo_img_size=args.yolo_img_size,
        tracker_batch_size=args.tracker_batch_size, vibe_batch_size=args.vibe_batch_size,
        smooth_min_cutoff=args.smooth_min_cutoff, smooth_beta=args.smooth_beta, body_model=args.body_model,
        gender=args.gender, device=args.device, data_dir=args.data_dir,
    )
    build_config(RunOptions.from_kwargs(**options))  # a bad flag or config fails now, not after rendering the sample
    video = sample_video(args.output_folder) if args.sample else args.video
    inputs = expand_input(video, args.output_folder)
    if shard is None and inputs == [BatchInput(Path(video).expanduser(), Path(args.output_folder))]:
        # one input, not a batch: it always runs, and its error, if any, ends the command as one line
        print(run(video, args.output_folder, **options).summary())
        return 0
    batch = run_inputs(select_shard(inputs, shard), redo=args.redo, table=summary_table_path(args.output_folder, shard),
                       **options)
    print(batch.summary())
    return EXIT_SOME_FAILED if batch.failed else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
