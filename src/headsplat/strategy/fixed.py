"""FlashAvatar's baseline: the initial UV samples, never densified, only pruned."""

from headsplat.strategy.base import Strategy, register_strategy


@register_strategy("fixed")
class FixedStrategy(Strategy):
    """The initial UV samples, only pruned."""
