"""Similarities and distances as torch names them: cosine_similarity, pairwise_distance and cdist."""

from __future__ import annotations

from .record import OpSpec

OPS: list[OpSpec] = []
