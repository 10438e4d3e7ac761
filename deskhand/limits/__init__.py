"""Rate-limit budgets per account × provider, shared by every process on the same store.

- :class:`BudgetLimiter` plugs into the provider client (``before_request`` / ``observe``);
- :class:`BudgetBook` holds the budgets as rows updated by single atomic SQL statements;
- lanes (:func:`using_lane`): write-back before interactive reads before backfill;
- :class:`Verdict` is the decision "wait how long, why", logged whenever it is not "go".
"""

from deskhand.limits.book import BudgetBook, Verdict
from deskhand.limits.headers import Reading, read_headers
from deskhand.limits.lanes import BACKFILL, INTERACTIVE, LANES, WRITE, current_lane, using_lane
from deskhand.limits.limiter import BudgetLimiter, BudgetWait, budget_limiter

__all__ = [
    "BACKFILL",
    "INTERACTIVE",
    "LANES",
    "WRITE",
    "BudgetBook",
    "BudgetLimiter",
    "BudgetWait",
    "Reading",
    "Verdict",
    "budget_limiter",
    "current_lane",
    "read_headers",
    "using_lane",
]
