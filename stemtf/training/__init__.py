"""Training RDUNet with tf.distribute (default, mirrored, multiworker) and a custom step.

Importing this package is cheap; TensorFlow is imported by :func:`train` and the modules that
need it.
"""

from stemtf.training.config import TrainConfig
from stemtf.training.strategy import StrategyKind, make_strategy, parse_tf_config
from stemtf.training.synthetic import synthetic_pairs

__all__ = [
    "TrainConfig",
    "StrategyKind",
    "make_strategy",
    "parse_tf_config",
    "synthetic_pairs",
    "train",
]


def train(*args, **kwargs):
    """Train an RDUNet: see :func:`stemtf.training.loop.train`."""
    from stemtf.training.loop import train as _train

    return _train(*args, **kwargs)
