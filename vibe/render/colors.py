"""A stable, distinct colour per track id.

Hues step by the golden ratio, so consecutive ids land far apart on the colour wheel and the
same id gets the same colour in every frame, run and process.
"""
from __future__ import annotations

import colorsys

GOLDEN_RATIO_CONJUGATE = 0.618033988749895
BASE_HUE = 0.58  # track 0 is light blue, like VIBE's default mesh
TRACK_SATURATION = 0.5
TRACK_VALUE = 0.95


def track_color(track_id: int) -> tuple[float, float, float]:
    """RGB floats in [0, 1] for a track id (any int)."""
    hue = (BASE_HUE + int(track_id) * GOLDEN_RATIO_CONJUGATE) % 1.0
    return colorsys.hsv_to_rgb(hue, TRACK_SATURATION, TRACK_VALUE)
