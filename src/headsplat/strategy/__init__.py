"""Densification and pruning strategies behind one interface, by registry name."""

from typing import Any

from headsplat.io.settings import the_chosen
from headsplat.strategy.base import (
    STRATEGIES,
    DensificationConfig,
    StepContext,
    Strategy,
    StrategyConfig,
    StrategyState,
    register_strategy,
)
from headsplat.strategy.deformation import DeformationConfig, DeformationStrategy
from headsplat.strategy.fixed import FixedStrategy
from headsplat.strategy.sampling import SamplingConfig, SamplingStrategy
from headsplat.strategy.temporal import TemporalConfig, TemporalStrategy
from headsplat.strategy.threshold import ThresholdConfig, ThresholdStrategy


def make_strategy(slot: dict[str, Any], image_size: int) -> Strategy:
    """The strategy a run config's ``strategy`` slot chooses (one name -> its config)."""
    chosen = the_chosen(slot)
    if chosen is None or len(slot) > 1:
        raise ValueError(f"a run has exactly one strategy, got {', '.join(slot) or 'none'}")
    name, config = chosen
    return STRATEGIES[name](config, image_size)


__all__ = [
    "STRATEGIES",
    "DeformationConfig",
    "DeformationStrategy",
    "DensificationConfig",
    "FixedStrategy",
    "SamplingConfig",
    "SamplingStrategy",
    "StepContext",
    "Strategy",
    "StrategyConfig",
    "StrategyState",
    "TemporalConfig",
    "TemporalStrategy",
    "ThresholdConfig",
    "ThresholdStrategy",
    "make_strategy",
    "register_strategy",
]
