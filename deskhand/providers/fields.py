"""Reading and writing provider JSON: dotted paths, value maps, whole-value {placeholder} filling.

Paths are dotted: ``meta.has_more``, ``comments.0.body``; a segment ``events[type=Comment]`` picks
the first list element whose ``type`` equals ``Comment``. An empty path means the whole document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MISSING: Any = object()  # a placeholder whose value was not given: its key is dropped
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_.]*)\}$")
_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_SELECT = re.compile(r"^([^\[\]]*)\[([^=\]]+)=([^\]]*)\]$")


def map_key(value: Any) -> str:
    """The key a value has in a value map: booleans as YAML spells them, None as ``null``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def get_path(data: Any, path: str | None, default: Any = None) -> Any:
    """The value at a dotted path, or `default` when any step is absent."""
    if not path:
        return data
    current = data
    for segment in path.split("."):
        current = _step(current, segment)
        if current is MISSING:
            return default
    return default if current is None else current


def _step(current: Any, segment: str) -> Any:
    selector = _SELECT.match(segment)
    if selector:
        name, key, wanted = selector.groups()
        items = _step(current, name) if name else current
        if not isinstance(items, list):
            return MISSING
        for item in items:
            if isinstance(item, Mapping) and map_key(item.get(key)) == wanted:
                return item
        return MISSING
    if isinstance(current, Mapping):
        return current.get(segment, MISSING)
    if isinstance(current, list) and segment.lstrip("-").isdigit():
        index = int(segment)
        return current[index] if -len(current) <= index < len(current) else MISSING
    return MISSING


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in nested dicts, creating the dicts on the way."""
    *parents, last = path.split(".")
    current = data
    for segment in parents:
        current = current.setdefault(segment, {})
    current[last] = value


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill {placeholders} in a JSON-like template.

    A string that is exactly one placeholder is replaced by the value itself (any type: a list of
    tags stays a list); if the value is missing or None the enclosing key or list item is dropped,
    and a dict emptied that way is dropped too. A placeholder inside a longer string is formatted
    in; a missing one there is an error (KeyError naming it).
    """
    result = _fill(template, values)
    return None if result is MISSING else result


def _fill(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            value = _lookup(values, whole.group(1))
            return MISSING if value is None else value
        return _PART.sub(lambda m: _text(values, m.group(1)), template)
    if isinstance(template, Mapping):
        out = {k: _fill(v, values) for k, v in template.items()}
        out = {k: v for k, v in out.items() if v is not MISSING}
        return MISSING if template and not out else out
    if isinstance(template, list):
        return [v for v in (_fill(item, values) for item in template) if v is not MISSING]
    return template


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    if name in values:
        return values[name]
    return get_path(values, name) if "." in name else None


def _text(values: Mapping[str, Any], name: str) -> str:
    value = _lookup(values, name)
    if value is None:
        raise KeyError(name)
    return str(value)


def parse_pairs(text: Any) -> dict[str, str]:
    """``"Waiting for support=open, Pending=on_hold"`` (``,`` or ``;`` between pairs) or a JSON object."""
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    raw = str(text or "").strip()
    if raw.startswith("{"):
        import json

        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError(f"expected a JSON object, got {raw[:60]!r}")
        return {str(k): str(v) for k, v in loaded.items()}
    pairs: dict[str, str] = {}
    for part in re.split(r"[;,]", raw):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected name=value, got {part.strip()!r}")
        pairs[key.strip()] = value.strip()
    return pairs


class Rule:
    """How one model field is read from a provider record (built from the definition)."""

    __slots__ = ("default", "each", "fallback", "folded", "hook", "map", "path", "value")

    def __init__(
        self,
        path: str | None = None,
        *,
        map: Mapping[str, Any] | None = None,
        default: Any = None,
        each: str | None = None,
        value: Any = None,
        hook: Callable[[Any], Any] | None = None,
        ignore_case: bool = False,
        fallback: Rule | None = None,
    ) -> None:
        self.path = path
        self.map = dict(map) if map is not None else None
        self.folded = {k.casefold(): v for k, v in self.map.items()} if self.map is not None and ignore_case else None
        self.default = default
        self.each = each
        self.value = value
        self.hook = hook
        self.fallback = fallback

    def read(self, record: Any) -> Any:
        """The field's value: constant, or path → each → hook → map, with `default` for gaps;
        when that is still nothing, the fallback rule's value."""
        found = self._read(record)
        if found is None and self.fallback is not None:
            return self.fallback.read(record)
        return found

    def _read(self, record: Any) -> Any:
        if self.value is not None:
            return self.value
        raw = get_path(record, self.path)
        if raw is None:
            return self.default
        if self.each is not None and isinstance(raw, list):
            raw = [v for v in (get_path(item, self.each) for item in raw) if v is not None]
        if self.hook is not None:
            raw = self.hook(raw)
        if self.map is not None:
            if isinstance(raw, list):
                return [self._mapped(v) for v in raw]
            return self._mapped(raw)
        return raw

    def _mapped(self, raw: Any) -> Any:
        key = map_key(raw)
        if self.folded is not None:  # later entries (per-account overrides) win over earlier ones
            return self.folded.get(key.casefold(), self.default)
        assert self.map is not None
        return self.map.get(key, self.default)
