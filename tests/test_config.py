"""Config validation: one line naming file, key path and what was expected."""

from __future__ import annotations

import pytest

from flowcep_plugin.config import compose_schema, load_config, parse_duration, validate_config
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.manager import make_plugin_manager
from flowcep_plugin.registry import Registry


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("1 min", 60), ("2 minutes", 120), ("1 minute", 60), ("30 sec", 30),
    ("500 msec", 0.5), ("1h", 3600), (45, 45), ("1.5 min", 90),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "-5s", "3 parsecs", True])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.fixture(scope="module")
def schema():
    return compose_schema(Registry.build(make_plugin_manager()))


@pytest.mark.parametrize("config,message", [
    ({"runn": {}}, "f.toml: (top level): unknown key 'runn'; expected one of:"),
    ({"run": {"batch_size": "big"}}, "f.toml: run.batch_size: expected integer, got str 'big'"),
    ({"run": {"lateness": "soonish"}}, "f.toml: run.lateness: 'soonish' is not a duration"),
    ({"run": {"inputs": "data.ipfix"}}, "f.toml: run.inputs: expected array, got str 'data.ipfix'"),
    ({"elements": [{"id": 1}]}, "f.toml: elements[0]: 'name' is a required property"),
    ({"outputs": {"jsonl": {"flow": True}}}, "f.toml: outputs.jsonl: unknown key 'flow'; expected one of: append, dedup, flows, fsync, fsync_interval"),
])
def test_errors_are_one_line_with_key_path(schema, config, message):
    with pytest.raises(ConfigError) as exc:
        validate_config(config, schema, "f.toml")
    text = str(exc.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert exc.value.exit_code == 2


def test_valid_config_passes(schema):
    validate_config({"run": {"inputs": ["x.ipfix"], "lateness": "45s"},
                     "alerts": {"suppression": "1h"},
                     "elements": [{"pen": 39499, "id": 99, "name": "myElement", "type": "string"}]},
                    schema, "f.toml")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        load_config(bad)
