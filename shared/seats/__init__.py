"""seats: add or reduce seats on auto-renewing subscriptions."""
