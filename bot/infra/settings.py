"""Settings from environment variables (prefix ``CXBOT_``) or a ``.env`` file.

Each value is checked by its type (choices, URLs, time zones, ranges) when the settings are read,
so `cxbot config`, `cxbot serve` and every other command refuse exactly the same values.
Checks across several settings live in ``bot.cli.config_check.check_settings``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    TypeAdapter,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from flows.escalation import EscalationRules, ServiceLevels
    from flows.holidays import HolidayRules
    from flows.scheduling import QuietHours

_HTTP_URL = TypeAdapter(AnyHttpUrl)


def _http_url(value: str) -> str:
    """Accept an http(s) URL with a host; keep it as the string given."""
    _HTTP_URL.validate_python(value)
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _database_url(value: str) -> str:
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        raise ValueError("use sqlite:///FILE or postgresql://…")
    return value


def _quiet_hours(value: object) -> object:
    """Map the accepted spellings onto the two windows (flows.scheduling.parse_quiet_hours reads both)."""
    if isinstance(value, str):
        choice = value.strip().lower()
        if choice in ("default", "on", ""):
            return "default"
        if choice in ("off", "none", "false", "0"):
            return "off"
    return value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


HttpUrlStr = Annotated[str, AfterValidator(_http_url)]
Language = Annotated[Literal["it", "en"], BeforeValidator(_lower)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], BeforeValidator(_upper)]


class Settings(BaseSettings):
    """cxbot's configuration. Every field is the variable ``CXBOT_<NAME>``."""

    # Empty variables (``CXBOT_RASA_URL=`` in a copied .env.example) mean "not set".
    model_config = SettingsConfigDict(
        env_prefix="CXBOT_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    database_url: Annotated[str, AfterValidator(_database_url)] = Field(
        default="sqlite:///./cxbot.db", description="SQLite file or PostgreSQL URL."
    )
    journey: str | None = Field(
        default=None, description="Journey YAML file; the shipped default when unset."
    )
    telegram_token: SecretStr | None = Field(default=None, description="Bot token from @BotFather.")
    telegram_api_url: HttpUrlStr = Field(
        default="https://api.telegram.org", description="Bot API server base URL."
    )
    telegram_bot_username: str | None = Field(default=None, description="Bot username for deep links.")
    agents_chat_id: int | None = Field(default=None, description="Telegram chat id of the agents' group.")
    agent_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="User ids allowed to act as agents (strict); unset: any member of the agents' chat.",
    )
    manager_chat_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Chats receiving the weekly summary."
    )
    events_secret: SecretStr | None = Field(default=None, description="HMAC secret for POST /v1/events.")
    webhook_secret: SecretStr | None = Field(default=None, description="Telegram webhook secret token.")
    link_secret: SecretStr | None = Field(default=None, description="Secret signing deep links and buttons.")
    public_url: HttpUrlStr | None = Field(
        default=None, description="Public HTTPS base URL; enables webhook mode."
    )
    http_host: str = Field(default="127.0.0.1", description="HTTP API bind address.")
    http_port: int = Field(default=8080, ge=1, le=65535, description="HTTP API port.")
    quiet_hours: Annotated[Literal["default", "off"], BeforeValidator(_quiet_hours)] = Field(
        default="default", description="Sending window: 'default' (CX_METHOD §5) or 'off'."
    )
    company_timezone: Annotated[str, AfterValidator(_time_zone)] = Field(
        default="Europe/Rome",
        description="Timezone of the weekly summary and of the escalations' business hours.",
    )
    holiday_country: str = Field(
        default="IT",
        description="The company's country (ISO code): its holidays close the escalations' business "
        "hours, and apply to customers in time zones without one country; customers elsewhere get their "
        "own country's.",
    )
    holiday_subdivision: str | None = Field(
        default=None,
        description="The company's region/province for regional holidays, e.g. MI (its country only).",
    )
    holiday_extra_dates: str = Field(
        default="",
        description="Extra closed days in the company's country, MM-DD comma-separated (patron saint).",
    )
    report_language: Language = Field(default="it", description="Language of the weekly summary (it|en).")
    comment_retention_months: int = Field(
        default=0, ge=0, description="Delete customers' comments older than this many months (0 keeps them)."
    )
    connector_body_retention_days: int = Field(
        default=30,
        ge=0,
        description="Erase the raw bodies of shop/helpdesk webhook deliveries after this many days "
        "(their id, topic and outcome stay, so redeliveries are still recognised; 0 keeps them).",
    )
    log_level: LogLevel = Field(default="INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    outbound_budget: Literal["auto", "database", "memory"] = Field(
        default="auto",
        description="Where Telegram's send limits are counted: 'database' (shared by every worker), "
        "'memory' (one worker), 'auto' (database on PostgreSQL).",
    )
    agents_forum: bool = Field(
        default=False, description="The agents' group is a forum: a topic per escalation."
    )
    desk_language: Language | None = Field(
        default=None, description="Language of the agents' cards (it|en); the report language when unset."
    )
    sla_mentions: str = Field(
        default="", description="Who is mentioned when an escalation is nearly due (@names)."
    )
    helpdesk_webhook_url: HttpUrlStr | None = Field(
        default=None, description="Helpdesk webhook for escalations."
    )
    helpdesk_webhook_secret: SecretStr | None = Field(default=None, description="HMAC secret of the webhook.")
    smtp_host: str | None = Field(default=None, description="SMTP server for escalation e-mails.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the SMTP server.")
    smtp_from: str | None = Field(default=None, description="Sender address of escalation e-mails.")
    smtp_to: str | None = Field(
        default=None, description="Recipients of escalation e-mails (comma-separated)."
    )
    shopify_secret: SecretStr | None = Field(
        default=None, description="Shopify webhook signing secret; enables /v1/connectors/shopify."
    )
    woocommerce_secret: SecretStr | None = Field(
        default=None, description="WooCommerce webhook secret; enables /v1/connectors/woocommerce."
    )
    woocommerce_delivered_status: str = Field(
        default="completed",
        description="WooCommerce status meaning delivered ('none': the shop completes orders at shipping).",
    )
    aftership_secret: SecretStr | None = Field(
        default=None, description="AfterShip webhook secret; enables /v1/connectors/aftership."
    )
    chatwoot_secret: SecretStr | None = Field(
        default=None,
        description="Chatwoot webhook secret (signature) or shared token; enables /v1/connectors/chatwoot.",
    )
    helpdesk_secret: SecretStr | None = Field(
        default=None, description="Shared secret of /v1/connectors/helpdesk (Zendesk/Freshdesk triggers)."
    )
    chatwoot_url: HttpUrlStr | None = Field(
        default=None, description="Chatwoot base URL; escalations open a conversation there."
    )
    chatwoot_api_token: SecretStr | None = Field(default=None, description="Chatwoot agent/bot API token.")
    chatwoot_account_id: int | None = Field(default=None, description="Chatwoot account id.")
    chatwoot_inbox_id: int | None = Field(
        default=None, description="Chatwoot inbox (API channel) where escalations open conversations."
    )
    deep_link_email: bool = Field(
        default=False,
        description="E-mail the Telegram deep link (once per order) to customers with no chat yet.",
    )
    rasa_url: HttpUrlStr | None = Field(
        default=None, description="Rasa server base URL; enables Rasa delivery."
    )
    rasa_token: SecretStr | None = Field(default=None, description="Rasa HTTP API token (?token=).")
    rasa_output_channel: str = Field(default="latest", description="Rasa output_channel for triggers.")
    rasa_actions_host: str = Field(default="127.0.0.1", description="Rasa action server bind address.")
    rasa_actions_port: int = Field(default=5055, ge=1, le=65535, description="Rasa action server port.")

    @field_validator("agent_ids", "manager_chat_ids", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.replace(";", ",").split(",") if v.strip()]
        if isinstance(value, int):
            return [value]
        return value


def company_holidays(settings: Settings) -> HolidayRules:
    """Return the company's holiday rules from ``settings``.

    Raises:
        ConfigError: when the holiday country, subdivision or extra dates are invalid.
    """
    from flows.holidays import holiday_rules

    return holiday_rules(settings.holiday_country, settings.holiday_subdivision, settings.holiday_extra_dates)


def quiet_hours(settings: Settings) -> QuietHours | None:
    """Return the sending window of ``settings`` with its holiday rules (None when off).

    Raises:
        ConfigError: when the holiday country, subdivision or extra dates are invalid.
    """
    from flows.scheduling import parse_quiet_hours

    return parse_quiet_hours(settings.quiet_hours, company_holidays(settings))


def service_levels(settings: Settings, rules: EscalationRules) -> ServiceLevels:
    """Return the escalations' service levels: the journey's ``rules`` on the company's calendar.

    Raises:
        ConfigError: when the holiday country, subdivision or extra dates are invalid.
    """
    from flows.escalation import ServiceLevels

    return ServiceLevels(rules=rules, timezone=settings.company_timezone, holidays=company_holidays(settings))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings (read once)."""
    return Settings()
