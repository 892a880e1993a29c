"""tracker: streamed video decoding, offline person detection, Kalman + Hungarian tracking, crops.

Does not import the models (vibe.models): the front of the pipeline stays light.

    source = tracker.video.open_video(path, cfg=cfg)                 # VideoInfo in source.info
    detector = tracker.detectors.build_detector(cfg, data_dir)      # blazepose | hog | yolo
    result = tracker.tracking.track_video(source, detector, cfg)    # result.tracks: list[Track]
    crops = tracker.crops.network_crops(frame, bboxes, cfg)         # second pass, per frame
"""
