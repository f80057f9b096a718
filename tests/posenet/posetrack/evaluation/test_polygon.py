"""Ignore-region point-in-polygon: interior in, boundary and outside out, even-odd rule."""

import numpy as np

from posenet.posetrack.evaluation.polygon import points_in_any_polygon, points_in_polygon

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=float)
# A "U": the notch x in (4, 6), y in (3, 10) is outside.
U_SHAPE = np.array(
    [[0, 0], [10, 0], [10, 10], [6, 10], [6, 3], [4, 3], [4, 10], [0, 10]], dtype=float
)


def test_square_interior_boundary_and_outside():
    pts = np.array([[5, 5], [0.1, 9.9], [0, 5], [10, 10], [5, 0], [11, 5], [-1, -1], [5, 10.5]])
    np.testing.assert_array_equal(points_in_polygon(pts, SQUARE), [1, 1, 0, 0, 0, 0, 0, 0])


def test_concave_polygon_notch_is_outside():
    pts = np.array([[5, 8], [2, 8], [8, 8], [5, 1], [5, 3]])
    np.testing.assert_array_equal(points_in_polygon(pts, U_SHAPE), [0, 1, 1, 1, 0])


def test_degenerate_polygon_and_union_of_regions():
    assert not points_in_polygon(np.array([[0.5, 0.5]]), np.array([[0, 0], [1, 1]])).any()
    far = SQUARE + 100
    np.testing.assert_array_equal(
        points_in_any_polygon(np.array([[5, 5], [105, 105], [50, 50]]), [SQUARE, far]), [1, 1, 0]
    )
