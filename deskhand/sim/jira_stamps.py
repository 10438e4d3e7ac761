"""Change stamps for the Jira simulator's state, so search caches know when they are stale.

Every write to an issue, comment, user, project or workflow (an attribute, a list it holds, or the
state's tables) takes a new stamp from one counter, so search caches know when they are stale without
comparing data: `LAST[0]` changes with anything, `LAST[1]` with anything that is not one issue's own
fields (a user's name or a comment's body shows in many issues' facts). Stamps are unique, so an equal
stamp means "nothing changed since".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

_STAMPS = itertools.count(1)
LAST = [0, 0]  # [the newest stamp, the newest shared stamp]


def stamp(shared: bool) -> int:
    """A new stamp for a change; `shared`: it may show in other issues' facts too."""
    value = next(_STAMPS)
    LAST[0] = value
    if shared:
        LAST[1] = value
    return value


class Tracked:
    """Mixin: every attribute write re-stamps the object; plain lists it is given become tracked."""

    _own_facts = False  # True: its changes only touch its own facts (an issue)

    def __setattr__(self, name: str, value: Any) -> None:
        if type(value) is list:
            value = _TrackedList(value, self)
        object.__setattr__(self, name, value)
        self._touch()

    def _touch(self) -> None:
        object.__setattr__(self, "_stamp", stamp(shared=not self._own_facts))


class _TrackedList(list):  # type: ignore[type-arg]
    """A list that re-stamps its owner when changed in place (`issue.labels.append(...)`)."""

    def __init__(self, items: Iterable[Any], owner: Tracked) -> None:
        super().__init__(items)
        self._owner = owner

    def _touched(self) -> None:
        owner = getattr(self, "_owner", None)
        if owner is not None:
            owner._touch()


class TrackedTable(dict):  # type: ignore[type-arg]
    """The state's id -> object tables: adding or removing a row takes a stamp."""

    def __init__(self, items: Any = (), *, shared: bool = True) -> None:
        super().__init__(items)
        self._shared = shared

    def _touched(self) -> None:
        stamp(getattr(self, "_shared", True))


def _mutator(base: Any, name: str) -> Any:
    method = getattr(base, name)

    def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._touched()
        return result

    changed.__name__ = name
    return changed


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):
    setattr(_TrackedList, _name, _mutator(list, _name))
for _name in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault", "__ior__"):
    setattr(TrackedTable, _name, _mutator(dict, _name))
