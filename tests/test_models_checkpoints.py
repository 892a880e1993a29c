"""SPIN/VIBE checkpoint files: exact layouts written from SPEC's table (independently of the code)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from vibe.errors import AssetError
from vibe.models import (load_motion_discriminator, load_spin_backbone, load_spin_regressor, load_vibe,
                         prepare_backbone, save_vibe_checkpoint)

G3 = 3 * 1024  # GRU gates x hidden
HEAD = {  # SPIN/HMR head (SPEC section 3), 2205 = 2048 + 144 + 10 + 3
    "fc1.weight": (1024, 2205), "fc1.bias": (1024,), "fc2.weight": (1024, 1024), "fc2.bias": (1024,),
    "decpose.weight": (144, 1024), "decpose.bias": (144,), "decshape.weight": (10, 1024), "decshape.bias": (10,),
    "deccam.weight": (3, 1024), "deccam.bias": (3,), "init_pose": (1, 144), "init_shape": (1, 10), "init_cam": (1, 3),
}
GEN = {
    "encoder.gru.weight_ih_l0": (G3, 2048), "encoder.gru.weight_hh_l0": (G3, 1024),
    "encoder.gru.bias_ih_l0": (G3,), "encoder.gru.bias_hh_l0": (G3,),
    "encoder.gru.weight_ih_l1": (G3, 1024), "encoder.gru.weight_hh_l1": (G3, 1024),
    "encoder.gru.bias_ih_l1": (G3,), "encoder.gru.bias_hh_l1": (G3,),
    "encoder.linear.weight": (2048, 1024), "encoder.linear.bias": (2048,),
    **{f"regressor.{k}": v for k, v in HEAD.items()},
}
SMPL_JUNK = {"regressor.smpl.v_template": (6890, 3), "regressor.smpl.shapedirs": (6890, 3, 10),
             "regressor.smpl.J_regressor_extra": (9, 6890)}
DISC = {
    "gru.weight_ih_l0": (G3, 69), "gru.weight_hh_l0": (G3, 1024), "gru.bias_ih_l0": (G3,), "gru.bias_hh_l0": (G3,),
    "gru.weight_ih_l1": (G3, 1024), "gru.weight_hh_l1": (G3, 1024), "gru.bias_ih_l1": (G3,), "gru.bias_hh_l1": (G3,),
    "attention.attention.0.weight": (1024, 1024), "attention.attention.0.bias": (1024,),
    "attention.attention.3.weight": (1024, 1024), "attention.attention.3.bias": (1024,),
    "attention.attention.6.weight": (1, 1024), "attention.attention.6.bias": (1,),
    "fc.weight": (1, 1024), "fc.bias": (1,),
}
TORCHVISION_RESNET50_PARAMS = 25_557_032  # with its 1000-way fc
RESNET50_FC_PARAMS = 2048 * 1000 + 1000


def resnet50_table():
    """torchvision's ResNet-50 key names and shapes, written out from the architecture."""
    def bn(prefix, c):
        return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
                f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}
    table = {"conv1.weight": (64, 3, 7, 7), **bn("bn1", 64)}
    in_c = 64
    for layer, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            table |= {f"{p}.conv1.weight": (width, in_c, 1, 1), **bn(f"{p}.bn1", width),
                      f"{p}.conv2.weight": (width, width, 3, 3), **bn(f"{p}.bn2", width),
                      f"{p}.conv3.weight": (4 * width, width, 1, 1), **bn(f"{p}.bn3", 4 * width)}
            if b == 0:
                table |= {f"{p}.downsample.0.weight": (4 * width, in_c, 1, 1), **bn(f"{p}.downsample.1", 4 * width)}
            in_c = 4 * width
    return table


def random_state(table, seed):
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in table.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.02
    return state


