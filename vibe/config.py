"""One config system (yacs): every default lives here, YAML files in configs/ override them,
and the command line overrides those (`--cfg file.yaml` then `KEY VALUE` pairs, e.g.
`TRACKER.MIN_TRACK_LEN 10`).

Each pipeline stage owns one section; code reads its numbers from the config object passed to
it instead of hard-coding them.
"""
from __future__ import annotations

import logging
import os
import re
from ast import literal_eval
from pathlib import Path

import yaml
from yacs.config import CfgNode as CN

from vibe.errors import InputError

log = logging.getLogger(__name__)

DATA_DIR_ENV = "VIBE_DATA_DIR"
DEFAULT_DATA_DIR = "data/vibe_data"
# yacs's merge errors, rewritten as one line naming the key (vibe.config._merge_error).
_YACS_UNKNOWN_KEY = re.compile(r"Non-existent (?:config )?key: (\S+)")
_YACS_TYPE_MISMATCH = re.compile(r"for config key: (\S+)$")

_C = CN()
_C.DEVICE = "auto"  # auto | cpu | cuda[:N]
_C.SEED = 0
_C.DATA_DIR = ""  # empty: $VIBE_DATA_DIR, else data/vibe_data
_C.NUM_THREADS = 0  # torch intra-op threads; 0 keeps torch's default

# Body model (SMPL from the data dir, else the bundled open body).
_C.BODY = CN()
_C.BODY.MODEL = "auto"  # auto | smpl | open
_C.BODY.GENDER = "neutral"
_C.BODY.NUM_BETAS = 10

# Crops handed from the tracker to the network and the keypoint detector.
_C.CROP = CN()
_C.CROP.BBOX_SCALE = 1.1  # square box side x this = crop side actually used
_C.CROP.SIZE = 224  # network input side (ResNet-50 pools 7x7)
_C.CROP.KEYPOINT_SIZE = 256  # keypoint detector crop side
_C.CROP.MEAN = [0.485, 0.456, 0.406]  # ImageNet normalisation
_C.CROP.STD = [0.229, 0.224, 0.225]

# 2D keypoints: BlazePose's landmark model (bundled in mediapipe) run through LiteRT on crops.
_C.KEYPOINTS = CN()
_C.KEYPOINTS.BBOX_SCALE = 1.4  # keypoint crop side = box side x this (BlazePose wants margin; BENCHMARKS.md)
_C.KEYPOINTS.NUM_THREADS = 2  # LiteRT CPU threads
_C.KEYPOINTS.MIN_PERSON_SCORE = 0.5  # below: no person in the crop (mediapipe's threshold)
# Two tracks' keypoints whose median distance is under this x the box side show one person
# (vibe/keypoints/ownership.py); the track whose box is centred on them keeps them. Joints count
# when confident (>= OWNERSHIP_MIN_CONFIDENCE) in both.
_C.KEYPOINTS.SAME_PERSON_SEPARATION = 0.1
_C.KEYPOINTS.OWNERSHIP_MIN_CONFIDENCE = 0.5

# Camera conventions.
_C.CAMERA = CN()
_C.CAMERA.FOCAL_LENGTH = 5000.0  # px on a CROP.SIZE crop: weak perspective <-> perspective
_C.CAMERA.VIBE_CROP_SIDE_COMPAT = False
# The full-image camera of the fitting path, the overlay and the exports' root motion: a pinhole
# with the principal point at the image centre and focal = FOCAL_DIAG_FACTOR * image diagonal
# (1.0 = a 53 degree diagonal field of view, typical of phone and webcam lenses; CLIFF's choice).
_C.CAMERA.FOCAL_DIAG_FACTOR = 1.0  # True reproduces VIBE's overlay that ignores BBOX_SCALE

