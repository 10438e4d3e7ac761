"""Durable jobs: one port, one SQL adapter for SQLite and PostgreSQL."""

from deskhand.queue.port import PRIORITY_BACKFILL, PRIORITY_EVENT, PRIORITY_WRITE, Job, Queue
from deskhand.queue.sql import SqlQueue

__all__ = ["PRIORITY_BACKFILL", "PRIORITY_EVENT", "PRIORITY_WRITE", "Job", "Queue", "SqlQueue"]
