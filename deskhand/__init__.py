"""deskhand: a self-hosted AI auto-responder for support tickets."""

__version__ = "0.1.0"
