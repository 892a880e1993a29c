"""vibe.data"""
