"""Outbound: the one outbox sender and its retry policy, Telegram's limits shared by workers,
e-mail and in-process delivery."""
