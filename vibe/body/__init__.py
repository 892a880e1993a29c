"""vibe.body: the body model (user's SMPL via smplx, or the bundled open body) and its joints."""
from vibe.body.smpl import OPEN_BODY_PATH, BodyModel, BodyOutput, load_body_model, load_open_body, load_smpl

__all__ = ["OPEN_BODY_PATH", "BodyModel", "BodyOutput", "load_body_model", "load_open_body", "load_smpl"]
