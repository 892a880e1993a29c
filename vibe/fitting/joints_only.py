"""A joints-only body-model forward for the optimiser: exact, and far cheaper than skinning a mesh.

The 49 joints are SMPL's 24 posed joints plus 30 surface points (smplx's 21 vertex picks and the
9 rows of J_regressor_extra), each a fixed linear combination of posed vertices. Linear blend
skinning is linear in the rest-pose vertex positions, and those are linear in the shape and
pose-blend coefficients, so every surface point is

    p_k = sum_j A_j [Q_kj(betas, pose_feature); q_kj]

with A_j the 4x4 relative transform of joint j, q_kj = sum_v S_kv W_vj (S the point's vertex
weights, W the skinning weights) and Q_kj = sum_v S_kv W_vj v_v(betas, pose_feature), itself an
affine function of betas and of the 207 pose-blend features. Q and q are contracted over the
vertices once, at construction, for the (point, joint) pairs with non-zero weight, so a forward
costs the kinematic chain plus a few hundred 3-vectors per frame, whatever the mesh size. The
same sums are taken in another order than smplx's, so results agree to float32 rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vibe.body import BodyModel

NUM_SMPL_JOINTS = 24
POSE_FEATURES = (NUM_SMPL_JOINTS - 1) * 9


@dataclass
class KinematicLevels:
    """A kinematic tree grouped by depth, so the chain of transforms takes one batched product per
    level (9 for SMPL) instead of one per joint (23): for small batches the cost is mostly the
    number of tensor operations. parents (J,) (root: any); order (J,) the joints level by level;
    order_inverse its inverse permutation; bounds: level k is order[bounds[k]:bounds[k + 1]];
    level_parents[k - 1] (n_k,): where each joint of level k finds its parent within level k - 1."""

    parents: torch.Tensor
    order: torch.Tensor
    order_inverse: torch.Tensor
    bounds: list[int]
    level_parents: list[torch.Tensor]


def kinematic_levels(parents) -> KinematicLevels:
    """Group a tree's joints by depth; parents (J,) with the root first."""
    parents = torch.as_tensor(parents, dtype=torch.long)
    count = len(parents)
    depth = [0] * count
    for joint in range(1, count):
        depth[joint] = depth[int(parents[joint])] + 1
    levels = [[j for j in range(count) if depth[j] == level] for level in range(max(depth) + 1)]
    order = torch.tensor([j for joints in levels for j in joints], device=parents.device)
    level_parents = [torch.tensor([levels[k - 1].index(int(parents[j])) for j in levels[k]], device=parents.device)
                     for k in range(1, len(levels))]
    return KinematicLevels(parents, order, torch.argsort(order), np.cumsum([0] + [len(j) for j in levels]).tolist(),
                           level_parents)


def world_transforms(rotmats: torch.Tensor, rest_joints: torch.Tensor, tree: KinematicLevels) -> torch.Tensor:
    """Local rotations (B, J, 3, 3) (root first), rest joint positions (B, J, 3) -> (B, J, 4, 4)
    world transforms [global rotation, posed position] of the joints, the root at its rest position
    (as the body model poses it: add the translation for camera space). Any float dtype."""
    bones = rest_joints - F.pad(rest_joints[:, tree.parents[1:]], (0, 0, 1, 0))  # from the parent; root: itself
    local = F.pad(torch.cat([rotmats, bones[..., None]], dim=-1), (0, 0, 0, 1))  # (B, J, 4, 4), last row 0
    local[..., 3, 3] = 1.0
    local = local[:, tree.order]
    bounds = tree.bounds
    transforms = [local[:, bounds[0]:bounds[1]]]
    for level, parents in enumerate(tree.level_parents, start=1):
        transforms.append(transforms[-1][:, parents] @ local[:, bounds[level]:bounds[level + 1]])
    return torch.cat(transforms, dim=1)[:, tree.order_inverse]


