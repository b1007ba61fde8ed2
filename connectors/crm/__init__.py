"""CRM connectors: HubSpot, GoHighLevel and a signed generic webhook. Each delivers a
:class:`LeadRecord` idempotently (upsert by email) and reports every HTTP attempt."""

from ._base import Attempt, DeliveryState, LeadRecord, RecordingTransport
from .gohighlevel import GoHighLevelClient
from .hubspot import HUBSPOT_STAGE_MAP, HubSpotClient
from .webhook import WebhookClient, sign_body, verify_signature

__all__ = [
    "HUBSPOT_STAGE_MAP",
    "Attempt",
    "DeliveryState",
    "GoHighLevelClient",
    "HubSpotClient",
    "LeadRecord",
    "RecordingTransport",
    "WebhookClient",
    "sign_body",
    "verify_signature",
]
