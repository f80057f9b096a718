"""Point-in-polygon for PoseTrack ignore regions, vectorised over points and edges."""

from __future__ import annotations

import numpy as np


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 2) strictly inside polygon (M, 2) by the even-odd rule.

    Points on an edge or vertex are outside, as shapely's Polygon.contains (what the official
    code calls) decides; a polygon with fewer than 3 vertices contains nothing.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3 or len(pts) == 0:
        return np.zeros(len(pts), dtype=bool)
    a = poly[None, :, :]  # (1, M, 2) edge starts
    b = np.roll(poly, -1, axis=0)[None, :, :]  # edge ends
    px, py = pts[:, None, 0], pts[:, None, 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    # Crossings of a ray to +x with edges that straddle the point's y (half-open rule).
    straddle = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    crossings = np.count_nonzero(straddle & (px < x_cross), axis=1)
    # On-boundary points: collinear with an edge and within its extent.
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    within_x = (np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx))
    within = within_x & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by))
    on_edge = np.any((cross == 0) & within, axis=1)
    return (crossings % 2 == 1) & ~on_edge


def points_in_any_polygon(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """(N,) bool: points inside at least one of the polygons."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(pts), dtype=bool)
    for polygon in polygons:
        inside |= points_in_polygon(pts, polygon)
    return inside
