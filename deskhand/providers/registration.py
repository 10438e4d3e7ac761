"""deskhand registering its own webhook in a helpdesk, where the provider's API allows it.

A definition says how under ``webhooks.registration`` (Zendesk: ``POST /webhooks`` subscribed to
ticket events, then ``GET /webhooks/{id}/signing_secret``); ``deskhand connect … --register-webhook URL``
calls it, so nobody has to click through the helpdesk's admin pages or copy the signing secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskhand.errors import ConfigError, PayloadError
from deskhand.providers.connector import Connector
from deskhand.providers.fields import get_path


@dataclass(frozen=True, slots=True)
class Registered:
    id: str
    url: str
    secret: str | None  # the signing secret the helpdesk made (None: the definition cannot read it)


def webhook_url(public_url: str, provider: str, account: str) -> str:
    """Where the helpdesk must deliver: deskhand's public base URL + /webhooks/<provider>/<account>."""
    base = public_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ConfigError(f"--register-webhook {public_url!r} is not a URL: give deskhand's public base URL, "
                          "e.g. https://deskhand.example.com")
    return f"{base}/webhooks/{provider}/{account}"


def register_webhook(connector: Connector, public_url: str) -> Registered:
    """Create the account's webhook in the helpdesk and read back its signing secret."""
    spec = connector.definition.webhooks.registration if connector.definition.webhooks else None
    if spec is None:
        raise ConfigError(f"{connector.provider} has no webhook API deskhand can use: create the webhook by hand "
                          "(README: \"The helpdesk must be told to call deskhand\")")
    url = webhook_url(public_url, connector.provider, connector.account)
    created = connector.call(spec.create, {"webhook_url": url, "webhook_name": f"deskhand {connector.account}"})
    webhook_id = get_path(created, spec.id)
    if webhook_id in (None, ""):
        raise PayloadError(f"{connector.provider} created a webhook but its answer has no {spec.id}")
    secret = None
    if spec.secret is not None:
        found = get_path(connector.call(spec.secret, {"webhook_id": str(webhook_id)}), spec.secret_path or "")
        secret = str(found) if found else None
    return Registered(str(webhook_id), url, secret)