# Tracker (detection, association, post-processing).
_C.TRACKER = CN()
_C.TRACKER.DETECTOR = "auto"  # auto (= centernet) | centernet | blazepose | hog | yolo
# Score thresholds, one per detector (their scores mean different things). CenterNet: 0.3 found 29
# of 30 annotated real people with 1 false box, 0.4 lost 3 more, 0.2 added 8 false boxes
# (BENCHMARKS.md, detection).
_C.TRACKER.CENTERNET_THRESHOLD = 0.3
_C.TRACKER.BLAZEPOSE_THRESHOLD = 0.5
_C.TRACKER.HOG_THRESHOLD = 0.5
_C.TRACKER.YOLO_THRESHOLD = 0.5
_C.TRACKER.DETECTOR_THREADS = 2  # onnxruntime intra-op threads of the CenterNet detector
_C.TRACKER.NMS_IOU = 0.45
_C.TRACKER.BATCH_SIZE = 8
_C.TRACKER.MAX_GAP_SECONDS = 1.0  # re-associate across gaps up to this long
_C.TRACKER.MIN_IOU = 0.2
_C.TRACKER.MIN_TRACK_LEN = 1  # frames; short tracks are kept (with a warning) by default
# A track seen by the detector fewer times than this is noise, not a person; a shot (a video, a
# photo, a run of similar frames between cuts) searched fewer times asks only that many.
_C.TRACKER.MIN_DETECTIONS = 2
# ... and once at least this score (ByteTrack's idea: low scores continue tracks, a high one must
# confirm them). On vtest.avi every person's track peaks at >= 0.60 with CenterNet, every track on
# an object (a bin, a cloth) at <= 0.43. No effect with detectors thresholded at >= this.
_C.TRACKER.MIN_PEAK_SCORE = 0.5
# Shot cuts (tracker/cuts.py): no track continues across a frame whose hue-saturation histogram
# correlates with the previous detector frame's below CUT_MIN_CORRELATION (consecutive real frames
# >= 0.99, unrelated photos <= 0.6), or whose size differs.
_C.TRACKER.SHOT_CUTS = True
_C.TRACKER.CUT_MIN_CORRELATION = 0.8
_C.TRACKER.CUT_HUE_BINS = 16
_C.TRACKER.CUT_SATURATION_BINS = 8
_C.TRACKER.SMOOTH_BOXES = True
_C.TRACKER.SMOOTH_SIGMA_SECONDS = 0.1  # Gaussian smoothing of box centre/side over time
_C.TRACKER.SHORT_TRACK_SECONDS = 1.0  # kept tracks shorter than this are reported in a warning
_C.TRACKER.DETECT_STRIDE = 3  # run the detector every Nth frame; the Kalman tracker carries between
_C.TRACKER.GATE_CHI2 = 9.21  # Mahalanobis gate on the box centre (chi-square, 2 dof, 99%)
_C.TRACKER.MOTION_WEIGHT = 0.5  # cost = (1 - IoU) + MOTION_WEIGHT * d2 / GATE_CHI2
_C.TRACKER.KALMAN_POS_STD = 0.05  # process noise, fraction of the box height per frame
_C.TRACKER.KALMAN_VEL_STD = 0.01
_C.TRACKER.KALMAN_MEAS_STD = 0.05  # detector noise, fraction of the box height
_C.TRACKER.MAX_DECODE_FAILURES = 25  # consecutive undecodable frames before the video counts as ended
# A video whose frames' timestamps are spaced unevenly by more than this x their mean interval has a
# variable frame rate (warned about: its frames are timed at a constant rate). Millisecond container
# timestamps jitter by 3% at 30 fps and 12% at 120 fps; phones' variable rates spread far more.
_C.TRACKER.VFR_TOLERANCE = 0.25
# Detector pyramid: tiles of these many source pixels, each resized to the model's 224 px input.
# 224 finds people ~60-200 px tall (vtest's pedestrians); 0 means the whole frame (its shorter
# side), which finds people filling the frame, whom small tiles cut into parts.
_C.TRACKER.BLAZEPOSE_TILES = [224, 0]
_C.TRACKER.CONTAINED_FRACTION = 0.7  # drop a box this much inside a higher-scoring one (a part of a person)
_C.TRACKER.BLAZEPOSE_TILE_OVERLAP = 0.25  # fraction of a tile shared with its neighbour
_C.TRACKER.BLAZEPOSE_THREADS = 2
_C.TRACKER.HOG_WIN_STRIDE = 8
_C.TRACKER.HOG_SCALE = 1.05
_C.TRACKER.YOLO_CFG = "yolov3.cfg"  # relative to DATA_DIR; used when present (DETECTOR auto | yolo)
_C.TRACKER.YOLO_WEIGHTS = "yolov3.weights"
_C.TRACKER.YOLO_IMG_SIZE = 416  # VIBE's --yolo_img_size

