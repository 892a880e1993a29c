"""Where the shared test media live: $VIBE_TEST_MEDIA, else ../shared/media beside the repo, else
/work/shared/media (the project machines' copy, for clones made elsewhere, e.g. by CI)."""
import os
from pathlib import Path

_CANDIDATES = [os.environ.get("VIBE_TEST_MEDIA"), Path(__file__).resolve().parents[2] / "shared" / "media",
               "/work/shared/media"]
MEDIA_DIR = next((Path(p) for p in _CANDIDATES if p and (Path(p) / "vtest.avi").is_file()), Path(_CANDIDATES[1]))
VTEST = MEDIA_DIR / "vtest.avi"
