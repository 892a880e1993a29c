"""Network numbers checked against hand computations and second methods."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from vibe.models.backbone import ResNet50Backbone, fuse_for_inference
from vibe.models.discriminator import MotionDiscriminator
from vibe.models.generator import VibeGenerator, build_generator
from vibe.models.regressor import Regressor, fallback_mean_params, load_mean_params
from vibe.models.temporal import TemporalEncoder
from vibe.errors import AssetError

RESNET50_PARAMS_WITHOUT_FC = 23_508_032  # torchvision resnet50: 25,557,032 minus fc (2048*1000 + 1000)


def tiny_regressor():
    """Feature dim 1; every weight zero except a hand-made chain (hidden unit 0 only).

    h1 = x + s (fc1), h2 = 0.5 h1 (fc2), s += h2, betas[0] += 2 h2, pose6d[2] += h2.
    """
    reg = Regressor(feature_dim=1).eval()
    for p in reg.parameters():
        nn.init.zeros_(p)
    with torch.no_grad():
        cam_s_column = 1 + 144 + 10  # input = [feature 1, pose 144, betas 10, cam 3]
        reg.fc1.weight[0, 0] = 1.0
        reg.fc1.weight[0, cam_s_column] = 1.0
        reg.fc2.weight[0, 0] = 0.5
        reg.deccam.weight[0, 0] = 1.0
        reg.decshape.weight[0, 0] = 2.0
        reg.decpose.weight[2, 0] = 1.0  # joint 0's 6D element 2 = row 1, column 0 = a1_y
    return reg


def test_ief_and_6d_by_hand():
    # s: 0.9 -> 0.9 + 0.5 (1 + 0.9) = 1.85 -> 1.85 + 0.5 * 2.85 = 3.275 -> 3.275 + 0.5 * 4.275 = 5.4125
    increments = [0.5 * 1.9, 0.5 * 2.85, 0.5 * 4.275]
    generator = VibeGenerator(None, tiny_regressor()).eval()
    with torch.no_grad():
        out = generator(torch.ones(1, 1, 1))
    e = sum(increments)  # 4.5125: a1 = (1, e, 0), a2 = (0, 1, 0) -> rotation about z by atan(e)
    assert out.cam[0, 0].tolist() == pytest.approx([5.4125, 0.0, 0.0])
    assert out.betas[0, 0, 0].item() == pytest.approx(2 * e)
    c, s = 1 / math.hypot(1, e), e / math.hypot(1, e)
    expected_root = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    assert out.rotmat[0, 0, 0].numpy() == pytest.approx(np.array(expected_root), abs=1e-6)
    assert out.rotmat[0, 0, 1:].numpy() == pytest.approx(np.broadcast_to(np.eye(3), (23, 3, 3)), abs=1e-7)
    assert out.pose[0, 0, :3].tolist() == pytest.approx([0.0, 0.0, math.atan(e)], abs=1e-6)
    assert out.theta.shape == (1, 1, 85)


def test_regressor_dropout_only_in_training():
    reg = Regressor(feature_dim=8)
    x = torch.randn(4, 8)
    reg.train()
    torch.manual_seed(0)
    first = reg(x).cam
    assert not torch.allclose(first, reg(x).cam)  # dropout 0.5 active
    reg.eval()
    assert torch.equal(reg(x).cam, reg(x).cam)


def test_mean_params_from_file_and_fallback(tmp_path):
    fallback = fallback_mean_params()
    assert fallback.pose6d[:12].tolist() == [1, 0, 0, 1, 0, 0] * 2 and fallback.cam.tolist() == pytest.approx([0.9, 0, 0])
    pose = np.arange(144, dtype=np.float64)
    np.savez(tmp_path / "smpl_mean_params.npz", pose=pose, shape=np.ones(10), cam=np.array([0.8, 0.1, 0.2]))
    params = load_mean_params(tmp_path)
    assert params.pose6d.tolist() == pose.tolist() and params.cam.tolist() == pytest.approx([0.8, 0.1, 0.2])
    np.savez(tmp_path / "smpl_mean_params.npz", pose=pose[:10], shape=np.ones(10), cam=np.ones(3))
    with pytest.raises(AssetError, match="expected pose/shape/cam"):
        load_mean_params(tmp_path)


def test_temporal_encoder_equals_grucell_steps():
    torch.manual_seed(1)
    enc = TemporalEncoder(feature_dim=6, hidden_size=4, num_layers=2).eval()
    cells = []
    for layer in range(2):
        cell = nn.GRUCell(6 if layer == 0 else 4, 4)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(enc.gru, f"{name}_l{layer}"))
        cells.append(cell)
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        expected = torch.empty_like(x)
        for n in range(3):
            h = [torch.zeros(1, 4), torch.zeros(1, 4)]  # zero state at every sequence start
            for t in range(7):
                h[0] = cells[0](x[n, t:t + 1], h[0])
                h[1] = cells[1](h[0], h[1])
                expected[n, t] = x[n, t] + enc.linear.weight @ torch.relu(h[1][0]) + enc.linear.bias
        assert torch.allclose(enc(x), expected, atol=1e-6)


def test_attention_pooling_by_hand():
    torch.manual_seed(2)
    disc = MotionDiscriminator(input_size=5, hidden_size=8).eval()
    pose = torch.randn(3, 6, 5)
    with torch.no_grad():
        out = disc.score_with_attention(pose)
        gru_out, _ = disc.gru(pose.transpose(0, 1))
    h = gru_out.transpose(0, 1).double()  # (N, T, C)
    layers = [disc.attention.attention[i] for i in (0, 3, 6)]
    a = h
    for lin in layers:
        a = torch.tanh(a @ lin.weight.double().T + lin.bias.double())
    raw = a[..., 0]
    weights = torch.exp(raw) / torch.exp(raw).sum(dim=1, keepdim=True)
    pooled = (h * weights[..., None]).sum(dim=1)
    score = pooled @ disc.fc.weight.double().T + disc.fc.bias.double()
    assert torch.allclose(out.attention.sum(dim=1), torch.ones(3, dtype=out.attention.dtype), atol=1e-6)
    assert torch.allclose(out.attention.double(), weights, atol=1e-6)
    assert torch.allclose(out.score.double(), score, atol=1e-5) and out.score.shape == (3, 1)
    assert disc(pose[:1]).shape == (1, 1)  # one sequence keeps its batch dim


def test_resnet50_architecture_and_fusion():
    torch.manual_seed(3)
    backbone = ResNet50Backbone().eval()
    assert sum(p.numel() for p in backbone.parameters()) == RESNET50_PARAMS_WITHOUT_FC
    for m in backbone.modules():  # non-trivial BN statistics so folding is really exercised
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.0)
    crops = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 224, 224)).shape == (1, 2048)
        features = backbone(crops)
        fused = fuse_for_inference(backbone)(crops)
    assert torch.allclose(fused, features, rtol=1e-4, atol=1e-4 * features.abs().max().item())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fuse_for_inference(backbone).modules())


def test_generator_deterministic():
    torch.manual_seed(4)
    generator = build_generator().eval()
    x = torch.randn(2, 5, 2048)
    with torch.no_grad():
        assert torch.equal(generator(x).theta, generator(x).theta)