# Network path (frozen ResNet-50 -> GRU encoder -> IEF regressor).
_C.MODEL = CN()
_C.MODEL.SPIN_CHECKPOINT = "spin_model_checkpoint.pth.tar"  # relative to DATA_DIR
_C.MODEL.VIBE_CHECKPOINT = "vibe_model_wo_3dpw.pth.tar"
_C.MODEL.GRU_HIDDEN = 1024
_C.MODEL.GRU_LAYERS = 2
_C.MODEL.FEATURE_DIM = 2048
_C.MODEL.IEF_ITERS = 3
_C.MODEL.FEATURE_BATCH_SIZE = 16
_C.MODEL.SEQUENCE_MODE = "window"  # window (batch-size independent) | chunk (VIBE parity)
_C.MODEL.SEQLEN = 16
_C.MODEL.WINDOW_OVERLAP = 8
_C.MODEL.CHUNK_SIZE = 450  # VIBE's --vibe_batch_size
_C.MODEL.BODY_BATCH_SIZE = 256  # frames per body-model call when meshing a track
_C.MODEL.AUTOCAST = "none"  # none | bf16 (GPU; CPU too: ~1.6x faster backbone with AVX-512 bf16) | fp16 (GPU only)
_C.MODEL.COMPILE_BACKBONE = False  # torch.compile the frozen ResNet-50: ~1.8x on CPU after ~20 s compile

