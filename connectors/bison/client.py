"""The Email Bison client: one class over every resource mixin."""

from __future__ import annotations

from .campaigns import CampaignsMixin
from .inbox import InboxMixin
from .leads import LeadsMixin


class BisonClient(CampaignsMixin, LeadsMixin, InboxMixin):
    """Typed client for one Email Bison instance and one token.

    Use an api-user token per workspace for day-to-day work; a super-admin token
    lists workspaces and mints those tokens (:meth:`create_workspace_token`),
    then :meth:`with_token` gives the per-workspace client. Returns plain
    dataclasses from :mod:`connectors.bison.models`; never touches the store.

        with BisonClient("https://send.agency.com", token) as bison:
            for campaign in bison.iter_campaigns(status="active"):
                ...
    """
