"""ResNet-50 feature extractor in plain torch, with torchvision's parameter names.

SPIN's checkpoint stores its backbone under torchvision's key names (`conv1`, `bn1`,
`layer1.0.conv1`, ..., `layer1.0.downsample.0/1`, ..., `layer4.2.bn3`), so this module loads
those weights with no renaming. It maps ImageNet-normalised crops `(B, 3, 224, 224)` to pooled
features `(B, 2048)`; there is no classification `fc`.

`fuse_for_inference` folds every frozen BatchNorm into the convolution before it and switches to
channels_last: the same numbers (up to float rounding) in less time, for the frozen backbone.
`compile_for_inference` adds torch.compile (inductor, frozen weights: pre-packed oneDNN weights and
fused ReLU/add epilogues), faster again after a one-off compile per process and input shape.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

STEM_WIDTH = 64
STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck inner widths of layer1..layer4
STAGE_BLOCKS = (3, 4, 6, 3)  # ResNet-50
STAGE_STRIDES = (1, 2, 2, 2)
EXPANSION = 4  # bottleneck output width = inner width x 4
FEATURE_DIM = STAGE_WIDTHS[-1] * EXPANSION  # 2048


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (carries the stride, as torchvision's v1.5) -> 1x1, plus the shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


class ResNet50Backbone(nn.Module):
    """ResNet-50 trunk + global average pool: `(B, 3, 224, 224)` -> `(B, 2048)`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_WIDTH, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = STEM_WIDTH
        for index, (width, blocks, stride) in enumerate(zip(STAGE_WIDTHS, STAGE_BLOCKS, STAGE_STRIDES)):
            layer = []
            for block in range(blocks):
                layer.append(Bottleneck(in_channels, width, stride if block == 0 else 1))
                in_channels = width * EXPANSION
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(crops))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        # Global mean = SPIN's AvgPool2d(7) on a 224 crop's 7x7 map, and still right at other sizes.
        return x.mean(dim=(2, 3))


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv with bias equal to conv followed by bn in eval mode (running statistics)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
    with torch.no_grad():
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((conv_bias - bn.running_mean) * scale + bn.bias)
    return fused.to(device=conv.weight.device, dtype=conv.weight.dtype)


def _fuse_pairs_in_place(module: nn.Module) -> None:
    """Replace every (convN, bnN) and downsample (0, 1) pair by the folded conv + Identity."""
    for child in module.modules():
        names = dict(child.named_children())
        for conv_name, bn_name in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"), ("0", "1")):
            conv, bn = names.get(conv_name), names.get(bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(child, conv_name, _fold_bn(conv, bn))
                setattr(child, bn_name, nn.Identity())


def fuse_for_inference(backbone: ResNet50Backbone, channels_last: bool = True) -> ResNet50Backbone:
    """A frozen, BN-folded copy for inference (the original keeps its loadable parameter names).

    Folding removes 53 BatchNorm passes over the activations; channels_last lets oneDNN use its
    blocked convolution kernels without layout conversions. Feed it crops in any memory format.
    """
    fused = copy.deepcopy(backbone).eval()
    _fuse_pairs_in_place(fused)
    fused.requires_grad_(False)
    if channels_last:
        fused = fused.to(memory_format=torch.channels_last)
    return fused


def compile_for_inference(backbone: ResNet50Backbone) -> nn.Module:
    """torch.compile of a folded backbone with weight freezing (needs a C++ compiler at run time).

    The first call per input shape compiles (about 20 s on 2 cores); feed fixed-size batches
    (extract_features pads the last one when MODEL.COMPILE_BACKBONE is set) to compile once.
    """
    return torch.compile(fuse_for_inference(backbone), dynamic=False, options={"freezing": True})
