"""Every tool's --help says each option's default (or what happens without it), and offers
only what the tool accepts."""

from __future__ import annotations

import argparse

import pytest

from tests.conftest import load_tool

TOOLS = [
    "track_video",
    "track_posetrack",
    "train",
    "valid",
    "eval_mpii",
    "eval_posetrack",
    "export_onnx",
]


class Parsed(Exception):
    """Raised instead of parsing: carries the tool's parser."""


def tool_parsers(name: str, monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """The parser of tools/<name>.py (and of each subcommand), by (sub)command name."""
    tool = load_tool(name)
    if hasattr(tool, "build_parser"):
        parser = tool.build_parser()
    else:

        def catch(self, *args, **kwargs):
            raise Parsed(self)

        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
        with pytest.raises(Parsed) as caught:
            tool.main([])
        parser = caught.value.args[0]
    parsers = {name: parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.update({f"{name} {k}": p for k, p in action.choices.items()})
    return parsers


def option_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each option's help as --help shows it, by option string, for the options that take a
    value and are not required (flags are off by default; required ones have no default)."""
    formatter = parser._get_formatter()
    shown = {}
    for action in parser._actions:
        flag = isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction))
        if action.option_strings and not flag and not action.required:
            # --help prints nothing about an option without a help text, not even its default
            text = formatter._expand_help(action) if action.help else ""
            shown[action.option_strings[-1]] = text
    return shown


@pytest.mark.parametrize("name", [*TOOLS, "benchmark"])
def test_help_says_every_default(name, monkeypatch):
    for command, parser in tool_parsers(name, monkeypatch).items():
        for option, text in option_help(parser).items():
            assert "default" in text, f"{command} {option}: {text!r}"
        parser.format_help()  # every help text formats


def test_benchmark_track_shows_its_numbers(monkeypatch):
    shown = option_help(tool_parsers("benchmark", monkeypatch)["benchmark track"])
    assert "(default: 64)" in shown["--frames"] and "default: 10" in shown["--people"]
    assert "default" in shown["--intervals"]


def test_track_posetrack_offers_only_the_formats_it_accepts(monkeypatch):
    parser = tool_parsers("track_posetrack", monkeypatch)["track_posetrack"]
    assert "jsonl" not in option_help(parser)["--format"]
    assert "jsonl" not in parser.format_help()
