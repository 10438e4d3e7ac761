"""`deskhand kb pull ACCOUNT`: help-centre articles from a connected helpdesk into the knowledge."""

from __future__ import annotations
