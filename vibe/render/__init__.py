"""vibe.render"""
