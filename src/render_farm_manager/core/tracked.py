"""Lists and dicts of held models that see in-place changes.

``job.dependencies.append("parent")`` changes the job as much as ``job.dependencies = [...]``
does, so the list of a model the manager holds turns each in-place change into an assignment of
the changed copy: the model validates it and the manager's change path applies it (or refuses it,
and then the list is left as it was). A list of a model nobody holds simply takes the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex

TRACKED_FIELDS: dict[str, frozenset[str]] = {
    "RenderJob": frozenset({"dependencies", "excluded_node_ids"}),
    "RenderNode": frozenset({"performance_history"}),
    "NodeCapabilities": frozenset({"specialized_for"}),
}
TRACKED_NAMES: frozenset[str] = frozenset().union(*TRACKED_FIELDS.values())
"""Every field name tracked in some model: a write to any other field needs no look."""


class TrackedList(list[Any]):
    __slots__ = ("_field", "_owner")

    def __init__(self, items: Iterable[Any], owner: Any, field: str) -> None:
        list.__init__(self, items)
        self._owner = owner
        self._field = field

    def _change(self, change: Callable[[list[Any]], Any]) -> Any:
        changed = list(self)
        result = change(changed)
        setattr(self._owner, self._field, changed)
        # the model now holds the accepted value; a reference kept to this list follows it
        list.clear(self)
        list.extend(self, getattr(self._owner, self._field))
        return result

    def append(self, item: Any) -> None:
        self._change(lambda items: items.append(item))

    def extend(self, more: Iterable[Any]) -> None:
        more = list(more)
        self._change(lambda items: items.extend(more))

    def insert(self, index: SupportsIndex, item: Any) -> None:
        self._change(lambda items: items.insert(index, item))

    def remove(self, item: Any) -> None:
        self._change(lambda items: items.remove(item))

    def pop(self, index: SupportsIndex = -1) -> Any:
        return self._change(lambda items: items.pop(index))

    def clear(self) -> None:
        self._change(lambda items: items.clear())

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._change(lambda items: items.sort(*args, **kwargs))

    def reverse(self) -> None:
        self._change(lambda items: items.reverse())

    def __setitem__(self, index: Any, value: Any) -> None:
        self._change(lambda items: items.__setitem__(index, value))

    def __delitem__(self, index: Any) -> None:
        self._change(lambda items: items.__delitem__(index))

    def __iadd__(self, more: Iterable[Any]) -> Any:  # type: ignore[misc]
        self.extend(more)
        return getattr(self._owner, self._field)

    def __imul__(self, times: SupportsIndex) -> Any:
        self._change(lambda items: items.__imul__(times))
        return getattr(self._owner, self._field)

    def __reduce__(self) -> Any:  # a copy or a pickle is a plain list
        return (list, (list(self),))


class TrackedDict(dict[Any, Any]):
    __slots__ = ("_field", "_owner")

    def __init__(self, items: Any, owner: Any, field: str) -> None:
        dict.__init__(self, items)
        self._owner = owner
        self._field = field

    def _change(self, change: Callable[[dict[Any, Any]], Any]) -> Any:
        changed = dict(self)
        result = change(changed)
        setattr(self._owner, self._field, changed)
        dict.clear(self)
        dict.update(self, getattr(self._owner, self._field))
        return result

    def __setitem__(self, key: Any, value: Any) -> None:
        self._change(lambda items: items.__setitem__(key, value))

    def __delitem__(self, key: Any) -> None:
        self._change(lambda items: items.__delitem__(key))

    def pop(self, key: Any, *default: Any) -> Any:
        return self._change(lambda items: items.pop(key, *default))

    def popitem(self) -> tuple[Any, Any]:
        return self._change(lambda items: items.popitem())  # type: ignore[no-any-return]

    def clear(self) -> None:
        self._change(lambda items: items.clear())

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._change(lambda items: items.update(*args, **kwargs))

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self[key] = default
        return default

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        self.update(other)
        return getattr(self._owner, self._field)

    def __reduce__(self) -> Any:  # a copy or a pickle is a plain dict
        return (dict, (dict(self),))


def tracked(owner: Any, field: str, value: Any) -> Any:
    """``value`` as the model ``owner`` keeps it in ``field``: tracked when it is one of the
    collections whose in-place changes are edits."""
    if field not in TRACKED_FIELDS.get(type(owner).__name__, ()):
        return value
    if isinstance(value, list) and not isinstance(value, TrackedList):
        return TrackedList(value, owner, field)
    if isinstance(value, dict) and not isinstance(value, TrackedDict):
        return TrackedDict(value, owner, field)
    return value


def track_fields(owner: Any) -> None:
    """Make the tracked collections of ``owner`` see their in-place changes."""
    fields = TRACKED_FIELDS.get(type(owner).__name__)
    if fields is None:
        return
    values = owner.__dict__
    for field in fields:
        value = values[field]
        if isinstance(value, list):
            if not isinstance(value, TrackedList):
                values[field] = TrackedList(value, owner, field)
        elif isinstance(value, dict) and not isinstance(value, TrackedDict):
            values[field] = TrackedDict(value, owner, field)
