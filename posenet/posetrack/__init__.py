"""PoseTrack 2017/2018 files and their evaluation (mAP, MOTA), shared by the pose-net
dataset and the tracker: both import from here, this package imports neither."""
