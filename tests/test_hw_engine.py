"""TrainingEngine construction: parameter checks (its behaviour is co-simulated in test_engine_cosim)."""

import pytest

from nitro_hw.hw.engine import TrainingEngine


@pytest.mark.parametrize("kw", [{"n": 2}, {"weight_width": 8}, {"poison_collisions": "yes"}])
def test_engine_rejects_bad_parameters(kw):
    with pytest.raises(ValueError, match="TrainingEngine"):
        TrainingEngine(**kw)
