"""Fake external services for connector contract tests. (The simulated Email Bison is product
code now, the demo sandbox: `core.demo.sandbox`.)"""

from .crm_server import CrmFake
from .debounce_server import DebounceFake
from .llm_server import LlmFake
from .receivers import SlackReceiver, SmtpReceiver

__all__ = ["CrmFake", "DebounceFake", "LlmFake", "SlackReceiver", "SmtpReceiver"]
