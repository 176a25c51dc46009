"""The ``cxbot serve`` process: assembling channels, the API, the clock and the senders; periodic jobs."""
