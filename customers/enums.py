"""Choices shared by the product apps, so an exchange is spelled one way everywhere."""

from django.db import models


class Exchange(models.TextChoices):
    POLYMARKET = "polymarket", "Polymarket"
    KALSHI = "kalshi", "Kalshi"
    LIMITLESS = "limitless", "Limitless"
    OPINION = "opinion", "Opinion"
    PREDICTFUN = "predictfun", "Predict.fun"


# Exchanges on which Parsec routes orders for end-users (NOTES §1); the others are data only.
TRADING_EXCHANGES = (Exchange.POLYMARKET, Exchange.KALSHI)
