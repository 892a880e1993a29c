"""vibe.body"""
