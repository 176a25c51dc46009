"""Business events from the shop: schema, ingestion and scheduling of the surveys they trigger."""
