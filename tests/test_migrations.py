"""The migration history is one line: the next `alembic revision` needs no merge."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from deskhand.store.db import alembic_config


def test_the_migrations_have_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several Alembic heads {heads}: add a merge revision (alembic merge heads)"


def test_every_revision_leads_to_the_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    reachable = {rev.revision for rev in script.walk_revisions(base="base", head=head)}
    every = {rev.revision for rev in script.walk_revisions()}
    assert reachable == every
