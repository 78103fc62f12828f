import json

import pytest

from stemtf.errors import InputError
from stemtf.training import TrainConfig, parse_tf_config

GOOD = {
    "cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
    "task": {"type": "worker", "index": 1},
}


def test_good_tf_config():
    assert parse_tf_config(json.dumps(GOOD))["task"]["index"] == 1


@pytest.mark.parametrize(
    "text, fragment",
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"cluster": 3, "task": {}}', "'cluster' must be"),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "needs 'worker'"),
        (
            '{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}',
            "not 'host:port'",
        ),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task type"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 5}}',
            "task index 5",
        ),
    ],
)
def test_malformed_tf_config_one_line(text, fragment):
    with pytest.raises(InputError, match=fragment) as e:
        parse_tf_config(text)
    assert "\n" not in str(e.value)


def test_config_defaults_follow_the_paper():
    c = TrainConfig(synthetic=8)
    assert c.learning_rate == 1e-4 and c.weight_decay == 1e-5 and c.loss == "l1"
    assert TrainConfig.from_dict(c.to_dict()) == c
    r = TrainConfig(data_dir="d", renoise_dose_range_e=[50, 1e5], space_to_depth=2)
    assert r.renoise_dose_range_e == (50.0, 1e5)
    assert TrainConfig.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.model_config()["space_to_depth"] == 2


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({}, "no training data"),
        ({"synthetic": 8, "data_dir": "d"}, "only one"),
        ({"synthetic": 8, "strategy": "ring"}, "strategy='ring'"),
        ({"synthetic": 8, "loss": "l2"}, "loss='l2'"),
        ({"synthetic": 8, "batch_size": 0}, "batch_size=0"),
        ({"synthetic": 8, "width": 1}, "width=1"),
        ({"synthetic": 8, "space_to_depth": 0}, "space_to_depth=0"),
        ({"data_dir": "d", "renoise_dose_range_e": (100.0, 10.0)}, "renoise_dose_range_e"),
        ({"data_dir": "d", "renoise_dose_range_e": (0.0, 10.0)}, "renoise_dose_range_e"),
        ({"synthetic": 8, "renoise_dose_range_e": (10.0, 100.0)}, "needs a dataset"),
    ],
)
def test_bad_config(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        TrainConfig(**kwargs)