# Fitting path (temporal SMPLify).
_C.FITTING = CN()
_C.FITTING.GMM_PRIOR = "gmm_08.pkl"  # relative to DATA_DIR; when absent: BUNDLED_PRIOR
# Pose prior without the user's gmm_08.pkl: a GMM in vibe/fitting/assets (tools/fit_pose_prior.py,
# learned from the CMU motion library), or "" for the hand-made prior (OWN_PRIOR_* below). With
# PRIOR_STARTS 8 it fits held-out real motion 34 % better (PA-MPJPE) than the hand-made one
# (BENCHMARKS.md, "Pose prior learned from the motion library").
_C.FITTING.BUNDLED_PRIOR = "cmu_gmm_08.pkl"
# The bundled GMM's cost is multiplied by this (on top of POSE_PRIOR_W, which is SPIN's weight for
# SMPLify's own GMM): fitted to other data, its best weight on real motion was ~5, not 22.85.
_C.FITTING.BUNDLED_PRIOR_SCALE = 0.22
# Processes fitting tracks in parallel (each on one torch thread): 0 = one per CPU core when a
# video has several tracks; 1 = all in the main process. Always 1 on a GPU.
_C.FITTING.WORKERS = 0
_C.FITTING.MIN_CONFIDENCE = 0.1  # keypoints below this confidence count as missing
_C.FITTING.DEPTH_SMOOTH_FRAMES = 5  # median window over the per-frame torso-length depth estimates
_C.FITTING.FACING_AMBIGUOUS_RATIO = 0.35  # 2D shoulder width / torso length below this: try both facings
# 2D residuals are rescaled to a virtual view with this many pixels per metre at the body's initial
# depth (a body then spans ~170 px, as in SPIN's 224 px crops), so SPIN's weights carry over and
# the fit does not depend on the image resolution or the person's size in it.
_C.FITTING.PX_PER_METRE = 100.0
_C.FITTING.ROBUST_SIGMA = 100.0  # Geman-McClure scale, virtual px (SMPLify: 100)
# Prior weights: SPIN's SMPLify values squared (pose 4.78^2, angle 15.2^2), scaled per stage by
# STAGE_PRIOR_SCALES. The shape prior (5 per frame in the last stage) is far weaker than SPIN's
# 5^2: at 25 per frame it held population-spread betas (N(0, 1)) near zero, and the wrong limb
# lengths cost 5-10 mm PA-MPJPE on synthetic tracks.
_C.FITTING.DATA_W = 1.0
_C.FITTING.POSE_PRIOR_W = 22.85
_C.FITTING.ANGLE_PRIOR_W = 0.0  # SPIN: 231; off: the joint limits below forbid wrong-way knees and elbows
_C.FITTING.SHAPE_PRIOR_W = 1.0
_C.FITTING.SMOOTH_JOINTS_W = 1.0e4  # x squared 2nd difference of 3D joints (m) summed over joints
_C.FITTING.SMOOTH_POSE_W = 10.0  # x squared 2nd difference of axis-angle pose (rad)
# Annealing (SMPLify-X): per body stage, a multiplier of the pose, angle and shape prior weights
# and an L-BFGS iteration count; strong priors first, stronger data last. The camera stage (global
# orientation and translation on the torso) runs before them. Tuned for detector keypoints (BlazePose):
# ending at 5 rather than 0.1 cut the built-in sample's PA-MPJPE from 37.0 to 32.2 mm and the
# synthetic noisy tracks' from 38.1 to 35.3 (BENCHMARKS.md); keypoints without noise fit better
# with configs/precise_keypoints.yaml.
_C.FITTING.STAGE_PRIOR_SCALES = [10.0, 5.0, 5.0]
# Every stage ends on its cap; a last stage of 600 converges further but fits worse with these
# priors (BENCHMARKS.md, fifth session); the precise profile uses 600.
_C.FITTING.STAGE_ITERS = [30, 30, 300]
_C.FITTING.CAMERA_ITERS = 40
# Also run the first body stage from these start poses (vibe/fitting/smplify.py START_POSES: "rest"
# = arms horizontal, "squat", and "reach", "squat_reach" with the forearms forward) and keep, per
# frame, the start that reprojects best (only without an initial pose from the network path).
# Each start costs one more first stage. The forearm starts help precise keypoints only.
_C.FITTING.EXTRA_STARTS = ["rest", "squat"]
# Also start from the means of this many of the pose prior's most likely components (a GMM has 8;
# the hand-made prior has one, its mean, which the fit starts from anyway). On real motion a fit
# from one start stops in the wrong pose (from the truth the GMM's fit is twice as close): 4
# starts cut PA-MPJPE by 19 %, 8 by 23 %; each start adds a first stage (30 iterations).
_C.FITTING.PRIOR_STARTS = 8
# How each frame chooses between starts: "reprojection" (the 2D data term alone) or "objective"
# (data plus the pose prior and joint limits: with a learned prior the likelier of two poses that
# reproject alike wins, a depth ambiguity the data cannot decide).
_C.FITTING.START_JUDGE = "reprojection"
# The extra starts run the body stages up to this one (0-based) before each frame keeps the best.
_C.FITTING.START_JUDGE_STAGE = 0
# Depth-flip search (vibe/fitting/flips.py): after these body stages (0-based, not the last), each
# limb takes, per frame, whichever of its four depth states (upper/lower bone flipped about the
# camera ray) the per-frame objective prefers, chosen along the track with FLIP_SMOOTH_W x the
# squared second differences (m) of the limb's joints as the cost of switching; the next stage's
# first FLIP_VERIFY_ITERS iterations run from the flipped and the unflipped pose, and the track
# keeps whichever ends lower (each search costs FLIP_VERIFY_ITERS more iterations). Empty: off.
_C.FITTING.FLIP_AFTER_STAGES = [0]
_C.FITTING.FLIP_SMOOTH_W = 1.0e4
_C.FITTING.FLIP_VERIFY_ITERS = 30
# Keep a run of flipped frames only if it lowers the per-frame objective, summed over the run, by
# more than this per frame (smoothness alone must not move a limb off the optimiser's pose: on
# noisy tracks it did, wrongly; a margin of 5 already rejected every flip on the bench).
_C.FITTING.FLIP_MIN_GAIN = 0.0
_C.FITTING.FLIP_LIMBS = ["left_arm", "right_arm"]  # of vibe/fitting/flips.py LIMBS; the legs gained nothing
_C.FITTING.LBFGS_LR = 1.0
_C.FITTING.LBFGS_HISTORY = 20
_C.FITTING.TOLERANCE_CHANGE = 1e-7  # relative loss change that ends a stage early
# Body stages can move the per-frame variables in a temporally smoothed coordinate (vibe/fitting/
# precondition.py): x = x0 + (I + c D^T D)^(-1/2) z, D the second difference, in windows of
# PRECONDITION_WINDOW frames, c = PRECONDITION_STIFFNESS; 0: off. Same minima, reached sooner.
_C.FITTING.PRECONDITION_STIFFNESS = 0.0
_C.FITTING.PRECONDITION_WINDOW = 64
# Own pose prior (used without gmm_08.pkl): a Gaussian on the 69-d body pose around a standing
# pose (per-joint spreads in vibe/fitting/priors.py, times this scale) plus a quadratic hinge on
# each joint's rotation angle beyond a limit.
_C.FITTING.OWN_PRIOR_SIGMA_SCALE = 1.0
_C.FITTING.OWN_PRIOR_LIMIT = 2.0  # rad, per-joint rotation angle before the hinge engages
_C.FITTING.OWN_PRIOR_LIMIT_W = 100.0
# Anatomical joint limits (vibe/fitting/priors.py JOINT_LIMITS: asymmetric published ranges of
# motion), with either pose prior: this x squared excess (rad) beyond each range, every stage.
_C.FITTING.JOINT_LIMIT_W = 1000.0

