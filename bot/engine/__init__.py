"""The service's engine: feed an inbound event, step the sans-IO flow, persist, act; timers and wiring."""
