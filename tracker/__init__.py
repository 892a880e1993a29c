"""tracker: streamed video decoding, offline person detection, Kalman + Hungarian tracking, crops.

Does not import the models (vibe.models): the front of the pipeline stays light.
"""
