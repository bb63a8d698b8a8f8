"""Stylizing: tiled inference, streamed clips of any length, segments stylized apart."""
