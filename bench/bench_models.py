"""CPU throughput of the network path (random weights: speed does not depend on their values).

Prints, with 2 threads:
- ResNet-50 feature extraction, batch 16 at 224 px, crops/s: a bare eager forward (NCHW,
  torch.no_grad) and the cheap variants (inference_mode, channels_last, BN folded into the convs,
  torch.compile with frozen weights), then our full `extract_features` pipeline (uint8 crops ->
  normalisation -> rebatching -> `prepare_backbone`) and its time ratio to a bare forward of the
  same module (the pipeline overhead);
- temporal encoder + regressor on one 450-frame sequence, frames/s, in both sequence modes.

Run: `.venv/bin/python bench/bench_models.py [--rounds 3]`. Variants are interleaved round by
round and the median is reported, since the machine's 2 cores may be shared.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import numpy as np
import torch

from vibe.config import get_cfg_defaults
from vibe.models.backbone import ResNet50Backbone, compile_for_inference, fuse_for_inference
from vibe.models.generator import build_generator
from vibe.models.inference import extract_features, predict_track

THREADS = 2
BATCH = 16
CROP = 224
SEQUENCE_FRAMES = 450
SPEC_VIBE_CROPS_PER_S = 8.5  # VIBE's own code on this machine kind (SPEC section 4)
SPEC_CEILING_CROPS_PER_S = 78.0
PIPELINE = "extract_features, default (folded + channels_last)"
PIPELINE_COMPILED = "extract_features, MODEL.COMPILE_BACKBONE"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_rate(fn, items: int, rounds: int) -> float:
    fn()  # warm-up: oneDNN picks and caches its kernels on the first call
    return items / statistics.median(timed(fn) for _ in range(rounds))


def backbone_variants(crops: torch.Tensor) -> dict:
    plain = ResNet50Backbone().eval()
    channels_last = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    fused_nchw = fuse_for_inference(plain, channels_last=False)
    fused = fuse_for_inference(plain)
    crops_cl = crops.contiguous(memory_format=torch.channels_last)
    compiled = compile_for_inference(plain)
    def run(module, x, mode):
        def call():
            with mode():
                module(x)
        return call
    return {
        "bare forward (no_grad, NCHW)": run(plain, crops, torch.no_grad),
        "+ inference_mode": run(plain, crops, torch.inference_mode),
        "+ channels_last": run(channels_last, crops_cl, torch.inference_mode),
        "BN folded, NCHW": run(fused_nchw, crops, torch.inference_mode),
        "BN folded + channels_last": run(fused, crops_cl, torch.inference_mode),
        "BN folded + channels_last + torch.compile(freezing)": run(compiled, crops_cl, torch.inference_mode),
    }, fused, compiled


def bench_backbone(rounds: int) -> None:
    crops = torch.randn(BATCH, 3, CROP, CROP)
    variants, fused, compiled = backbone_variants(crops)
    uint8_crops = np.random.default_rng(0).integers(0, 256, (BATCH, CROP, CROP, 3), dtype=np.uint8)
    cfg, cfg_compiled = get_cfg_defaults(), get_cfg_defaults()
    cfg_compiled.MODEL.COMPILE_BACKBONE = True
    variants[PIPELINE] = lambda: extract_features(fused, [uint8_crops], cfg)
    variants[PIPELINE_COMPILED] = lambda: extract_features(compiled, [uint8_crops], cfg_compiled)
    samples = {name: [] for name in variants}
    for fn in variants.values():
        fn()
    for _ in range(rounds):  # interleaved so a busy neighbour slows every variant alike
        for name, fn in variants.items():
            samples[name].append(timed(fn))
    rates = {name: BATCH / statistics.median(times) for name, times in samples.items()}
    print(f"ResNet-50 features, batch {BATCH}, {CROP} px, {THREADS} threads (median of {rounds}):")
    for name, rate in rates.items():
        print(f"  {name:58s} {rate:6.1f} crops/s")
    for pipeline, bare_name in ((PIPELINE, "BN folded + channels_last"),
                                (PIPELINE_COMPILED, "BN folded + channels_last + torch.compile(freezing)")):
        ours = rates[pipeline]
        print(f"  {pipeline}: overhead vs bare forward of the same module {rates[bare_name] / ours:.3f}x time; "
              f"{ours / SPEC_VIBE_CROPS_PER_S:.1f}x VIBE's {SPEC_VIBE_CROPS_PER_S} crops/s, "
              f"{100 * ours / SPEC_CEILING_CROPS_PER_S:.0f}% of the ~{SPEC_CEILING_CROPS_PER_S:.0f} crops/s ceiling")


def bench_temporal(rounds: int) -> None:
    generator = build_generator().eval()
    features = torch.randn(SEQUENCE_FRAMES, 2048)
    print(f"Temporal encoder + regressor, one {SEQUENCE_FRAMES}-frame sequence, {THREADS} threads:")
    def bare():
        with torch.inference_mode():
            generator(features[None])
    print(f"  {'generator forward, one sequence (VIBE chunk)':58s} {median_rate(bare, SEQUENCE_FRAMES, rounds):6.0f} frames/s")
    for mode in ("chunk", "window"):
        cfg = get_cfg_defaults()
        cfg.MODEL.SEQUENCE_MODE = mode
        rate = median_rate(lambda: predict_track(generator, features, cfg), SEQUENCE_FRAMES, rounds)
        print(f"  {'predict_track, ' + mode + ' mode':58s} {rate:6.0f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}, oneDNN {torch.backends.mkldnn.is_available()}")
    bench_backbone(args.rounds)
    bench_temporal(args.rounds)


if __name__ == "__main__":
    main()
