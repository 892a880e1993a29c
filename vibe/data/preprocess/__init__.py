"""Preprocessing of the raw dataset releases into VIBE's db files (the ones vibe.data.vibe_db reads).

One module per dataset, each with a `preprocess_<name>(src, out_dir, ...)` that works sequence by
sequence: every finished sequence is saved as a partial file in a work dir (parts.py), a re-run
skips finished sequences, and the db file is assembled from the parts and written atomically.
Features come from the frozen SPIN ResNet-50 over crops streamed in batches (features.py).

- amass.py: AMASS SMPL-H `.npz` -> `amass_db.pt`
- threedpw.py: 3DPW `sequenceFiles/*.pkl` + `imageFiles` -> `3dpw_{train,val,test}_db.pt`
- insta.py: InstaVariety `train/*.tfrecord` (read without TensorFlow: tfrecord.py) -> `insta_train_db.h5`
- mpii3d.py: MPI-INF-3DHP `S*/Seq*/annot.mat` + videos, `mpi_inf_3dhp_test_set/TS*/annot_data.mat` -> `mpii3d_{train,val}_db.pt`
"""
