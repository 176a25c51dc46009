"""Checks at the trust boundary: request signatures, input hygiene, streamed body limits."""
