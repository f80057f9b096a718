"""Box conversions (posenet.boxes) on hand-computed answers."""

import numpy as np
import pytest

from posenet import boxes as B


def test_box_to_center_scale_fixes_aspect_and_pads():
    boxes = np.array([[10, 20, 110, 220], [0, 0, 300, 100], [0, 0, 75, 100]], float)
    center, scale = B.box_xyxy_to_center_scale(boxes, aspect_ratio=0.75)
    np.testing.assert_allclose(center, [[60, 120], [150, 50], [37.5, 50]])
    # tall: w 100 -> 150; wide: h 100 -> 400; exact: unchanged; then /200 * 1.25
    np.testing.assert_allclose(scale, [[0.9375, 1.25], [1.875, 2.5], [0.46875, 0.625]])


def test_center_scale_to_box_undoes_the_padding():
    boxes = np.array([[10, 20, 160, 220], [5, 5, 8, 9]], float)  # the first is 3:4 already
    center, scale = B.box_xyxy_to_center_scale(boxes, aspect_ratio=0.75)
    np.testing.assert_allclose(
        B.center_scale_to_box_xyxy(center, scale, padding=1.25)[0], boxes[0], atol=1e-4
    )
    np.testing.assert_allclose(
        B.center_scale_to_box_xyxy(center, scale)[0], [-8.75, -5, 178.75, 245], atol=1e-4
    )


def test_xywh_xyxy_conversions():
    np.testing.assert_allclose(B.xywh_to_xyxy([[1, 2, 3, 4]]), [[1, 2, 4, 6]])
    np.testing.assert_allclose(B.xyxy_to_xywh([[1, 2, 4, 6]]), [[1, 2, 3, 4]])


def test_box_to_center_scale_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        B.box_xyxy_to_center_scale(np.zeros((3, 5)), 0.75)
