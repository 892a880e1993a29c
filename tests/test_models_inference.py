"""Track inference: feature streaming, the two sequence modes, averaged shape."""
import numpy as np
import pytest
import torch

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.geometry import rotmat_to_axis_angle
from vibe.models.backbone import ResNet50Backbone
from vibe.models.generator import VibeGenerator, build_generator
from vibe.models.inference import central_window, extract_features, predict_track, prepare_backbone, window_starts

N_FRAMES = 37


def cfg_with(**model):
    cfg = get_cfg_defaults()
    for key, value in model.items():
        setattr(cfg.MODEL, key, value)
    return cfg


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    gen = build_generator().eval()
    with torch.no_grad():  # larger pose updates so frames differ visibly
        gen.regressor.decpose.weight.mul_(20)
    return gen


@pytest.fixture(scope="module")
def features():
    return torch.randn(N_FRAMES, 2048, generator=torch.Generator().manual_seed(1))


def brute_force_window(frame, starts, seqlen):
    """The window (start) containing `frame` whose centre is nearest; the earliest on ties."""
    best = None
    for start in starts:
        if start <= frame < start + seqlen:
            dist = abs(frame - (start + (seqlen - 1) / 2))
            if best is None or dist < best[0]:
                best = (dist, start)
    return best[1]


def test_window_cover():
    assert window_starts(37, 16, 8) == [0, 8, 16, 21]
    assert window_starts(16, 16, 8) == [0] and window_starts(5, 16, 8) == [0]
    starts = window_starts(37, 16, 8)
    chosen = central_window(37, starts, 16)
    assert [starts[i] for i in chosen] == [brute_force_window(f, starts, 16) for f in range(37)]
    with pytest.raises(InputError):
        window_starts(37, 16, 16)


def test_window_mode_matches_separate_windows(generator, features):
    cfg = cfg_with(SEQUENCE_MODE="window", SEQLEN=16, WINDOW_OVERLAP=8)
    theta = predict_track(generator, features, cfg).theta
    starts = window_starts(N_FRAMES, 16, 8)
    with torch.no_grad():
        for frame in (0, 11, 12, 20, 27, 36):
            start = brute_force_window(frame, starts, 16)
            alone = generator(features[start:start + 16][None]).theta[0, frame - start]
            assert torch.allclose(theta[frame], alone, atol=1e-5), frame


def test_window_mode_bit_identical_across_batching(generator, features):
    """Frames keep bit-identical results when the track grows (more windows per forward) or batch settings change."""
    longer = torch.cat([features, torch.randn(40, 2048, generator=torch.Generator().manual_seed(9))])
    short = predict_track(generator, features, cfg_with(CHUNK_SIZE=10, FEATURE_BATCH_SIZE=3))
    long = predict_track(generator, longer)
    # 37 frames: windows 0, 8, 16, 21; 77 frames: 0, 8, ..., 56, 61. Frames 0..19 use windows 0 and 8 in both.
    assert torch.equal(short.theta[:20], long.theta[:20]) and torch.equal(short.rotmat[:20], long.rotmat[:20])
    assert not torch.equal(short.theta[20:], long.theta[20:37])  # later frames sit in other windows
    assert torch.equal(short.theta, predict_track(generator, features).theta)  # and runs repeat exactly


def test_chunk_mode_is_vibe_chunks(generator, features):
    theta = predict_track(generator, features, cfg_with(SEQUENCE_MODE="chunk", CHUNK_SIZE=10)).theta
    with torch.no_grad():
        separate = torch.cat([generator(features[s:s + 10][None]).theta[0] for s in range(0, N_FRAMES, 10)])
        whole = generator(features[None]).theta[0]
    assert torch.allclose(theta, separate, atol=1e-5)
    assert not torch.allclose(theta[10:], whole[10:], atol=1e-3)  # the chunk size matters in this mode
    assert torch.allclose(predict_track(generator, features, cfg_with(SEQUENCE_MODE="chunk")).theta, whole, atol=1e-5)


def test_bad_mode_and_empty_track(generator, features):
    with pytest.raises(InputError, match="SEQUENCE_MODE"):
        predict_track(generator, features, cfg_with(SEQUENCE_MODE="bidirectional"))
    with pytest.raises(InputError, match="n >= 1"):
        predict_track(generator, features[:0])


