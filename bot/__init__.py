"""cxbot's runtime: channels, API, delivery, CLI."""
