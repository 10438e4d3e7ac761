"""The ticket text pipeline: the customer's words apart from templates, quotes, traces and logs."""

from __future__ import annotations

import pytest

from deskhand.ai.ticket_features import split_ticket, views
from deskhand.ai.ticket_text import read_ticket

BUG_FORM = """<!-- Please fill in the template below. Issues without repro steps are closed. -->

### Describe the bug

Saving a file over SSH freezes the editor for ten seconds.

### Steps to reproduce

1. Connect to a remote host
2. Save any file

### Expected behavior

_No response_

### Logs

```text
2023-09-28 10:01:02.123 [error] remote save timed out
    at Object.save (/usr/lib/code/out/vs/workbench.js:12:345)
```
"""

MAIL_REPLY = """Thanks, but the export still fails on the Data tab.

On Tue, 3 Oct 2023 at 10:12, Acme Support <help@acme.test> wrote:
> Please open Settings > Data and click Export.
> Regards, Acme
"""

SIGNED = """How do I add a second admin to our workspace?

Best regards,
Jane Doe
Head of Operations, Example Ltd
+44 20 7946 0000
"""

TRACE = """The app crashes when I open the invoice page.
Traceback (most recent call last):
  File "app.py", line 10, in <module>
    main()
ValueError: invoice id missing
"""


@pytest.mark.parametrize(
    ("body", "kept", "dropped", "signals"),
    [
        (BUG_FORM, ["freezes the editor", "Connect to a remote host"],
         ["Please fill in", "No response", "timed out", "workbench.js", "Expected behavior"],
         {"template", "code", "log", "stack_trace"}),
        (MAIL_REPLY, ["export still fails"], ["click Export", "wrote:"], {"quoted"}),
        (SIGNED, ["second admin"], ["Jane Doe", "7946"], {"question"}),
        (TRACE, ["crashes when I open the invoice page"], ["Traceback", "app.py", "invoice id missing"],
         {"stack_trace", "error_words"}),
    ],
    ids=["issue-form", "mail-reply", "signature", "stack-trace"],
)
def test_the_customers_words_are_kept_and_the_rest_becomes_signals(
    body: str, kept: list[str], dropped: list[str], signals: set[str]
) -> None:
    read = read_ticket("A subject", body)
    for phrase in kept:
        assert phrase in read.prose
    for phrase in dropped:
        assert phrase not in read.prose
    assert signals <= read.signals


def test_a_short_intent_is_left_as_it_is() -> None:
    title, body = split_ticket("I still have not received my new card, how long does it take?")
    read = read_ticket(title, body)
    assert read.title == "I still have not received my new card, how long does it take?"
    assert read.prose == ""
    assert read.chunks() == [read.title]


def test_long_prose_is_cut_between_sentences_into_a_bounded_number_of_chunks() -> None:
    sentence = "The nightly export to our warehouse stopped after the upgrade to version two. "
    read = read_ticket("Export stopped", sentence * 200)
    chunks = read.chunks(max_chars=300, limit=3)
    assert len(chunks) == 3
    assert chunks[0].startswith("Export stopped")
    assert all(len(c) <= 300 for c in chunks)
    assert all(c.rstrip().endswith(".") for c in chunks)


def test_the_lexical_view_keeps_template_headings_as_evidence_tokens() -> None:
    seen = views(["Editor freezes on save\n\n" + BUG_FORM])
    lexical = seen.lexical[0]
    assert "zzh_steps_to_reproduce" in lexical
    assert "zzsigstacktrace" in lexical
    assert lexical.startswith("Editor freezes on save\nEditor freezes on save")
