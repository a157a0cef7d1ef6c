"""One change set: everything a manager call changes, undone together if the call raises.

Writes to models and to the manager's own containers are recorded with their old values; side
effects that leave the manager (audit entries, monitor updates, what components remember) are
queued and run only when the change set commits. A call that raises therefore leaves behind no
field, no entry and no audit line of its own.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from render_farm_manager.core.models import FarmModel

_MISSING = object()
_NO_KEYWORDS: dict[str, Any] = {}  # passed as **kwargs only: never changed


class Transaction:
    def __init__(self, track: bool = False) -> None:
        """With ``track``, the models written and the mapping keys set or popped are kept
        (:attr:`touched`, :attr:`keys`) so that the change can be written to a store."""
        self.track = track
        self.touched: dict[int, tuple[FarmModel, set[str]]] = {}
        """Models written, each with the names of the fields written."""
        self.keys: list[tuple[object, Any]] = []
        """(mapping or index, key) for every key set, popped or moved."""
        self._undo: list[Callable[[], None] | tuple[dict[str, Any], str, Any]] = []
        """Callables, or (a model's fields, name, old value) for the commonest write."""
        self._effects: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        """(callable, positional arguments, keyword arguments) of each effect, in order."""
        self.changed = False
        """True once anything was written: caches derived from the state are then stale."""
        self.logged: list[Any] = []
        """The audit entries written when the change committed, in order."""

    # -- recorded writes -----------------------------------------------------------------------

    def write(self, model: FarmModel, name: str, value: Any) -> None:
        """Set a (valid) field of a model, bypassing its edit hook; undone on rollback."""
        fields = model.__dict__
        old = fields[name]
        if old is value:
            return
        fields[name] = value
        self.changed = True
        self._undo.append((fields, name, old))
        if self.track:
            seen = self.touched.get(id(model))
            if seen is None:
                self.touched[id(model)] = (model, {name})
            else:
                seen[1].add(name)

    def set_attr(self, target: object, name: str, value: Any) -> None:
        """Set an attribute of a plain object (counters, caches); undone on rollback."""
        old = getattr(target, name)
        setattr(target, name, value)
        self.changed = True
        self._undo.append(lambda: setattr(target, name, old))

    def set_item(self, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        self.changed = True
        self._undo.append(lambda: _restore(mapping, key, old))
        if self.track:
            self.keys.append((mapping, key))

    def pop_item(self, mapping: MutableMapping[Any, Any], key: Any) -> Any:
        old = mapping.pop(key, _MISSING)
        if old is _MISSING:
            return None
        self.changed = True
        self._undo.append(lambda: mapping.__setitem__(key, old))
        if self.track:
            self.keys.append((mapping, key))
        return old

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run ``undo`` if the change set is rolled back (after the recorded writes are undone
        in reverse order up to this point)."""
        self._undo.append(undo)

    # -- effects -------------------------------------------------------------------------------

    def after_commit(self, effect: Callable[[], Any]) -> None:
        """Run ``effect`` once the whole change set has been applied, in the order queued."""
        self._effects.append((effect, (), _NO_KEYWORDS))

    def call_after_commit(
        self, effect: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Call ``effect(*args, **kwargs)`` once the whole change set has been applied, in the
        order queued (as :meth:`after_commit`, without a closure to build and call)."""
        self._effects.append((effect, args, kwargs))

    # -- ending --------------------------------------------------------------------------------

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            if isinstance(undo, tuple):
                fields, name, old = undo
                fields[name] = old
            else:
                undo()
        self._undo.clear()
        self._effects.clear()

    def commit(self) -> None:
        self._undo.clear()
        effects, self._effects = self._effects, []
        for effect, args, kwargs in effects:
            effect(*args, **kwargs)


def _restore(mapping: MutableMapping[Any, Any], key: Any, old: Any) -> None:
    if old is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = old
