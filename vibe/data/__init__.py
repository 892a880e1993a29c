"""vibe.data: readers of VIBE's preprocessed files, sequence windows and mixed training batches.

- `open_dataset(name, db_dir, split, seqlen, overlap)` -> windowed torch Dataset (vibe_db.py)
- `make_windows(vid_names, seqlen, overlap)` -> `WindowIndex` (windows.py)
- `MixedBatches(...)`.epoch(e) -> `TrainBatch` iterator (loaders.py)
"""
