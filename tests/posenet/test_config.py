import pytest

from posenet.config import Config, load_config, load_dataclass, parse_overrides
from posenet.errors import ConfigError


def test_defaults_are_the_seed_recipe():
    cfg = Config()
    assert cfg.train.lr == 1e-3 and cfg.train.lr_steps == [90, 120] and cfg.train.epochs == 140
    assert cfg.model.image_size == [192, 256] and cfg.model.heatmap_size == [48, 64]


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  depth: 101\ntrain:\n  lr: 0.002\n")
    cfg = load_config(
        path, ["train.lr=0.005", "test.flip_test=false", "model.image_size=[288, 384]"]
    )
    assert cfg.model.depth == 101
    assert cfg.train.lr == 0.005
    assert cfg.test.flip_test is False
    assert cfg.model.image_size == [288, 384]


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  dept: 50\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "model.dept" in str(info.value) and "bad.yaml" in str(info.value)


def test_unknown_override_names_set():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.lrr=1"])
    assert "train.lrr" in str(info.value) and "--set" in str(info.value)


def test_wrong_type_and_bad_choice():
    with pytest.raises(ConfigError, match="train.epochs"):
        load_dataclass(Config, None, ["train.epochs=abc"])
    with pytest.raises(ConfigError, match="depth"):
        load_config(None, ["model.depth=42"])


def test_parse_overrides_nested():
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}
    with pytest.raises(ConfigError):
        parse_overrides(["novalue"])


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/x.yaml")


def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("train:\n  lr: 0.01\n  epochs: 3\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: key 'lr' is given twice \(lines 2 and 4\)"):
        load_config(path)


def test_a_config_that_is_not_utf8_is_one_clear_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("output_dir: 'r\xe9sultats'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: not UTF-8 text \(byte 0xe9"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
        ("train.lr=-1", "train.lr must be > 0, got -1"),
        ("train.workers=-4", "train.workers must be >= -1, got -4"),
        ("train.lr=.nan", "train.lr: expected a finite number"),
        ("data.scale_factor=.inf", "data.scale_factor: expected a finite number"),
    ],
)
def test_out_of_range_values_fail_at_load_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(None, [override])
