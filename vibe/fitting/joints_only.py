"""A joints-only body-model forward for the optimiser: exact, and much cheaper than the full mesh.

The 49 joints depend on few vertices: SMPL's 24 joints are regressed from the shaped rest mesh
(J_regressor's non-zero columns), the 21 smplx extras are single vertices and the 9 VIBE extras
come from J_regressor_extra's non-zero columns. Skinning only that union with smplx's own `lbs`
gives the same joints as the full forward (same arithmetic on the same vertices), while the
optimiser's cost no longer grows with the mesh size.
"""
from __future__ import annotations

import torch
from torch import nn

from vibe.body import BodyModel

NUM_SMPL_JOINTS = 24


class JointsOnlyBody(nn.Module):
    """The spin49 joints of a BodyModel from its support vertices only."""

    def __init__(self, body: BodyModel):
        super().__init__()
        smpl = body.smpl
        support_mask = (smpl.J_regressor != 0).any(0) | (body.j_regressor_extra != 0).any(0)
        support_mask[smpl.vertex_joint_selector.extra_joints_idxs] = True
        support = torch.nonzero(support_mask).squeeze(1)
        lookup = torch.full((support_mask.numel(),), -1, dtype=torch.long)
        lookup[support] = torch.arange(len(support))
        num_pose_basis = smpl.posedirs.shape[0]
        posedirs = smpl.posedirs.reshape(num_pose_basis, -1, 3)[:, support].reshape(num_pose_basis, -1)
        self.register_buffer("v_template", smpl.v_template[support].clone())
        self.register_buffer("shapedirs", smpl.shapedirs[support].clone())
        self.register_buffer("posedirs", posedirs.clone())
        self.register_buffer("j_regressor", smpl.J_regressor[:, support].clone())
        self.register_buffer("lbs_weights", smpl.lbs_weights[support].clone())
        self.register_buffer("parents", smpl.parents.clone())
        self.register_buffer("vertex_joint_ids", lookup[smpl.vertex_joint_selector.extra_joints_idxs])
        self.register_buffer("j_regressor_extra", body.j_regressor_extra[:, support].clone())
        self.register_buffer("spin49_sources", body.spin49_sources.clone())
        self.num_support_verts = len(support)

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """rotmats (B, 24, 3, 3) (root first), betas (B or 1, num_betas) -> joints (B, 49, 3), no translation."""
        from smplx.lbs import lbs

        batch = rotmats.shape[0]
        betas = betas.expand(batch, -1)
        verts, smpl_joints = lbs(betas, rotmats.reshape(batch, NUM_SMPL_JOINTS, 9), self.v_template,
                                 self.shapedirs, self.posedirs, self.j_regressor, self.parents,
                                 self.lbs_weights, pose2rot=False)
        extra = torch.einsum("jv,bvc->bjc", self.j_regressor_extra, verts)
        stack54 = torch.cat([smpl_joints, verts[:, self.vertex_joint_ids], extra], dim=1)
        return stack54[:, self.spin49_sources]