class JointsOnlyBody(nn.Module):
    """The spin49 joints of a BodyModel without its mesh."""

    def __init__(self, body: BodyModel):
        super().__init__()
        smpl = body.smpl
        # Precompute in float64: the contractions sum thousands of terms.
        regressor = smpl.J_regressor.double()  # (24, V)
        template = smpl.v_template.double()  # (V, 3)
        shapedirs = smpl.shapedirs.double()  # (V, 3, L)
        self.register_buffer("joint_template", (regressor @ template).float())  # (24, 3)
        self.register_buffer("joint_shapedirs", torch.einsum("jv,vcl->jcl", regressor, shapedirs).float())
        self._register_tree(smpl.parents)

        point_weights = self._surface_point_weights(body)  # (K, V)
        support = torch.nonzero(point_weights.abs().sum(0) > 0).squeeze(1)  # the few vertices they use
        skinning = point_weights[:, support, None] * smpl.lbs_weights[support].double()  # (K, S, 24)
        pair_point, pair_joint = torch.nonzero(skinning.abs().sum(1) > 0, as_tuple=True)
        pair_weights = skinning[pair_point, :, pair_joint]  # (P, S)
        posedirs = smpl.posedirs.reshape(POSE_FEATURES, -1, 3)[:, support].double()  # (207, S, 3)
        self.register_buffer("pair_joint", pair_joint)
        self.register_buffer("pair_to_point", torch.zeros(len(point_weights), len(pair_point))
                             .index_put_((pair_point, torch.arange(len(pair_point))), torch.tensor(1.0)))
        self.register_buffer("pair_mass", pair_weights.sum(1).float())  # (P,) q
        self.register_buffer("pair_template", (pair_weights @ template[support]).float())  # (P, 3)
        self.register_buffer("pair_shapedirs", torch.einsum("ps,scl->pcl", pair_weights, shapedirs[support]).float())
        self.register_buffer("pair_posedirs", torch.einsum("ps,fsc->fpc", pair_weights, posedirs)
                             .reshape(POSE_FEATURES, -1).float())  # (207, P * 3)
        self.register_buffer("spin49_sources", body.spin49_sources.clone())
        self.num_pairs = len(pair_point)

    def _register_tree(self, parents: torch.Tensor) -> None:
        tree = kinematic_levels(parents)
        self.register_buffer("tree_order", tree.order)
        self.register_buffer("tree_order_inverse", tree.order_inverse)
        self.register_buffer("tree_parents", tree.parents)
        for level, index in enumerate(tree.level_parents):
            self.register_buffer(f"tree_level_parents_{level}", index)
        self.tree_bounds = tree.bounds

    @property
    def tree(self) -> "KinematicLevels":
        """The kinematic tree's levels, on the module's device."""
        return KinematicLevels(self.tree_parents, self.tree_order, self.tree_order_inverse, self.tree_bounds,
                               [getattr(self, f"tree_level_parents_{level}") for level in range(len(self.tree_bounds) - 2)])

    @staticmethod
    def _surface_point_weights(body: BodyModel) -> torch.Tensor:
        """(30, V) float64: smplx's vertex picks (one-hot rows), then J_regressor_extra's rows,
        in the order the body model stacks them after the 24 joints."""
        picks = body.smpl.vertex_joint_selector.extra_joints_idxs
        one_hot = torch.zeros(len(picks), body.num_verts, dtype=torch.float64)
        one_hot[torch.arange(len(picks)), picks] = 1.0
        return torch.cat([one_hot, body.j_regressor_extra.double()])

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """rotmats (B, 24, 3, 3) (root first), betas (B or 1, num_betas) -> joints (B, 49, 3), no translation."""
        batch = rotmats.shape[0]
        betas = betas.expand(batch, -1)
        rest_joints = self.joint_template + torch.einsum("bl,jcl->bjc", betas, self.joint_shapedirs)
        transforms = world_transforms(rotmats, rest_joints, self.tree)
        posed_joints = transforms[..., :3, 3]
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        pose_feature = (rotmats[:, 1:] - eye).reshape(batch, POSE_FEATURES)
        rest_points = (self.pair_template + torch.einsum("bl,pcl->bpc", betas, self.pair_shapedirs)
                       + (pose_feature @ self.pair_posedirs).reshape(batch, -1, 3))  # (B, P, 3) Q
        # Skinning by joint j moves a rest point x to R_j (x - J_j) + p_j (rest joint J_j, posed p_j);
        # summed with the weights folded into Q and q: R_j (Q - q J_j) + q p_j.
        mass = self.pair_mass[:, None]
        offsets = (rest_points - mass * rest_joints[:, self.pair_joint])[..., None]
        pair_transforms = transforms[:, self.pair_joint]
        moved = (pair_transforms[..., :3, :3] @ offsets).squeeze(-1) + mass * pair_transforms[..., :3, 3]
        surface_points = torch.einsum("kp,bpc->bkc", self.pair_to_point, moved)
        stack54 = torch.cat([posed_joints, surface_points], dim=1)
        return stack54[:, self.spin49_sources]
