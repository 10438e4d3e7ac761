"""The demo's tickets: what a small SaaS support queue sees in a morning (written for deskhand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KB_DIR = Path(__file__).parent / "kb"


@dataclass(frozen=True, slots=True)
class DemoTicket:
    subject: str
    body: str
    name: str
    email: str
    expect: str  # what a careful human would do: answer | draft | human (shown, never enforced)


TICKETS: tuple[DemoTicket, ...] = (
    DemoTicket(
        "How do I reset my password?",
        "Hi, I forgot my password and can't sign in to our workspace. How do I reset it?",
        "Maria Lopez",
        "maria.lopez@example.com",
        "answer",
    ),
    DemoTicket(
        "Where can I download our invoices?",
        "Our accountant needs the PDF invoices for the last three months. Where do I find them?",
        "Tom Becker",
        "tom.becker@example.org",
        "answer",
    ),
    DemoTicket(
        "Invite a new colleague",
        "How can I invite a teammate to our workspace? She just joined the marketing team.",
        "Aiko Tanaka",
        "aiko@example.jp",
        "answer",
    ),
    DemoTicket(
        "Setting up 2FA",
        "I'd like to turn on two-factor authentication for my account with an authenticator app. What are the steps?",
        "Liam O'Brien",
        "liam.obrien@example.ie",
        "answer",
    ),
    DemoTicket(
        "Locked out of my account",
        "I typed the wrong password too many times and now my account is locked. How long until I can sign in?",
        "Sofia Rossi",
        "sofia.rossi@example.it",
        "answer",
    ),
    DemoTicket(
        "Export everything to CSV",
        "We're doing a quarterly review. Is there a way to export all our projects and tasks to CSV?",
        "Noah Smith",
        "noah@example.com",
        "answer",
    ),
    DemoTicket(
        "Charged twice this month",
        "I see two charges of $49 on my card for November. Can you check what happened and refund one?",
        "Emma Wilson",
        "emma.wilson@example.co.uk",
        "draft",
    ),
    DemoTicket(
        "Everything is down!!",
        "Your app has been down for 20 minutes, nothing loads and the API returns 503 for every request. "
        "Our whole team is blocked.",
        "Carlos Mendes",
        "carlos@example.br",
        "human",
    ),
    DemoTicket(
        "Third time asking - unacceptable",
        "This is the THIRD time I'm writing about the same problem and nobody answers. Your support is "
        "useless and your product is garbage. I want a refund NOW or I'm disputing the charge with my bank!!!",
        "Greg Harris",
        "greg.harris@example.com",
        "human",
    ),
    DemoTicket(
        "Feature request: dark mode",
        "It would be great to have a dark mode in the web app. Many of us work late and the white "
        "background is harsh. Any plans?",
        "Lena Fischer",
        "lena.fischer@example.de",
        "human",
    ),
    DemoTicket(
        "asdfgh",
        "qwerty zxcvb lkjhg poiuy mnbvc",
        "Unknown Sender",
        "x9@example.net",
        "human",
    ),
    DemoTicket("help", "?", "Sam Lee", "sam.lee@example.com", "human"),
    DemoTicket(
        "All our data is gone after the update",
        "After this morning's update all projects in our workspace disappeared. This is data loss for "
        "a 40-person team, please escalate immediately.",
        "Priya Natarajan",
        "priya@example.in",
        "human",
    ),
    DemoTicket(
        "Rotate an API key",
        "We rotate credentials every quarter. How do I create a new API key and revoke the old one?",
        "Jonas Berg",
        "jonas.berg@example.se",
        "answer",
    ),
)