# Training (VIBE's reproduction recipe).
_C.TRAIN = CN()
_C.TRAIN.SEQLEN = 16
_C.TRAIN.BATCH_SIZE = 32
_C.TRAIN.DATA_2D_RATIO = 0.6
_C.TRAIN.EPOCHS = 30
_C.TRAIN.ITERS_PER_EPOCH = 500
_C.TRAIN.GEN_LR = 5e-5
_C.TRAIN.GEN_WD = 0.0
_C.TRAIN.DISC_LR = 1e-4
_C.TRAIN.DISC_WD = 1e-4
_C.TRAIN.LR_FACTOR = 0.1
_C.TRAIN.LR_PATIENCE = 5
_C.TRAIN.OUTPUT_DIR = "runs"
_C.TRAIN.DB_DIR = "data/vibe_db"  # VIBE's preprocessed files (3dpw_*_db.pt, insta_train_db.h5, ...)
_C.TRAIN.DATASETS_2D = ["insta"]
_C.TRAIN.DATASETS_3D = ["mpii3d"]  # add "3dpw" to train on 3DPW (VIBE's released model does not)
_C.TRAIN.DATASET_EVAL = "3dpw"  # validated each epoch on its "val" split; PA-MPJPE drives the schedulers
_C.TRAIN.OVERLAP = CN({"3dpw": 0.75, "mpii3d": 0.0, "insta": 0.0})  # window overlap per training set (VIBE's)
_C.TRAIN.DB_BBOX_SCALE = 1.2  # VIBE cut the feature crops at 1.2 x the stored box side
_C.TRAIN.PRETRAINED_REGRESSOR = "spin_model_checkpoint.pth.tar"  # relative to DATA_DIR; "" or absent: from scratch
_C.TRAIN.DISC_HIDDEN = 1024
_C.TRAIN.DISC_LAYERS = 2
_C.TRAIN.DISC_UPDATE_STEPS = 1  # discriminator step every N generator steps
_C.TRAIN.PROGRESS_BAR = True
_C.TRAIN.DIST_BACKEND = "auto"  # torchrun: gloo on CPU, nccl on CUDA

# Preprocessing raw dataset releases into VIBE's db files (tools/preprocess.py, vibe/data/preprocess).
# Feature crops are cut at TRAIN.DB_BBOX_SCALE x the stored box side (the readers use the same key).
_C.PREPROCESS = CN()
_C.PREPROCESS.AMASS_FPS = 25.0  # motion clips resampled to this rate (nearest source frame in time)
_C.PREPROCESS.VIS_THRESH = 0.3  # 2D keypoint confidence above this counts as visible (VIBE's)
_C.PREPROCESS.MIN_VISIBLE_JOINTS = 7  # frames with fewer visible common-14 joints are dropped (VIBE: > 6)
_C.PREPROCESS.BOX_MARGIN = 1.1  # stored box side = the visible joints' larger extent x this (VIBE's)
_C.PREPROCESS.WORK_DIR = ""  # per-sequence partial files; empty: <out>/.preprocess_work/<dataset>_<split>
_C.PREPROCESS.KEEP_PARTS = False  # keep the partial files after the db file is assembled
_C.PREPROCESS.VERIFY_CRC = False  # also check each TFRecord data checksum (pure Python: slow)
_C.PREPROCESS.MPII3D_CAMERAS = [0, 1, 2, 4, 5, 6, 7, 8]  # MPI-INF-3DHP training cameras (VIBE's chest-height ones)
# Keep every k-th MPI-INF-3DHP training frame: 1 = all (VIBE); SPIN kept every 10th. A larger k
# shrinks the db and the feature pass k times but lowers the frame rate inside each window.
_C.PREPROCESS.MPII3D_FRAME_STRIDE = 1

