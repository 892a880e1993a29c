import numpy as np

from vibe.body.motions import walking, place_in_camera


def test_positive_elevation_looks_down():
    """A camera above the body looking down sees the world's up vector tilted towards itself
    (negative camera z) and the feet nearer the image bottom; checked on the root trajectory of a
    motion lifted straight up."""
    motion = walking(3)
    motion.root[:] = [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]  # rising 1 m per frame
    _, root = place_in_camera(motion, distance=5.0, elevation_deg=30.0, azimuth_deg=0.0)
    up_in_camera = root[2] - root[1]
    np.testing.assert_allclose(up_in_camera, [0.0, -np.cos(np.radians(30)), -np.sin(np.radians(30))], atol=1e-9)
