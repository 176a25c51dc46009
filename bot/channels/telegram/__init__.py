"""The Telegram channel on aiogram 3: durable inbox, inbox processor, sender transport, webhook."""