# Retargeting motion capture onto the body (vibe/data/mocap/retarget.py, tools/preprocess.py mocap).
# The objective is per frame, in units of RETARGET_DATA_SIGMA_M: a point 1 cm off costs 1, a prior
# term costing 1 trades against that; the once-per-subject terms (shape, offsets) are scaled by the
# number of frames of the shape stage so that the balance does not depend on it.
_C.MOCAP = CN()
_C.MOCAP.RETARGET_SHAPE_FRAMES = 64  # shape stage subset: enough varied poses to tell shape from pose
_C.MOCAP.RETARGET_SHAPE_ITERS = 150
_C.MOCAP.RETARGET_POSE_ITERS = 150
_C.MOCAP.RETARGET_DATA_SIGMA_M = 0.01
_C.MOCAP.RETARGET_SHAPE_W = 1.0  # x |betas|^2 (unit-variance shape space); 0.1-0.3 let betas reach 4-8 std
_C.MOCAP.RETARGET_OFFSET_W = 0.1  # x |offset / data_sigma|^2: an offset takes ~90 % of a steady residual
_C.MOCAP.RETARGET_JOINT_LIMIT_W = 100.0  # x squared excess past the limits (rad^2): 0.1 rad costs 1
_C.MOCAP.RETARGET_TWIST_W = 1.0  # x 2 (1 - cos twist) ~ twist^2 (rad) per joint: only unobservable twist yields
_C.MOCAP.RETARGET_POSE_W = 0.01  # x |R - I|^2 ~ 2 angle^2 (rad) per joint: pins joints no point depends on
# x squared 2nd difference of the local rotation matrices at 30 fps (scaled by (fps / 30)^4, so
# that it weighs the same angular acceleration at any rate). On CMU takes at 30 fps, 10 left 4-20
# joint turns over 30 degrees between two frames per take (a shoulder overhead swapping sides of
# half a turn, single-frame marker glitches), 300 none, for 0.3-1.3 mm more error.
_C.MOCAP.RETARGET_SMOOTH_W = 300.0
_C.MOCAP.RETARGET_MAX_SCALE_RATIO = 2.0  # mocap / body bone lengths beyond x2 (or below /2): not metres
_C.MOCAP.RETARGET_LBFGS_HISTORY = 20
_C.MOCAP.RETARGET_TOLERANCE_CHANGE = 1e-9  # relative loss change that ends a stage early

_C.LOSS = CN()
_C.LOSS.KP_2D_W = 300.0
_C.LOSS.KP_3D_W = 300.0
_C.LOSS.POSE_W = 60.0
_C.LOSS.SHAPE_W = 0.06
_C.LOSS.D_MOTION_LOSS_W = 0.5  # generator adversarial term and discriminator loss (as VIBE)

# Evaluation (eval.py and the per-epoch validation).
_C.EVAL = CN()
_C.EVAL.DATASET = "3dpw"  # 3dpw | mpii3d
_C.EVAL.SET = "test"  # 3dpw: train | val | test; mpii3d: val (VIBE's name for the test set)
_C.EVAL.SEQLEN = 16  # non-overlapping windows per video, as VIBE's evaluation
_C.EVAL.BATCH_SIZE = 32  # windows per forward pass

# Rendering and outputs.
_C.RENDER = CN()
_C.RENDER.BACKEND = "auto"  # auto (moderngl EGL, else software) | moderngl | software
_C.RENDER.SMOOTH_MIN_CUTOFF = 0.004  # One Euro filter (VIBE's --smooth defaults)
_C.RENDER.SMOOTH_BETA = 0.7
_C.RENDER.MESH_ALPHA = 0.9  # opacity of the mesh over the video frame
_C.RENDER.AMBIENT = 0.35  # shade = colour * (AMBIENT + DIFFUSE * |normal . light|)
_C.RENDER.DIFFUSE = 0.65
_C.RENDER.LIGHT_DIR = [0.0, -0.4, -1.0]  # towards the light, camera coords (x right, y down, z forward)
_C.RENDER.NEAR = 0.05  # metres; faces closer to the camera than this are not drawn
_C.RENDER.FAR = 200.0
_C.RENDER.SIDEVIEW_BACKGROUND = [255, 255, 255]  # RGB of the --sideview canvas
_C.RENDER.EGL_LIBRARY = ""  # empty: the system libEGL; else a path (e.g. a vendor EGL)
_C.RENDER.FFMPEG_EXE = ""  # empty: the ffmpeg bundled in imageio-ffmpeg
_C.RENDER.VIDEO_CRF = 18  # libx264 quality (lower = better, 18 ~ visually lossless)
_C.RENDER.VIDEO_PRESET = "veryfast"  # libx264 speed/size trade-off
_C.RENDER.IMAGE_QUALITY = 95  # JPEG quality (0-100) of a one-frame input's overlay and tracks images

