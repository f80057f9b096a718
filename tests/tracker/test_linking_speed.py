"""The linking benchmark runs on a tiny synthetic video and reports linking's share."""

from tracker.linking_speed import linking_benchmark


def test_it_reports_links_and_linking_time():
    lines: list[str] = []
    report = linking_benchmark(frames=120, people=3, repeat=1, log=lines.append)
    assert lines[0].startswith("120 frames, 3 people: ") and "links" in lines[0]
    assert any(line.startswith("linking (summaries + assignment): ") for line in lines)
    assert report["links"] >= 0 and 0 < report["linking_share"] < 1
    assert report["tracking_s"]["link_on"] > 0 and report["linking_s"] > 0
