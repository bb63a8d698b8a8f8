"""Clips in and out: frame sources (folders, videos), atomic writers, frame selection, keyframe suggestion."""
