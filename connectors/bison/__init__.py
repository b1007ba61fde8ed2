"""Email Bison connector (HTTP API, see docs EMAIL_BISON_API.md)."""

from connectors.http import (
    ApiError,
    AuthError,
    NetworkError,
    NotFoundError,
    RateLimited,
    RequestTimeout,
    ServerError,
    ValidationError,
)

from ._base import ENV_RATE, ENV_URL, MAX_BATCH, api_root
from .client import BisonClient
from .models import (
    ActionResult,
    Campaign,
    DailyStats,
    Lead,
    LeadCampaign,
    LeadUpsertResult,
    Reply,
    ScheduledEmail,
    SenderEmail,
    SequenceStep,
    Stats,
    StepStats,
    Tag,
    Workspace,
    WorkspaceToken,
)

__all__ = [
    "ENV_RATE",
    "ENV_URL",
    "MAX_BATCH",
    "ActionResult",
    "ApiError",
    "AuthError",
    "BisonClient",
    "Campaign",
    "DailyStats",
    "Lead",
    "LeadCampaign",
    "LeadUpsertResult",
    "NetworkError",
    "NotFoundError",
    "RateLimited",
    "Reply",
    "RequestTimeout",
    "ScheduledEmail",
    "SenderEmail",
    "SequenceStep",
    "ServerError",
    "Stats",
    "StepStats",
    "Tag",
    "ValidationError",
    "Workspace",
    "WorkspaceToken",
    "api_root",
]
