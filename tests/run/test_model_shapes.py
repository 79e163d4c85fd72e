"""The model's shapes read from a run's record without torch: the same parameter count as the configuration's, and
None for a record that is not one."""

import pytest

from bambaprof.collect.footprint import weight_bytes
from bambaprof.model.config import preset
from bambaprof.run.model_shapes import ModelShapes, weight_params


@pytest.mark.parametrize("name", ["tiny", "bamba-9b"])
def test_the_record_counts_as_the_configuration(name):
    config = preset(name)
    shapes = ModelShapes.from_record(config.to_dict())
    assert shapes is not None and shapes.layer_types() == config.layer_types()
    assert (shapes.conv_dim, shapes.head_dim, shapes.mamba_intermediate) == \
        (config.conv_dim, config.head_dim, config.mamba_intermediate)
    for mixer_only in (True, False):
        assert weight_params(shapes, mixer_only) * shapes.element_bytes == weight_bytes(config, mixer_only)


def test_records_that_are_not_a_model():
    good = preset("tiny").to_dict()
    assert ModelShapes.from_record(good) is not None
    for change in ({"hidden_size": "64"}, {"hidden_size": 0}, {"hidden_size": True}, {"hidden_size": 2 ** 60},
                   {"dtype": "int8"}, {"tie_word_embeddings": 1}, {"attn_layer_indices": [-1]},
                   {"attn_layer_indices": "1"}, {"vocab_size": None}):
        assert ModelShapes.from_record({**good, **change}) is None, change
    assert ModelShapes.from_record(["not", "a", "dict"]) is None
    missing = dict(good)
    del missing["mamba_d_state"]
    assert ModelShapes.from_record(missing) is None