# Exporters (glTF binary, BVH, OBJ; vibe/io/exporters).
_C.EXPORT = CN()
# Skin influences per vertex in the .glb: 4 (one JOINTS/WEIGHTS set, all viewers) or 8 (two sets;
# exact for the open body, whose vertices have up to 7; viewers reading one set use the top 4).
_C.EXPORT.GLTF_MAX_INFLUENCES = 8
_C.EXPORT.BVH_UNITS_PER_METRE = 1.0  # 1 = metres (Blender imports at true size), 100 = centimetres
_C.EXPORT.BVH_EULER_ORDER = "ZXY"  # rotation channel order; R = R_Z @ R_X @ R_Y for "ZXY"

# The demo pipeline (vibe/pipeline): which tracks become results, and the stream batching.
_C.DEMO = CN()
_C.DEMO.MIN_TRACK_FRAMES = 1  # shorter tracks are skipped with a warning (and counted), never silently
# Fitting path: a track needs a person in its keypoint crops (KEYPOINTS.MIN_PERSON_SCORE) on at least
# this fraction of its frames; others are skipped as false detections. Frames below the score keep
# the track but give it no keypoints (the fit fills them from their neighbours).
_C.DEMO.MIN_KEYPOINT_FRACTION = 0.5
_C.DEMO.KEYPOINT_BATCH_SIZE = 16  # keypoint crops held at once in the crop pass
_C.DEMO.SMOOTH_D_CUTOFF = 1.0  # One Euro speed cutoff, cycles per frame (min_cutoff/beta: RENDER.SMOOTH_*)
_C.DEMO.CACHE = True  # reuse tracking / features / keypoints under <output>/<video>/cache/

# The built-in sample clip (vibe/sample.py): the open body in clothes colours playing the motions
# of vibe/body/motions.py one after another over a textured floor and wall.
_C.SAMPLE = CN()
_C.SAMPLE.FPS = 25
_C.SAMPLE.WIDTH = 640
_C.SAMPLE.HEIGHT = 480
_C.SAMPLE.MOTIONS = ["walking", "turning", "arm_swings", "crouching"]  # names in vibe.body.motions.MOTIONS
_C.SAMPLE.MOTION_SECONDS = [2.0, 1.6, 1.7, 2.5]  # per motion; the clip lasts their sum
_C.SAMPLE.HEADINGS_DEG = [70.0, 70.0, 0.0, 0.0]  # per motion, body yaw (0 faces the camera, 90 walks right)
_C.SAMPLE.BLEND_SECONDS = 0.6  # each motion eases in from the previous one's last pose
_C.SAMPLE.CAMERA_DISTANCE = 4.8  # metres from the camera to the mean pelvis position
_C.SAMPLE.CAMERA_ELEVATION_DEG = 8.0  # looking down
_C.SAMPLE.CAMERA_AZIMUTH_DEG = 0.0  # round the body (adds to every heading)
_C.SAMPLE.FOCAL_DIAG_FACTOR = 1.0  # focal = this x image diagonal (px)
_C.SAMPLE.WALL_DISTANCE = 2.5  # metres behind the mean pelvis position, across the view


def get_cfg_defaults() -> CN:
    """A fresh copy of the defaults (callers may mutate it)."""
    return _C.clone()


def load_config(yaml_path: str | os.PathLike | None = None, opts: list[str] | None = None) -> CN:
    """Defaults, overridden by `yaml_path`, overridden by `opts` (flat KEY VALUE list).

    Unknown keys, values of the wrong type and unreadable or malformed files are input errors
    whose one line names the key, or the file (and the line of a YAML syntax error).
    """
    cfg = get_cfg_defaults()
    if yaml_path:
        _merge_yaml_file(cfg, Path(yaml_path))
    if opts:
        merge_overrides(cfg, list(opts))
    cfg.freeze()
    return cfg


def merge_overrides(cfg: CN, opts: list) -> None:
    """Merge KEY VALUE pairs (command-line strings or values) into the unfrozen `cfg`; InputError
    naming the key when one is unknown or of the wrong type."""
    if len(opts) % 2:
        raise InputError(f"config overrides must come as KEY VALUE pairs, got {' '.join(map(str, opts))}")
    try:
        cfg.merge_from_list(_widened_opts(cfg, opts))
    except (KeyError, ValueError, AssertionError) as err:
        raise _merge_error("config override", err, cfg) from None


