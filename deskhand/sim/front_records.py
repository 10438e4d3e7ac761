"""How the Front simulator answers: error bodies and the records' public shapes (with ``_links``).

Shapes follow Front's OpenAPI description (``core-api.json``, frontapp/front-api-specs):
``ConversationResponse``, ``MessageResponse``, ``CommentResponse``, ``TagResponse``,
``TeammateResponse``, ``TeamResponse``, ``ContactResponse``, ``ChannelResponse``, ``InboxResponse``,
``StatusResponse``, ``EventResponse``. Errors are ``{"_error": {"status", "title", "message"}}``.
Times are UNIX seconds (numbers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deskhand.sim.front_state import FrontState

TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 429: "Too many requests", 500: "Internal server error"}


class FrontError(Exception):
    """An error answer: ``status`` and Front's ``_error`` body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.body = {"_error": {"status": status, "title": TITLES.get(status, "Error"), "message": message}}


def bad_request(message: str) -> FrontError:
    return FrontError(400, message)


def not_found(message: str) -> FrontError:
    return FrontError(404, message)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Render:
    """Public shapes of the state's records, linked under ``root`` (the URL the client used)."""

    def __init__(self, state: FrontState, root: str):
        self.state, self.root = state, root

    def link(self, path: str) -> str:
        return f"{self.root}{path}"

    def teammate(self, tid: str) -> dict[str, Any]:
        mate = self.state.teammates[tid]
        return {"_links": {"self": self.link(f"/teammates/{tid}"),
                           "related": {"inboxes": self.link(f"/teammates/{tid}/inboxes"),
                                       "conversations": self.link(f"/teammates/{tid}/conversations")}},
                **_public(mate)}

    def tag(self, tid: str) -> dict[str, Any]:
        return {"_links": {"self": self.link(f"/tags/{tid}"),
                           "related": {"conversations": self.link(f"/tags/{tid}/conversations"),
                                       "owner": None, "parent_tag": None, "children": None}},
                **_public(self.state.tags[tid])}

    def inbox(self, iid: str) -> dict[str, Any]:
        return {"_links": {"self": self.link(f"/inboxes/{iid}"),
                           "related": {"conversations": self.link(f"/inboxes/{iid}/conversations"),
                                       "channels": self.link(f"/inboxes/{iid}/channels")}},
                **_public(self.state.inboxes[iid])}

    def team(self, tid: str) -> dict[str, Any]:
        team = self.state.teams[tid]
        return {"_links": {"self": self.link(f"/teams/{tid}")}, "id": tid, "name": team["name"],
                "inboxes": [self.inbox(i) for i in team["inbox_ids"]],
                "members": [self.teammate(m) for m in team["member_ids"]]}

    def channel(self, cid: str) -> dict[str, Any]:
        channel = self.state.channels[cid]
        return {"_links": {"self": self.link(f"/channels/{cid}"),
                           "related": {"inbox": self.link(f"/inboxes/{channel['_inbox_id']}")}}, **_public(channel)}

    def status(self, sid: str) -> dict[str, Any]:
        return {"_links": {"self": self.link(f"/company/statuses/{sid}")}, **_public(self.state.statuses[sid])}

    def contact(self, cid: str) -> dict[str, Any]:
        contact = self.state.contacts[cid]
        return {"_links": {"self": self.link(f"/contacts/{cid}"),
                           "related": {"notes": self.link(f"/contacts/{cid}/notes"),
                                       "conversations": self.link(f"/contacts/{cid}/conversations")}},
                **{k: v for k, v in _public(contact).items() if v is not None}}

    def recipient(self, handle: str, role: str, name: str | None, contact_id: str | None) -> dict[str, Any]:
        return {"_links": {"related": {"contact": self.link(f"/contacts/{contact_id}") if contact_id else None}},
                "name": name, "handle": handle, "role": role}

    def conversation(self, cid: str) -> dict[str, Any]:
        conv = self.state.conversations[cid]
        messages = self.state.messages[cid]
        shown: dict[str, Any] = {
            "_links": {"self": self.link(f"/conversations/{cid}"),
                       "related": {"events": self.link(f"/conversations/{cid}/events"),
                                   "followers": self.link(f"/conversations/{cid}/followers"),
                                   "messages": self.link(f"/conversations/{cid}/messages"),
                                   "comments": self.link(f"/conversations/{cid}/comments"),
                                   "inboxes": self.link(f"/conversations/{cid}/inboxes"),
                                   **({"last_message": self.link(f"/messages/{messages[-1]['id']}")}
                                      if messages else {})}},
            "id": cid, "type": "conversation", "subject": conv["subject"],
            "status": self.state.response_status(conv),
            "ticket_ids": list(conv["ticket_ids"]),
            "assignee": self.teammate(conv["assignee_id"]) if conv["assignee_id"] else None,
            "recipient": self.recipient(conv["_handle"], "from", conv["_name"], conv["_contact_id"]),
            "tags": [self.tag(t) for t in conv["tag_ids"]],
            "links": [], "custom_fields": dict(conv["custom_fields"]), "created_at": conv["created_at"],
            "is_private": False,
            "scheduled_reminders": [], "metadata": {},
        }
        if conv["status_id"]:
            shown["status_id"] = conv["status_id"]
            shown["status_category"] = self.state.statuses[conv["status_id"]]["category"]
        return shown

    def message(self, cid: str, message: dict[str, Any]) -> dict[str, Any]:
        mid = message["id"]
        conv = self.state.conversations[cid]
        recipients = [self.recipient(message["from"], "from", message["from_name"],
                                     conv["_contact_id"] if message["is_inbound"] else None),
                      self.recipient(message["to"], "to", None,
                                     None if message["is_inbound"] else conv["_contact_id"])]
        return {"_links": {"self": self.link(f"/messages/{mid}"),
                           "related": {"conversation": self.link(f"/conversations/{cid}"),
                                       "message_seen": self.link(f"/messages/{mid}/seen")}},
                "id": mid, "message_uid": message["message_uid"], "type": message["type"],
                "is_inbound": message["is_inbound"], "draft_mode": None, "created_at": message["created_at"],
                "subject": message["subject"], "blurb": message["blurb"],
                # a customer's message names no author: "author": null, as real answers have it
                "author": self.teammate(message["author_id"]) if message["author_id"] else None,
                "recipients": recipients, "body": message["body"], "text": message["text"],
                "attachments": [], "metadata": {"is_forward": False}, "is_draft": False}

    def comment(self, cid: str, comment: dict[str, Any]) -> dict[str, Any]:
        com_id = comment["id"]
        return {"_links": {"self": self.link(f"/comments/{com_id}"),
                           "related": {"conversation": self.link(f"/conversations/{cid}"),
                                       "mentions": self.link(f"/comments/{com_id}/mentions")}},
                "id": com_id, "author": self.teammate(comment["author_id"]), "body": comment["body"],
                "posted_at": comment["posted_at"], "attachments": [], "is_pinned": comment["is_pinned"]}

    def event(self, event: dict[str, Any], *, preview: bool = False) -> dict[str, Any]:
        """An event (``/events`` and application webhooks); ``preview``: ids and links only (a rule webhook
        set to send previews)."""
        cid = event["conversation_id"]
        shown: dict[str, Any] = {"_links": {"self": self.link(f"/events/{event['id']}")}, "id": event["id"],
                                 "type": event["type"], "emitted_at": event["emitted_at"],
                                 "source": {"_meta": {"type": event["source"]}}}
        if preview:
            shown["conversation"] = {"_links": {"self": self.link(f"/conversations/{cid}")}, "id": cid}
        else:
            shown["conversation"] = self.conversation(cid)
        if event["target"]:
            kind, tid = event["target"]
            shown["target"] = {"_meta": {"type": kind}, "data": self._target(cid, kind, tid, preview)}
        return shown

    def _target(self, cid: str, kind: str, tid: str, preview: bool) -> dict[str, Any]:
        paths = {"message": "messages", "comment": "comments", "tag": "tags", "teammate": "teammates",
                 "inboxes": "inboxes"}
        if preview or kind == "inboxes":
            return {"_links": {"self": self.link(f"/{paths[kind]}/{tid}")}, "id": tid}
        if kind == "message":
            return self.message(cid, next(m for m in self.state.messages[cid] if m["id"] == tid))
        if kind == "comment":
            return self.comment(cid, next(c for c in self.state.comments[cid] if c["id"] == tid))
        if kind == "tag":
            return self.tag(tid)
        return self.teammate(tid)
