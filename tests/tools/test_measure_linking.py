"""tools/measure_linking.py runs on a tiny synthetic video and reports linking's share."""

from tests.conftest import load_tool


def test_it_reports_links_and_linking_time(capsys):
    tool = load_tool("measure_linking")
    assert tool.main(["--frames", "120", "--people", "3", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("120 frames, 3 people: ") and "links" in out.splitlines()[0]
    assert "linking (summaries + assignment): " in out and " %" in out
