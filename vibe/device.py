"""Device choice: CUDA when present, else CPU; every path stays device-agnostic."""
import torch

from vibe.errors import InputError


def pick_device(preference: str = "auto") -> torch.device:
    """Resolve 'auto' | 'cpu' | 'cuda' | 'cuda:N' to a torch.device.

    'auto' picks CUDA when a GPU is visible. Asking for CUDA on a machine without it is an
    input error rather than a crash deep inside torch.
    """
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{preference}' requested but no CUDA GPU is visible; use --device cpu or auto")
    try:
        return torch.device(preference)
    except RuntimeError:
        raise InputError(f"unknown device '{preference}'; use auto, cpu or cuda[:N]") from None
