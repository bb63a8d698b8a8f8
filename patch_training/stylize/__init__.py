"""Stylizing: tiled inference (`stylize`, whole clips in memory), streamed clips of any length, segments
stylized apart."""
from .tiled import stylize

__all__ = ["stylize"]
