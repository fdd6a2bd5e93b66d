"""A builder's split of an escrowed fee (NOTES §8.6): the affiliate's share in basis points.

SANDBOX_ESCROW_SPLIT = "affiliate_fee_bps" (the config's affiliate_fee_bps) | "tier_share" (the
builder tier's share, 15/25/35/40/45 %): the sources disagree, so it is a setting. The escrow takes
it when a fee is pulled (sandbox.escrow) and the chain's contract keeps the same per builder
(sandbox.chain), so both modules read it here.
"""

from __future__ import annotations

import environ

env = environ.Env()
SPLIT = env.str("SANDBOX_ESCROW_SPLIT", default="affiliate_fee_bps")
TIER_SHARE_BPS = {"iron": 1500, "bronze": 2500, "silver": 3500, "gold": 4000, "platinum": 4500}


def affiliate_share_bps(builder) -> int:
    if SPLIT == "tier_share":
        return TIER_SHARE_BPS.get(builder.tier, TIER_SHARE_BPS["iron"])
    return int(builder.affiliate_fee_bps)
