"""vibe.keypoints"""