def _merge_yaml_file(cfg: CN, path: Path) -> None:
    """Merge the YAML file at `path` (a mapping of sections) into the unfrozen `cfg`."""
    where = f"config file {path}"
    if path.is_dir():
        raise InputError(f"{where} is a folder; pass a YAML file to --cfg (e.g. configs/default.yaml)")
    if not path.is_file():
        raise InputError(f"{where} not found; pass an existing YAML file to --cfg")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"{where} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{where} is not a text file; pass a YAML file to --cfg") from None
    except yaml.YAMLError as err:
        raise InputError(f"{where}{_yaml_error_text(err)}; fix it (each section a 'NAME:' line, "
                         "its keys indented under it as 'KEY: value')") from None
    if loaded is None:
        log.warning("%s is empty; using the defaults", where)
        return
    if not isinstance(loaded, dict):
        raise InputError(f"{where} holds a YAML {type(loaded).__name__}, not a mapping of sections; write "
                         "'NAME:' lines with indented 'KEY: value' lines under them, as in configs/default.yaml")
    try:
        override = CN(loaded)
        _widen_ints(cfg, override)
        cfg.merge_from_other_cfg(override)
    except (KeyError, ValueError, AssertionError) as err:
        raise _merge_error(where, err, cfg) from None


def _yaml_error_text(err: yaml.YAMLError) -> str:
    """', line L, column C: malformed YAML (what the parser expected, and where the construct it was
    reading began)' from a yaml error."""
    mark, context, opened = (getattr(err, name, None) for name in ("problem_mark", "context", "context_mark"))
    place = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or " ".join(str(err).split())
    if context and opened is not None:
        problem += f" {context} begun on line {opened.line + 1}"
    return f"{place}: malformed YAML ({problem})"


def _merge_error(where: str, err: Exception, cfg: CN) -> InputError:
    """One line from a yacs merge error: the unknown key, or the key and the type it needs (yacs's
    own type-mismatch message prints whole sections, many lines long)."""
    message = " ".join(str(err).strip("'\"").split())
    unknown = _YACS_UNKNOWN_KEY.search(message)
    if unknown:
        return InputError(f"{where}: unknown key {unknown.group(1)}; see vibe/config.py for the valid keys")
    mismatch = _YACS_TYPE_MISMATCH.search(message)
    if mismatch:
        key = mismatch.group(1)
        return InputError(f"{where}: {key} must be {_expected_value(_value_at(cfg, key))}; "
                          "see vibe/config.py for its meaning")
    return InputError(f"{where}: {message}; see vibe/config.py for the valid keys")


def _value_at(cfg: CN, key: str):
    """The value of the dotted `key` in `cfg` (a CfgNode for a section), None when there is none."""
    node = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, CN) else None
    return node


def _expected_value(default) -> str:
    """What a value replacing `default` must look like, for an error message."""
    if isinstance(default, CN):
        return "a section (indented 'KEY: value' lines), not a single value"
    if isinstance(default, bool):
        return f"true or false (default {default})"
    kind = {int: "a whole number", float: "a number", str: "a text", list: "a list", tuple: "a list"}
    return f"{kind.get(type(default), type(default).__name__)} (default {default!r})"


def _widen_ints(reference: CN, override: CN) -> None:
    """Turn ints into floats where the default is a float (yacs refuses `W: 5` for `W: 1.0`,
    users expect it to work). Updates `override` in place; unknown keys are left to yacs."""
    for key, value in override.items():
        default = reference.get(key) if isinstance(reference, CN) else None
        if isinstance(value, CN):
            _widen_ints(default, value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            override[key] = float(value)


def _widened_opts(cfg: CN, opts: list[str]) -> list[str]:
    """KEY VALUE pairs with integer VALUEs written as floats where KEY's default is a float."""
    widened = list(opts)
    for index in range(0, len(opts), 2):
        if isinstance(_value_at(cfg, str(opts[index])), float):
            try:
                value = literal_eval(str(opts[index + 1]))
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                widened[index + 1] = repr(float(value))
    return widened


def resolve_data_dir(flag_value: str | os.PathLike | None = None, cfg: CN | None = None) -> Path:
    """The data dir: the --data_dir flag, else cfg.DATA_DIR, else $VIBE_DATA_DIR, else data/vibe_data."""
    for candidate in (flag_value, cfg.DATA_DIR if cfg is not None else None, os.environ.get(DATA_DIR_ENV)):
        if candidate:
            return Path(candidate).expanduser()
    return Path(DEFAULT_DATA_DIR)
