"""Per-frame OBJ files: names by video frame id, vertex/face counts, 1-based faces, values equal
to the body model's posed vertices in the y-up world."""
from __future__ import annotations

import numpy as np

from test_export_data import make_track, reference_world, tiny_no_posedirs_model  # noqa: F401 (fixture)
from vibe.io.exporters import ObjSequenceWriter, export_obj_sequence


def parse_obj(path):
    """(verts (V, 3) float, faces (F, 3) int as written, i.e. 1-based)."""
    verts, faces = [], []
    for line in path.read_text().splitlines():
        kind, *values = line.split()
        if kind == "v":
            verts.append([float(v) for v in values])
        elif kind == "f":
            faces.append([int(v) for v in values])
    return np.array(verts), np.array(faces)


def test_obj_sequence_matches_body_model(tiny_no_posedirs_model, tmp_path):
    model = tiny_no_posedirs_model
    frame_ids = [0, 1, 123]
    track = make_track(model, frame_ids, seed=7)
    folder = export_obj_sequence(tmp_path / "meshes", track, model.faces)
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000000.obj", "frame_000001.obj", "frame_000123.obj"]
    ref_verts, _ = reference_world(model, track)
    faces = model.smpl.faces.astype(np.int64)
    for index, frame_id in enumerate(frame_ids):
        verts, written_faces = parse_obj(folder / f"frame_{frame_id:06d}.obj")
        assert verts.shape == (model.num_verts, 3) and written_faces.shape == faces.shape
        assert written_faces.min() == 1 and written_faces.max() == model.num_verts
        np.testing.assert_array_equal(written_faces, faces + 1)
        np.testing.assert_allclose(verts, ref_verts[index], atol=1e-5)


def test_writer_streams_frame_by_frame(tmp_path):
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    writer = ObjSequenceWriter(tmp_path, faces)
    quad = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.5]])
    first = writer.write(4, quad)
    assert first.name == "frame_000004.obj" and [p.name for p in tmp_path.iterdir()] == ["frame_000004.obj"]
    assert first.read_text().splitlines() == [
        "v 0.000000 0.000000 0.000000", "v 1.000000 0.000000 0.000000", "v 0.000000 1.000000 0.000000",
        "v 1.000000 1.000000 0.500000", "f 1 2 3", "f 3 2 4",
    ]
    writer.write(5, quad * 2)
    np.testing.assert_allclose(parse_obj(tmp_path / "frame_000005.obj")[0], quad * 2)
