"""The one registry of what LeadOps can run: importing this module registers every domain's jobs
(and the exports, which register in their own module).

The app, the command line and the inbox import this module, never a domain's jobs one by one, so
a job handed over by any process is known to every other.
"""

from __future__ import annotations

from collections.abc import Callable

from core.accounts import jobs as accounts_jobs
from core.bison import jobs as bison_jobs
from core.campaigns import jobs as campaigns_jobs
from core.contacts import jobs as contacts_jobs
from core.demo import jobs as demo_jobs
from core.guardrails import jobs as guardrails_jobs
from core.pipeline import jobs as pipeline_jobs
from core.platform import exports, jobs
from core.platform.store import Database
from core.replies import jobs as replies_jobs
from core.revenue import jobs as revenue_jobs
from core.setup import jobs as setup_jobs
from core.territories import jobs as territories_jobs

DOMAIN_JOBS = (
    accounts_jobs,
    bison_jobs,
    campaigns_jobs,
    contacts_jobs,
    demo_jobs,
    guardrails_jobs,
    pipeline_jobs,
    replies_jobs,
    revenue_jobs,
    setup_jobs,
    territories_jobs,
)
EXPORTS = exports.EXPORTS


def start_demo_sandbox(db: Database, notify: Callable[[str], None] | None = None) -> str | None:
    """Start the demo sandbox, a simulated Email Bison (core/demo/sandbox), when the database
    holds the demo and no Email Bison address is configured; its address, or None. For
    `leadops serve`; `notify` hears about slow steps."""
    from core.demo.sandbox import runtime  # the web server it runs loads only here

    sandbox = runtime.start_if_wanted(db, notify)
    return sandbox.url if sandbox else None


def job_kinds() -> list[str]:
    """Every job kind the catalog registers, sorted."""
    return sorted(jobs.REGISTRY)
