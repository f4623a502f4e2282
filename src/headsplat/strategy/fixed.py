"""FlashAvatar's baseline: the initial UV samples, never densified, only pruned."""

from headsplat.strategy.base import Strategy


class FixedStrategy(Strategy):
    """The initial UV samples, only pruned."""
