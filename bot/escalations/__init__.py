"""Escalations: the agents' desk, hand-off, SLA sweeps and other destinations."""
