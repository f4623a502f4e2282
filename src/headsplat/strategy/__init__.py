"""Densification and pruning strategies behind one interface (DESIGN §7)."""

from headsplat.strategy.base import Strategy, StrategyConfig, make_strategy

__all__ = ["Strategy", "StrategyConfig", "make_strategy"]
