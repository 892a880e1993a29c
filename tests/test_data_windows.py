"""Sequence windows: VIBE's rule checked against a brute-force enumeration."""
import numpy as np
import pytest

from vibe.data.windows import make_windows, video_runs, window_stride
from vibe.errors import InputError


def brute_force_starts(names, seqlen, stride):
    """Every row s starting a full window inside its video, at a multiple of stride from the video's first row."""
    starts = []
    for s in range(len(names) - seqlen + 1):
        first = s
        while first > 0 and names[first - 1] == names[s]:
            first -= 1
        if all(names[r] == names[s] for r in range(s, s + seqlen)) and (s - first) % stride == 0:
            starts.append(s)
    return starts


@pytest.mark.parametrize("seqlen,overlap", [(4, 0.0), (4, 0.5), (16, 0.75), (3, 0.9), (1, 0.0)])
def test_windows_match_brute_force(seqlen, overlap):
    rng = np.random.default_rng(seqlen)
    names = np.repeat([f"v{i}" for i in range(8)], rng.integers(1, 40, 8))
    index = make_windows(names, seqlen, overlap)
    stride = max(1, int(seqlen * (1 - overlap)))
    assert index.starts.tolist() == brute_force_starts(names, seqlen, stride)
    lengths = [stop - start for start, stop in video_runs(names)]
    assert index.skipped_videos == sum(length < seqlen for length in lengths)
    assert index.num_videos == 8


def test_vibe_strides_and_short_videos():
    assert window_stride(16, 0.75) == 4  # VIBE's 3DPW training overlap
    assert window_stride(16, 0.0) == 16
    names = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 10)
    index = make_windows(names, 4, 0.5)
    assert index.starts.tolist() == [0, 8, 10, 12, 14]  # a: rows 0-4; b too short; c: rows 8-17
    assert index.skipped_videos == 1


def test_a_name_that_returns_later_is_a_separate_video():
    names = np.array(["a"] * 3 + ["b"] * 3 + ["a"] * 3)
    assert make_windows(names, 4, 0.0).starts.tolist() == []
    assert make_windows(names, 3, 0.0).starts.tolist() == [0, 3, 6]


@pytest.mark.parametrize("seqlen,overlap", [(0, 0.0), (4, 1.0), (4, -0.1)])
def test_bad_window_settings_are_input_errors(seqlen, overlap):
    with pytest.raises(InputError):
        make_windows(np.array(["a"] * 10), seqlen, overlap)
