"""OpenGL renderer through moderngl on a headless EGL context (Mesa llvmpipe works on CPU).

moderngl is imported lazily. Any failure, at context creation (see `make_renderer`) or in a later
GL call, logs one warning and hands the work to the software rasteriser: rendering never kills
a run.

The projection matrix reproduces the pinhole model of vibe.render.base exactly: a camera point
(x, y, z) lands at window coordinates (u + 0.5, v + 0.5), so pixel v's centre is v + 0.5 and the
framebuffer's row v (read bottom-up) is image row v; no flip is needed.
"""
from __future__ import annotations

import logging

import numpy as np

from vibe.render import software
from vibe.render.base import Intrinsics, Renderer, RenderSettings, Scene

logger = logging.getLogger(__name__)

GLSL_VERSION = 330

_VERTEX_SHADER = f"""
#version {GLSL_VERSION}
uniform vec4 u_intrinsics;   // fx, fy, cx, cy in pixels
uniform vec2 u_size;         // width, height in pixels
uniform vec2 u_depth_range;  // near, far in metres
in vec3 in_position;         // camera coordinates: x right, y down, z forward
in vec3 in_color;
out vec3 v_color;
void main() {{
    float z = in_position.z;
    float n = u_depth_range.x;
    float f = u_depth_range.y;
    gl_Position = vec4(
        2.0 * u_intrinsics.x / u_size.x * in_position.x + (2.0 * (u_intrinsics.z + 0.5) / u_size.x - 1.0) * z,
        2.0 * u_intrinsics.y / u_size.y * in_position.y + (2.0 * (u_intrinsics.w + 0.5) / u_size.y - 1.0) * z,
        (f + n) / (f - n) * z - 2.0 * f * n / (f - n),
        z);
    v_color = in_color;
}}
"""

_FRAGMENT_SHADER = f"""
#version {GLSL_VERSION}
in vec3 v_color;
out vec4 f_color;
void main() {{
    f_color = vec4(v_color, 1.0);  // alpha 1 marks coverage; blending happens in numpy
}}
"""


class GLRenderer(Renderer):
    """moderngl/EGL renderer. Construction raises if no GL context can be made; make_renderer
    turns that into a software fallback."""

    backend_name = "moderngl"

    def __init__(self, width: int, height: int, settings: RenderSettings | None = None):
        super().__init__(width, height, settings)
        import moderngl  # lazy: heavy and optional

        context_args = {"backend": "egl"}
        if self.settings.egl_library:
            context_args["libegl"] = self.settings.egl_library
        self._ctx = moderngl.create_standalone_context(**context_args)
        self._program = self._ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self._fbo = self._ctx.framebuffer(
            color_attachments=[self._ctx.renderbuffer((self.width, self.height), components=4)],  # RGBA8
            depth_attachment=self._ctx.depth_renderbuffer((self.width, self.height)),
        )
        self._failed = False

    def _rasterize(self, scene: Scene, intrinsics: Intrinsics, wireframe: bool):
        if not self._failed:
            try:
                return self._rasterize_gl(scene, intrinsics, wireframe)
            except Exception as err:  # noqa: BLE001 - any GL fault must degrade, not end the run
                self._failed = True
                logger.warning("OpenGL rendering failed (%s: %s); using the software renderer from now on",
                               type(err).__name__, err)
        return software.rasterize(scene, intrinsics, self.width, self.height, self.settings.near, wireframe)

    def _rasterize_gl(self, scene: Scene, intrinsics: Intrinsics, wireframe: bool):
        import moderngl

        ctx, program = self._ctx, self._program
        program["u_intrinsics"].value = (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)
        program["u_size"].value = (self.width, self.height)
        program["u_depth_range"].value = (self.settings.near, self.settings.far)
        vertices = np.hstack([scene.verts, scene.colors]).astype("f4")
        vbo = ctx.buffer(vertices.tobytes())
        ibo = ctx.buffer(scene.faces.astype("i4").tobytes())
        vao = ctx.vertex_array(program, [(vbo, "3f 3f", "in_position", "in_color")], index_buffer=ibo)
        try:
            self._fbo.use()
            self._fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            ctx.enable(moderngl.DEPTH_TEST)
            ctx.disable(moderngl.CULL_FACE)  # meshes may be open or of either winding
            ctx.wireframe = wireframe
            vao.render(moderngl.TRIANGLES)
            rgba = np.frombuffer(self._fbo.read(components=4), dtype=np.uint8)
        finally:
            for gl_object in (vao, ibo, vbo):
                gl_object.release()
        rgba = rgba.reshape(self.height, self.width, 4)
        return rgba[..., :3], rgba[..., 3] > 0

    def release(self) -> None:
        """Free the GL context (later renders fall back to software)."""
        self._ctx.release()
