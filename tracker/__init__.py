"""Video pose tracking: detect, propagate along optical flow, estimate poses, match into tracks."""
