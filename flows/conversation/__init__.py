"""The conversation: state, inbound events, actions and the pure ``step`` function."""

from flows.conversation.actions import (
    Action,
    Choice,
    MarkOptIn,
    MarkOptOut,
    MarkSurvey,
    OpenEscalation,
    ScheduleTimer,
    Send,
    SetLanguage,
    StoreComment,
    StoreResponse,
    TimerKind,
)
from flows.conversation.engine import Engine
from flows.conversation.inbound import (
    ButtonPress,
    Command,
    CommandName,
    CustomerText,
    Inbound,
    ReminderDue,
    Started,
    SurveyDue,
    SurveyExpired,
)
from flows.conversation.state import ActiveSurvey, ConversationState, PendingSurvey, Phase, SurveyStatus

__all__ = [
    "Action",
    "ActiveSurvey",
    "ButtonPress",
    "Choice",
    "Command",
    "CommandName",
    "ConversationState",
    "CustomerText",
    "Engine",
    "Inbound",
    "MarkOptIn",
    "MarkOptOut",
    "MarkSurvey",
    "OpenEscalation",
    "PendingSurvey",
    "Phase",
    "ReminderDue",
    "ScheduleTimer",
    "Send",
    "SetLanguage",
    "Started",
    "StoreComment",
    "StoreResponse",
    "SurveyDue",
    "SurveyExpired",
    "SurveyStatus",
    "TimerKind",
]
