"""A shop's python-telegram-bot (v22) bot that also runs cxbot's post-purchase surveys.

    export CXBOT_DATABASE_URL=sqlite:///./cxbot.db   # the same database as `cxbot serve`
    export SHOP_BOT_TOKEN=123456:ABC…                # the shop bot's token from @BotFather
    python examples/ptb_bot.py

Business events still reach cxbot through `POST /v1/events` (`cxbot serve`) or
`cxbot events import`; the deep link they return (`https://t.me/<bot>?start=<token>`) opens this
bot, whose /start binds the chat. The JobQueue (`python-telegram-bot[job-queue]`) asks due
surveys every few seconds; anything that is not a survey reply reaches the shop's own handlers.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes, MessageHandler, filters

from bot.channels.ptb import add_cxbot_handlers
from bot.engine.wiring import build_app
from bot.infra.settings import Settings


async def shop_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The shop's own /start (cxbot answers /start only for its customers' deep links)."""
    if update.effective_message is not None:
        await update.effective_message.reply_text("Ti diamo il benvenuto nel negozio! / Welcome to the shop!")


async def shop_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The shop's own answers to everything else."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            "Una persona del nostro team ti risponderà presto. / Someone from our team will reply soon."
        )


def main() -> None:
    """Run the shop's bot with cxbot's handlers until Ctrl-C."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    application = ApplicationBuilder().token(os.environ["SHOP_BOT_TOKEN"]).build()
    application.add_handler(CommandHandler("start", shop_start))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, shop_chat))
    add_cxbot_handlers(application, build_app(Settings()), group=-1, poll_interval=5.0)
    application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
