"""vibe.models"""