def test_extract_features_streams_and_normalises():
    torch.manual_seed(2)
    backbone = ResNet50Backbone().eval()
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, size=(7, 48, 48, 3), dtype=np.uint8)  # small crops: global pool takes any size
    cfg = cfg_with(FEATURE_BATCH_SIZE=4)
    streamed = extract_features(backbone, [crops[:2], crops[2:5], crops[5:]], cfg)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalised = torch.from_numpy(((crops / 255.0 - mean) / std).transpose(0, 3, 1, 2)).float()
    with torch.no_grad():
        direct = backbone(normalised)
    assert streamed.shape == (7, 2048)
    assert torch.allclose(streamed, direct, atol=1e-4 * direct.abs().max().item())
    again = extract_features(backbone, [crops[:2], crops[2:5], crops[5:]], cfg)
    assert torch.equal(streamed, again)
    cpu_fp16 = extract_features(backbone, [crops], cfg_with(FEATURE_BATCH_SIZE=4, AUTOCAST="fp16"))
    assert torch.equal(cpu_fp16, again)  # no fp16 kernels on the CPU: ignored there
    cpu_bf16 = extract_features(backbone, [crops], cfg_with(FEATURE_BATCH_SIZE=4, AUTOCAST="bf16"))
    assert cpu_bf16.dtype == torch.float32 and not torch.equal(cpu_bf16, again)  # really ran in bf16
    relative = (cpu_bf16 - direct).norm() / direct.norm()
    assert relative < 0.02  # bf16 keeps 8 mantissa bits: ~0.4 % per value, averaging down over 2048 features


def test_averaged_shape_meshes(generator, features, tiny_body_model):
    cfg = cfg_with(BODY_BATCH_SIZE=7)
    pred = predict_track(generator, features, cfg, body_model=tiny_body_model)
    assert torch.allclose(pred.track_betas, pred.betas.mean(dim=0))
    assert pred.betas.std(dim=0).max() > 0  # per-frame betas kept and really differ
    n = N_FRAMES
    with torch.no_grad():  # second route: axis-angle pose, mean betas
        body = tiny_body_model(global_orient=pred.pose[:, :3], body_pose=pred.pose[:, 3:],
                               betas=pred.track_betas.expand(n, -1), pose2rot=True)
    assert torch.allclose(pred.verts, body.verts, atol=1e-4)
    assert pred.kp_3d.shape == (n, 49, 3)
    expected_2d = pred.cam[:, None, :1] * (pred.kp_3d[..., :2] + pred.cam[:, None, 1:])
    assert torch.allclose(pred.kp_2d, expected_2d, atol=1e-6)
    assert torch.allclose(rotmat_to_axis_angle(pred.rotmat).reshape(n, 72), pred.pose, atol=1e-5)


def test_generator_with_body_gives_per_frame_meshes(generator, tiny_body_model):
    gen = VibeGenerator(generator.encoder, generator.regressor, tiny_body_model).eval()
    with torch.no_grad():
        out = gen(torch.randn(2, 3, 2048))
        direct = tiny_body_model(global_orient=out.rotmat[1, 2, :1][None], body_pose=out.rotmat[1, 2, 1:][None],
                                 betas=out.betas[1, 2][None], pose2rot=False)
    assert out.verts.shape == (2, 3, tiny_body_model.num_verts, 3) and out.kp_2d.shape == (2, 3, 49, 2)
    assert torch.allclose(out.verts[1, 2], direct.verts[0], atol=1e-6)


def test_bad_crops_are_input_errors():
    backbone = ResNet50Backbone().eval()
    with pytest.raises(InputError, match="crops must be"):
        extract_features(backbone, [np.zeros((2, 64, 64), np.uint8)])
    with pytest.raises(InputError, match="crops must be"):
        extract_features(backbone, [torch.zeros(2, 64, 64, 3)])  # float must be channels-first


@pytest.mark.slow
def test_compiled_backbone_matches_eager():
    """MODEL.COMPILE_BACKBONE: torch.compile'd folded backbone, last batch padded, same features."""
    torch.manual_seed(5)
    backbone = ResNet50Backbone().eval()
    crops = np.random.default_rng(6).integers(0, 256, size=(6, 64, 64, 3), dtype=np.uint8)
    cfg = cfg_with(COMPILE_BACKBONE=True, FEATURE_BATCH_SIZE=4)
    compiled = extract_features(prepare_backbone(backbone, cfg), [crops], cfg)
    eager = extract_features(backbone, [crops], cfg_with(FEATURE_BATCH_SIZE=4))
    assert compiled.shape == (6, 2048)
    assert torch.allclose(compiled, eager, atol=1e-4 * eager.abs().max().item())
