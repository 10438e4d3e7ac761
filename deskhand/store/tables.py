"""Every table of the store on one MetaData: the core schema plus each area's own table module.

An area that needs tables (sync replica, autonomy ledger, …) defines them in
`deskhand/store/tables_<area>.py` on `schema.metadata`, adds an Alembic revision for them, and is
imported here (one line) so migrations and the drift test see the whole schema.
"""

from __future__ import annotations

from deskhand.store import tables_api as tables_api  # API keys, idempotency, outbound webhooks
from deskhand.store import tables_autonomy as tables_autonomy  # modes, outcome ledger, kill switches
from deskhand.store import tables_console as tables_console  # web console users (issue 26)
from deskhand.store import tables_kb as tables_kb  # named knowledge sources
from deskhand.store import tables_llm as tables_llm  # learned taxonomies (issue 7)
from deskhand.store import tables_oauth as tables_oauth  # OAuth token sets, pending authorisations
from deskhand.store import tables_ops as tables_ops  # circuit breakers per account
from deskhand.store import tables_security as tables_security  # knowledge reviews (issue 14)
from deskhand.store import tables_sync as tables_sync  # budgets, sync checkpoints, replica
from deskhand.store.schema import metadata

__all__ = ["metadata"]
