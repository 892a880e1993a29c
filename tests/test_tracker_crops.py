"""Crops: the affine maps agree with vibe.geometry's normalised-crop formulas both ways, and the
pixels land where the formula says."""
import numpy as np
import pytest

from tracker.crops import crop_to_image, crop_transforms, image_to_crop, keypoint_crops, network_crops
from vibe.config import get_cfg_defaults

geometry = pytest.importorskip("vibe.geometry")


def test_affine_matches_geometry_both_ways():
    rng = np.random.default_rng(0)
    bboxes = np.c_[rng.uniform(100, 500, (4, 2)), np.repeat(rng.uniform(50, 300, (4, 1)), 2, axis=1)]
    points = rng.uniform(0, 640, (4, 17, 2))
    out, scale = 224, 1.1
    transforms = crop_transforms(bboxes, scale, out)
    crop_px = image_to_crop(points, transforms)
    normalised = geometry.image_to_crop_keypoints(points, bboxes, scale)
    np.testing.assert_allclose((crop_px - out / 2) / (out / 2), normalised, atol=1e-9)
    np.testing.assert_allclose(crop_to_image(crop_px, transforms), points, atol=1e-9)
    back = geometry.crop_to_image_keypoints(normalised, bboxes, scale)
    np.testing.assert_allclose(crop_to_image(normalised * out / 2 + out / 2, transforms), back, atol=1e-9)


def test_pixels_land_where_the_formula_says():
    cfg = get_cfg_defaults()
    side = cfg.CROP.KEYPOINT_SIZE  # crop side == box side * scale: one image px per crop px
    bbox = np.array([[100.0, 80.0, side / cfg.KEYPOINTS.BBOX_SCALE, side / cfg.KEYPOINTS.BBOX_SCALE]])
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[90, 120] = (255, 128, 7)
    crops = keypoint_crops(frame, bbox, cfg)
    u, v = image_to_crop(np.array([[[120.0, 90.0]]]), crops.transforms)[0, 0]
    assert (u, v) == pytest.approx((120 - 100 + side / 2, 90 - 80 + side / 2))
    assert crops.images.shape == (1, side, side, 3) and crops.images.dtype == np.uint8
    assert crops.images[0, int(v), int(u)].tolist() == [255, 128, 7]
    assert crops.images[0].sum() == 255 + 128 + 7  # everything else black, including outside the frame


def test_network_crop_normalisation():
    cfg = get_cfg_defaults()
    frame = np.full((480, 640, 3), (200, 100, 50), np.uint8)
    crops = network_crops(frame, np.array([[320.0, 240.0, 200.0, 200.0], [300.0, 200.0, 100.0, 100.0]]), cfg)
    assert crops.images.shape == (2, 3, 224, 224) and crops.images.dtype == np.float32
    expected = (np.array([200, 100, 50]) / 255.0 - np.array(cfg.CROP.MEAN)) / np.array(cfg.CROP.STD)
    np.testing.assert_allclose(crops.images[1, :, 100, 100], expected, atol=1e-5)
    assert crops.transforms.shape == (2, 2, 3)