def vibe_file_dict(seed=0):
    return {
        "epoch": 29,
        "gen_state_dict": random_state({**GEN, **SMPL_JUNK}, seed),
        "performance": np.float64(56.56),  # VIBE stored a numpy scalar
        "gen_optimizer": {"state": {}, "param_groups": [{"lr": 5e-5, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "disc_motion_state_dict": random_state(DISC, seed + 1),
        "disc_motion_optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0]}]},
    }


@pytest.fixture(scope="module")
def vibe_file(tmp_path_factory):
    """A VIBE checkpoint in the legacy (torch < 1.6, VIBE's era) serialisation."""
    path = tmp_path_factory.mktemp("vibe") / "vibe_model_wo_3dpw.pth.tar"
    contents = vibe_file_dict()
    torch.save(contents, path, _use_new_zipfile_serialization=False)
    return path, contents


@pytest.fixture(scope="module")
def spin_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spin") / "spin_model_checkpoint.pth.tar"
    model = random_state({**resnet50_table(), **HEAD}, seed=5)
    torch.save({"model": model, "epoch": 1, "total_step_count": 10}, path)
    return path, model


def test_resnet50_table_matches_torchvision_parameter_count():
    params = sum(int(np.prod(s)) for k, s in resnet50_table().items()
                 if k.endswith(("weight", "bias")) and "running" not in k)
    assert params + RESNET50_FC_PARAMS == TORCHVISION_RESNET50_PARAMS


def test_vibe_file_loads_every_key(vibe_file):
    path, contents = vibe_file
    generator = load_vibe(path, device="cpu")
    loaded = generator.state_dict()
    assert set(loaded) == set(GEN)  # smpl junk ignored, nothing else missing
    for key in GEN:
        assert torch.equal(loaded[key], contents["gen_state_dict"][key]), key
    assert not generator.training
    disc = load_motion_discriminator(path, device="cpu")
    assert set(disc.state_dict()) == set(DISC)
    for key in DISC:
        assert torch.equal(disc.state_dict()[key], contents["disc_motion_state_dict"][key]), key


def test_numpy1_pickled_scalar_loads(tmp_path, vibe_file):
    """Files written under numpy 1 name numpy.core.multiarray.scalar: still read with weights_only."""
    raw = vibe_file[0].read_bytes()
    assert raw.count(b"numpy._core.multiarray\nscalar") == 1
    old = tmp_path / "old.pth.tar"
    old.write_bytes(raw.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"))
    assert load_vibe(old, device="cpu").regressor.init_cam.shape == (1, 3)


def _write_modified(tmp_path, change):
    contents = vibe_file_dict()
    change(contents["gen_state_dict"])
    path = tmp_path / "bad.pth.tar"
    torch.save(contents, path)
    return path


def test_missing_and_unexpected_keys_listed(tmp_path):
    def change(state):
        del state["encoder.linear.bias"]
        state["encoder.extra.weight"] = torch.zeros(2)
    path = _write_modified(tmp_path, change)
    with pytest.raises(AssetError) as err:
        load_vibe(path, device="cpu")
    message = str(err.value)
    assert "missing keys [encoder.linear.bias]" in message and "unexpected keys [encoder.extra.weight]" in message
    assert "\n" not in message


def test_misshaped_key_names_both_shapes(tmp_path):
    path = _write_modified(tmp_path, lambda s: s.__setitem__("regressor.deccam.weight", torch.zeros(4, 1024)))
    with pytest.raises(AssetError, match=r"regressor\.deccam\.weight has shape \(4, 1024\), expected \(3, 1024\)"):
        load_vibe(path, device="cpu")


def test_truncated_missing_and_foreign_files(tmp_path, vibe_file):
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(vibe_file[0].read_bytes()[: 1 << 20])
    with pytest.raises(AssetError, match="unreadable or truncated") as err:
        load_vibe(truncated, device="cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(AssetError, match="not found"):
        load_vibe(tmp_path / "nope.pth.tar")
    foreign = tmp_path / "foreign.pth"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(AssetError, match="no 'gen_state_dict'"):
        load_vibe(foreign)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"gen_state_dict": {}, "when": __import__("datetime").date(2020, 1, 1)}, unsafe)
    with pytest.raises(AssetError, match="holds a datetime.date object"):
        load_vibe(unsafe)


def test_cuda_tagged_file_loads_on_cpu(tmp_path):
    """A file whose storages are tagged 'cuda:0' (as VIBE's, saved on a GPU) loads on this CPU machine.

    torch has no GPU here, so a separate process registers a storage tagger (torch's public
    serialization hook) that tags every storage 'cuda:0' while saving; plain torch.load then
    refuses the file, which proves the tag, and our loader must still read it.
    """
    path = tmp_path / "cuda_tagged.pth.tar"
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_models_checkpoints import vibe_file_dict
        torch.serialization.register_package(0, lambda storage: 'cuda:0', lambda storage, location: None)
        torch.save(vibe_file_dict(), {str(path)!r}, _use_new_zipfile_serialization=False)
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=False)
    generator = load_vibe(path)
    assert generator.regressor.init_pose.device.type == "cpu"


def test_save_writes_vibe_layout_and_round_trips(tmp_path, vibe_file):
    generator = load_vibe(vibe_file[0], device="cpu")
    disc = load_motion_discriminator(vibe_file[0], device="cpu")
    gen_opt = torch.optim.Adam(generator.parameters(), lr=5e-5)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=1e-4)
    out = tmp_path / "ours.pth.tar"
    save_vibe_checkpoint(out, generator, disc, epoch=3, performance=57.5, gen_optimizer=gen_opt, disc_optimizer=disc_opt)
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert set(raw) == {"epoch", "gen_state_dict", "performance", "gen_optimizer", "disc_motion_state_dict",
                        "disc_motion_optimizer"}
    assert {k: tuple(v.shape) for k, v in raw["gen_state_dict"].items()} == GEN
    assert {k: tuple(v.shape) for k, v in raw["disc_motion_state_dict"].items()} == DISC
    assert raw["epoch"] == 3 and raw["performance"] == pytest.approx(57.5)
    features = torch.randn(1, 4, 2048)
    again = load_vibe(out, device="cpu")
    with torch.no_grad():
        assert torch.equal(again(features).theta, generator(features).theta)


def test_spin_backbone_and_head_load(spin_file):
    path, model = spin_file
    backbone = load_spin_backbone(path, device="cpu")
    assert set(backbone.state_dict()) == set(resnet50_table())
    assert torch.equal(backbone.state_dict()["layer3.5.conv2.weight"], model["layer3.5.conv2.weight"])
    small = torch.randn(2, 3, 64, 64)  # global pooling takes any size; 224 only for the shape check
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 224, 224)).shape == (1, 2048)
        features = backbone(small)
        fast = prepare_backbone(backbone)(small)
    assert torch.allclose(fast, features, atol=1e-4 * features.abs().max().item())
    head = load_spin_regressor(path, device="cpu")
    assert head.encoder is None
    assert torch.equal(head.regressor.fc1.weight, model["fc1.weight"])
    with torch.no_grad():
        assert head(torch.randn(1, 3, 2048)).theta.shape == (1, 3, 85)


def test_spin_missing_backbone_key(tmp_path, spin_file):
    model = dict(spin_file[1])
    del model["layer4.2.bn3.running_var"]
    path = tmp_path / "spin_bad.pth.tar"
    torch.save({"model": model}, path)
    with pytest.raises(AssetError, match=r"missing keys \[layer4\.2\.bn3\.running_var\]"):
        load_spin_backbone(path)
