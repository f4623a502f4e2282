"""Densification and pruning strategies behind one interface, by registry name."""

from headsplat.strategy.base import StepContext, Strategy, StrategyConfig, StrategyState
from headsplat.strategy.fixed import FixedStrategy
from headsplat.strategy.sampling import SamplingStrategy
from headsplat.strategy.temporal import TemporalStrategy
from headsplat.strategy.threshold import ThresholdStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "fixed": FixedStrategy,
    "sampling": SamplingStrategy,
    "temporal": TemporalStrategy,
    "threshold": ThresholdStrategy,
}
"""The registry: ``headsplat train --strategy`` offers these names."""


def make_strategy(config: StrategyConfig, image_size: int) -> Strategy:
    """The registered strategy ``config.name``."""
    if config.name not in STRATEGIES:
        raise ValueError(f"unknown strategy {config.name!r}; choose one of {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[config.name](config, image_size)


__all__ = [
    "STRATEGIES",
    "FixedStrategy",
    "SamplingStrategy",
    "StepContext",
    "Strategy",
    "StrategyConfig",
    "StrategyState",
    "TemporalStrategy",
    "ThresholdStrategy",
    "make_strategy",
]
