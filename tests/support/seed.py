"""The names the seed document gives the estate: with no overrides, the shipped estate must declare exactly these."""

SEED_TABLES = (
    "galerly-users",
    "galerly-galleries",
    "galerly-photos",
    "galerly-sessions",
    "galerly-newsletters",
    "galerly-contact",
    "galerly-billing",
    "galerly-subscriptions",
    "galerly-analytics",
    "galerly-client-favorites",
    "galerly-client-feedback",
    "galerly-visitor-tracking",
    "galerly-notification-preferences",
)
SEED_BUCKETS = ("galerly-frontend-app", "galerly-images-storage")
