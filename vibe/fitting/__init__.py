"""vibe.fitting"""
