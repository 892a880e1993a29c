"""Renderer geometry, shading, depth order, backend agreement and GL fallback.

Expected pictures are computed here from the pinhole model with plain numpy/scipy geometry
(convex hulls of projected corners), never from the renderers' own code.
"""
import logging

import cv2
import numpy as np
import pytest
from scipy.spatial import ConvexHull

from vibe.config import get_cfg_defaults
from vibe.errors import InputError
from vibe.geometry import orig_cam_to_translation
from vibe.render import Intrinsics, MeshInstance, make_renderer, track_color, y_up_to_camera

WIDTH, HEIGHT = 160, 120
K = Intrinsics(fx=400.0, fy=380.0, cx=79.3, cy=61.7)
EDGE_TOLERANCE = 0.01  # px: pixel centres this close to an outline may go either way
CFG = get_cfg_defaults()

# A unit cube's corners and its 12 triangles (winding irrelevant: lighting is two-sided).
CUBE_CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
CUBE_FACES = np.array([
    [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
    [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
])


@pytest.fixture(scope="module")
def gl_renderer():
    renderer = make_renderer(WIDTH, HEIGHT, "moderngl")
    if renderer.backend_name != "moderngl":
        pytest.skip("no EGL/OpenGL context on this machine")
    return renderer


@pytest.fixture(scope="module")
def software_renderer():
    return make_renderer(WIDTH, HEIGHT, "software")


@pytest.fixture(params=["moderngl", "software"])
def renderer(request):
    return request.getfixturevalue("gl_renderer" if request.param == "moderngl" else "software_renderer")


def noise_background(seed=0, shape=(HEIGHT, WIDTH)):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def hull_coverage(points_3d, intrinsics, width, height):
    """(inside, ambiguous) pixel masks for the convex hull of the pinhole projections of
    `points_3d`; ambiguous = centre within EDGE_TOLERANCE of the outline."""
    uv = np.stack([intrinsics.fx * points_3d[:, 0] / points_3d[:, 2] + intrinsics.cx,
                   intrinsics.fy * points_3d[:, 1] / points_3d[:, 2] + intrinsics.cy], axis=1)
    hull = ConvexHull(uv)
    ys, xs = np.mgrid[0:height, 0:width]
    centres = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=1)
    signed = (centres @ hull.equations.T).max(axis=1).reshape(height, width)  # unit normals: px distance
    return signed < 0, np.abs(signed) < EDGE_TOLERANCE


def covered(rendered, background):
    return (rendered != background).any(axis=2)


def icosphere(subdivisions):
    """Unit sphere (V, 3), (F, 3) by repeated midpoint subdivision of an icosahedron."""
    t = (1 + 5 ** 0.5) / 2
    verts = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                      [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=float)
    faces = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                      [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                      [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        unique_edges, edge_of = np.unique(edges, axis=0, return_inverse=True)
        mids = edge_of.reshape(3, -1).T + len(verts)  # columns: ab, bc, ca
        verts = np.vstack([verts, verts[unique_edges].mean(axis=1)])
        a, b, c = faces.T
        ab, bc, ca = mids.T
        faces = np.concatenate([np.stack(f, axis=1) for f in ([a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca])])
    return verts / np.linalg.norm(verts, axis=1, keepdims=True), faces


def test_triangle_covers_projected_pixels_with_lambert_colour(renderer):
    depth = 2.5
    triangle = np.array([[-0.21, -0.13, depth], [0.17, -0.07, depth], [0.02, 0.19, depth]])
    color = (0.9, 0.3, 0.2)
    background = noise_background()
    out = renderer.render(background, [MeshInstance(triangle, [[0, 1, 2]], color)], K)

    inside, ambiguous = hull_coverage(triangle, K, WIDTH, HEIGHT)
    got = covered(out, background)
    assert inside.sum() > 1000
    np.testing.assert_array_equal(got[~ambiguous], inside[~ambiguous])
    # Facing the camera, normal (0, 0, +-1): Lambert term |n . l| = |l_z| / |l|.
    light = np.array(CFG.RENDER.LIGHT_DIR, dtype=float)
    shade = np.array(color) * (CFG.RENDER.AMBIENT + CFG.RENDER.DIFFUSE * abs(light[2]) / np.linalg.norm(light))
    alpha = CFG.RENDER.MESH_ALPHA
    expected = alpha * np.rint(shade * 255) + (1 - alpha) * background[inside]
    assert np.abs(out[inside].astype(float) - expected).max() <= 1.0
    np.testing.assert_array_equal(out[~got], background[~got])  # untouched elsewhere


def test_vertex_colours_paint_each_part_of_one_mesh(renderer):
    """One mesh of two disjoint triangles, the left one's vertices red and the right one's blue:
    each projected triangle shows its own colour (Lambert-shaded, as a single-colour mesh)."""
    depth = 2.0
    left = np.array([[-0.3, -0.2, depth], [-0.05, -0.2, depth], [-0.2, 0.2, depth]])
    right = left + [0.35, 0.0, 0.0]
    red, blue = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    mesh = MeshInstance(np.vstack([left, right]), [[0, 1, 2], [3, 4, 5]], color=(0.0, 1.0, 0.0),
                        vertex_colors=[red] * 3 + [blue] * 3)
    background = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    out = renderer.render(background, [mesh], K)
    light = np.array(CFG.RENDER.LIGHT_DIR, dtype=float)
    intensity = CFG.RENDER.AMBIENT + CFG.RENDER.DIFFUSE * abs(light[2]) / np.linalg.norm(light)
    for triangle, colour in ((left, red), (right, blue)):
        inside, ambiguous = hull_coverage(triangle, K, WIDTH, HEIGHT)
        strict = inside & ~cv2.dilate(ambiguous.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert strict.sum() > 300
        expected = CFG.RENDER.MESH_ALPHA * np.rint(colour * intensity * 255)
        assert np.abs(out[strict].astype(float) - expected).max() <= 1.0
    with pytest.raises(InputError, match="vertex colours"):
        MeshInstance(left, [[0, 1, 2]], vertex_colors=[red] * 2)


def test_cube_covers_hull_of_its_projected_corners(renderer):
    corners = CUBE_CORNERS * 0.5 + [0.05, -0.3, 3.0]  # off-axis: three faces visible
    background = noise_background(1)
    out = renderer.render(background, [MeshInstance(corners, CUBE_FACES)], K)
    inside, ambiguous = hull_coverage(corners, K, WIDTH, HEIGHT)
    np.testing.assert_array_equal(covered(out, background)[~ambiguous], inside[~ambiguous])


def square(center_x, depth, half=0.3):
    verts = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]]) + [center_x, 0, depth]
    return verts, np.array([[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_mesh_wins_where_meshes_overlap(renderer, near_first):
    near = MeshInstance(*square(-0.05, 2.0), color=(0.0, 0.0, 1.0))
    far = MeshInstance(*square(0.25, 3.0), color=(1.0, 0.0, 0.0))
    out = renderer.render(np.zeros((HEIGHT, WIDTH, 3), np.uint8), [near, far] if near_first else [far, near], K)
    # Column of pixel u = K.fx * x / z + K.cx; the near square spans x in [-0.35, 0.25] at z = 2.
    overlap_u = int(K.fx * 0.1 / 2.0 + K.cx)  # x = 0.1: inside both squares' images
    far_only_u = int(K.fx * 0.5 / 3.0 + K.cx)  # x = 0.5 at z = 3: right of the near square
    row = int(K.cy)
    assert out[row, overlap_u, 2] > 100 and out[row, overlap_u, 0] == 0
    assert out[row, far_only_u, 0] > 100 and out[row, far_only_u, 2] == 0


def sphere_scene():
    verts, faces = icosphere(3)
    return [MeshInstance(verts * [0.35, 0.8, 0.3] + [-0.25, 0.0, 3.0], faces, track_color(0)),
            MeshInstance(verts * 0.45 + [0.3, 0.15, 3.4], faces, track_color(1))]


def test_gl_and_software_draw_the_same_picture(gl_renderer, software_renderer):
    background = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    meshes = sphere_scene()
    gl_out = gl_renderer.render(background, meshes, K)
    sw_out = software_renderer.render(background, meshes, K)
    gl_mask, sw_mask = covered(gl_out, background), covered(sw_out, background)
    assert (gl_mask & sw_mask).sum() / (gl_mask | sw_mask).sum() > 0.97
    both = gl_mask & sw_mask
    assert np.abs(gl_out[both].astype(float) - sw_out[both]).mean() < 2.0


def test_wireframe_stays_on_the_mesh_and_draws_less(renderer):
    background = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    meshes = sphere_scene()
    filled = covered(renderer.render(background, meshes, K), background)
    wire = covered(renderer.render(background, meshes, K, wireframe=True), background)
    grown = cv2.dilate(filled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert wire.any() and not (wire & ~grown).any()
    assert wire.sum() < filled.sum()


def test_side_view_turns_the_scene_about_the_vertical_axis(renderer):
    # A box 1.0 wide (x), 0.4 tall, 0.2 deep (z) at depth 5: from the side it is 0.2 wide and 1.0 deep.
    box = CUBE_CORNERS * [1.0, 0.4, 0.2] + [-0.5, -0.2, 4.9]
    out = renderer.render_side_view([MeshInstance(box, CUBE_FACES)], K)
    turned = np.array([[x, y, z] for x in (-0.1, 0.1) for y in (-0.2, 0.2) for z in (4.5, 5.5)])
    inside, ambiguous = hull_coverage(turned, K, WIDTH, HEIGHT)
    background = np.array(CFG.RENDER.SIDEVIEW_BACKGROUND, np.uint8)
    got = (out != background).any(axis=2)
    np.testing.assert_array_equal(got[~ambiguous], inside[~ambiguous])


def test_forced_gl_context_failure_falls_back_with_one_warning(caplog):
    cfg = get_cfg_defaults()
    cfg.RENDER.EGL_LIBRARY = "/nonexistent/libEGL.so.1"
    with caplog.at_level(logging.WARNING, logger="vibe.render"):
        renderer = make_renderer(WIDTH, HEIGHT, "moderngl", cfg=cfg)
    assert renderer.backend_name == "software"
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    background = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    assert covered(renderer.render(background, sphere_scene(), K), background).any()


def test_gl_failure_mid_run_falls_back_with_one_warning(caplog, software_renderer):
    renderer = make_renderer(WIDTH, HEIGHT, "moderngl")
    if renderer.backend_name != "moderngl":
        pytest.skip("no EGL/OpenGL context on this machine")
    renderer.release()  # every later GL call now fails for real
    background = noise_background(2)
    with caplog.at_level(logging.WARNING, logger="vibe.render"):
        outs = [renderer.render(background, sphere_scene(), K) for _ in range(2)]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    expected = software_renderer.render(background, sphere_scene(), K)
    for out in outs:
        np.testing.assert_array_equal(out, expected)


def test_y_up_mesh_enters_camera_frame_upright_and_facing_the_camera():
    # y-up body: head at +y, nose towards +z (SMPL's rest frame).
    head, nose, right_hand = np.array([0, 0.8, 0]), np.array([0, 0.7, 0.1]), np.array([-0.7, 0.4, 0])
    cam = y_up_to_camera(np.stack([head, nose, right_hand]), translation=(0, 0, 3.0))
    uv = K.project(cam)
    assert uv[0, 1] < K.cy  # head is above the image centre (image y grows downwards)
    assert cam[1, 2] < cam[0, 2]  # nose nearer to the camera than the head: the body faces us
    assert uv[2, 0] < K.cx  # the body's right hand (-x in SMPL) on the viewer's left
    basis = y_up_to_camera(np.eye(3)) - y_up_to_camera(np.zeros(3))
    assert np.isclose(np.linalg.det(basis), 1.0)  # a rotation, not a mirror


def test_vibe_camera_placement_lands_where_weak_perspective_says(renderer):
    """A flat triangle through the body origin, placed by VIBE's orig_cam with the geometry
    helper's translation, covers the pixels of the weak-perspective formula (SPEC section 3)."""
    sx, tx, ty = 0.5, 0.1, -0.05
    orig_cam = np.array([[sx, sx * WIDTH / HEIGHT, tx, ty]])
    focal = 5000.0
    translation = np.asarray(orig_cam_to_translation(orig_cam, WIDTH, HEIGHT, focal))[0]
    triangle = np.array([[-0.5, -0.4, 0.0], [0.45, -0.1, 0.0], [0.05, 0.6, 0.0]])
    background = noise_background(5)
    camera = Intrinsics(focal, focal, WIDTH / 2, HEIGHT / 2)
    out = renderer.render(background, [MeshInstance(triangle + translation, [[0, 1, 2]])], camera)
    # u = W/2 (1 + sx (x + tx)), v = H/2 (1 + sy (y + ty)): as a pinhole at depth 1 with these intrinsics.
    weak_camera = Intrinsics(WIDTH / 2 * sx, HEIGHT / 2 * orig_cam[0, 1], WIDTH / 2, HEIGHT / 2)
    inside, ambiguous = hull_coverage(triangle + [tx, ty, 1.0], weak_camera, WIDTH, HEIGHT)
    got = covered(out, background)
    assert inside.sum() > 400
    # f / tz equals the weak scale only up to float rounding: allow pixels within 0.01 px of the outline.
    np.testing.assert_array_equal(got[~ambiguous], inside[~ambiguous])


def test_track_colours_are_stable_and_distinct():
    colours = np.array([track_color(i) for i in range(8)])
    assert track_color(5) == track_color(5)
    assert ((colours >= 0) & (colours <= 1)).all()
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=2)[np.triu_indices(8, 1)]
    assert gaps.min() > 0.1


def test_nothing_to_draw_returns_the_frame_and_keeps_gl(renderer, caplog):
    background = noise_background(3)
    empty = MeshInstance(np.zeros((0, 3)), np.zeros((0, 3), int))
    behind = MeshInstance(*square(0.0, -2.0))  # behind the camera
    with caplog.at_level(logging.WARNING, logger="vibe.render"):
        for meshes in ([], [empty], [behind]):
            np.testing.assert_array_equal(renderer.render(background, meshes, K), background)
    assert not caplog.records


def test_bad_inputs_are_input_errors(software_renderer):
    with pytest.raises(InputError, match="RGB uint8 frame"):
        software_renderer.render(np.zeros((HEIGHT, WIDTH), np.uint8), [], K)
    with pytest.raises(InputError, match="outside"):
        MeshInstance(np.zeros((3, 3)), [[0, 1, 3]])
    with pytest.raises(InputError, match="backend"):
        make_renderer(WIDTH, HEIGHT, "pyrender")
