"""The catalog registry: every trigger and action spec by key, filled at start-up.

Apps contribute entries through a ``catalog_entries`` module exporting ``TRIGGERS`` and
``ACTIONS`` (see ``CatalogConfig.ready``). A key registered twice from two places is a
configuration error raised at start-up, naming the key and both sources. No database access.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from types import ModuleType

from django.core.exceptions import ImproperlyConfigured

from catalog.specs import ActionSpec, TriggerSpec

__all__ = [
    "Registry",
    "UnknownEntryError",
    "actions_emitting",
    "all_actions",
    "all_triggers",
    "get_action",
    "get_trigger",
    "register_module",
    "registry",
]


class UnknownEntryError(LookupError):
    """No trigger or action has this key; the message suggests the closest key."""

    def __init__(self, kind: str, key: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.key = key
        self.known = tuple(known)
        matches = difflib.get_close_matches(key, list(self.known), n=1)
        hint = f' Did you mean "{matches[0]}"?' if matches else ""
        super().__init__(f'Unknown {kind} "{key}".{hint}')

    def __reduce__(self) -> tuple[type[UnknownEntryError], tuple[str, str, tuple[str, ...]]]:
        return (UnknownEntryError, (self.kind, self.key, self.known))


class Registry:
    """Triggers and actions by key, each remembered with the source that registered it."""

    def __init__(self) -> None:
        self._triggers: dict[str, tuple[TriggerSpec, str]] = {}
        self._actions: dict[str, tuple[ActionSpec, str]] = {}

    def register_trigger(self, spec: TriggerSpec, source: str = "") -> None:
        """Add a trigger; raise ImproperlyConfigured if another declaration has its key.

        Registering the same declaration again from the same source does nothing, so that
        ``AppConfig.ready()`` may run twice (it does in some test setups).
        """
        if not isinstance(spec, TriggerSpec):
            raise ImproperlyConfigured(f"{source}: {spec!r} in TRIGGERS is not a TriggerSpec")
        self._add(self._triggers, "trigger", spec, source)

    def register_action(self, spec: ActionSpec, source: str = "") -> None:
        """Add an action; raise ImproperlyConfigured if another declaration has its key."""
        if not isinstance(spec, ActionSpec):
            raise ImproperlyConfigured(f"{source}: {spec!r} in ACTIONS is not an ActionSpec")
        self._add(self._actions, "action", spec, source)

    @staticmethod
    def _add[S: (TriggerSpec, ActionSpec)](
        table: dict[str, tuple[S, str]], kind: str, spec: S, source: str
    ) -> None:
        existing = table.get(spec.key)
        if existing is not None:
            other, other_source = existing
            if other_source == source and other == spec:
                return
            raise ImproperlyConfigured(
                f'Duplicate catalog {kind} key "{spec.key}": declared by '
                f"{other_source or '<unknown>'} and by {source or '<unknown>'}. "
                "Keys must be unique across all catalog_entries modules."
            )
        table[spec.key] = (spec, source)

    def register_module(self, module: ModuleType) -> None:
        """Register the ``TRIGGERS`` and ``ACTIONS`` lists of a ``catalog_entries`` module."""
        source = module.__name__
        triggers = list(getattr(module, "TRIGGERS", []))
        actions = list(getattr(module, "ACTIONS", []))
        for kind, keys in (
            ("trigger", [spec.key for spec in triggers]),
            ("action", [spec.key for spec in actions]),
        ):
            repeated = sorted({key for key in keys if keys.count(key) > 1})
            if repeated:
                raise ImproperlyConfigured(
                    f'Duplicate catalog {kind} key "{repeated[0]}": listed twice in {source}.'
                )
        for trigger in triggers:
            self.register_trigger(trigger, source)
        for action in actions:
            self.register_action(action, source)

    def check(self) -> None:
        """Raise ImproperlyConfigured if an action emits a trigger key nobody registered."""
        for action, source in self._actions.values():
            for key in action.emits:
                if key not in self._triggers:
                    raise ImproperlyConfigured(
                        f'Action "{action.key}" ({source}) emits unknown trigger "{key}".'
                    )

    def get_trigger(self, key: str) -> TriggerSpec:
        """Return the trigger ``key``; raise UnknownEntryError (a LookupError) if there is none."""
        try:
            return self._triggers[key][0]
        except KeyError:
            raise UnknownEntryError("trigger", key, self._triggers) from None

    def get_action(self, key: str) -> ActionSpec:
        """Return the action ``key``; raise UnknownEntryError (a LookupError) if there is none."""
        try:
            return self._actions[key][0]
        except KeyError:
            raise UnknownEntryError("action", key, self._actions) from None

    def has_trigger(self, key: str) -> bool:
        """Return whether a trigger ``key`` is registered."""
        return key in self._triggers

    def has_action(self, key: str) -> bool:
        """Return whether an action ``key`` is registered."""
        return key in self._actions

    def source_of_trigger(self, key: str) -> str:
        """Return the module that registered trigger ``key``."""
        return self._triggers[key][1]

    def source_of_action(self, key: str) -> str:
        """Return the module that registered action ``key``."""
        return self._actions[key][1]

    def triggers(self) -> tuple[TriggerSpec, ...]:
        """Every trigger, in registration order."""
        return tuple(spec for spec, _ in self._triggers.values())

    def actions(self) -> tuple[ActionSpec, ...]:
        """Every action, in registration order."""
        return tuple(spec for spec, _ in self._actions.values())

    def actions_emitting(self, trigger_key: str) -> tuple[ActionSpec, ...]:
        """Every action that may emit ``trigger_key`` (edges for cycle detection)."""
        return tuple(spec for spec, _ in self._actions.values() if trigger_key in spec.emits)

    def unregister_action(self, key: str) -> None:
        """Forget action ``key`` if registered (for tests that add an action for a while)."""
        self._actions.pop(key, None)

    def clear(self) -> None:
        """Forget every entry (for tests that build their own catalog)."""
        self._triggers.clear()
        self._actions.clear()


registry = Registry()
"""The process-wide registry, filled by ``CatalogConfig.ready()``."""


def get_trigger(key: str) -> TriggerSpec:
    """Return the registered trigger ``key``; raise UnknownEntryError if there is none."""
    return registry.get_trigger(key)


def get_action(key: str) -> ActionSpec:
    """Return the registered action ``key``; raise UnknownEntryError if there is none."""
    return registry.get_action(key)


def all_triggers() -> tuple[TriggerSpec, ...]:
    """Every registered trigger, in registration order."""
    return registry.triggers()


def all_actions() -> tuple[ActionSpec, ...]:
    """Every registered action, in registration order."""
    return registry.actions()


def actions_emitting(trigger_key: str) -> tuple[ActionSpec, ...]:
    """Every registered action that may emit ``trigger_key``."""
    return registry.actions_emitting(trigger_key)


def register_module(module: ModuleType) -> None:
    """Register a ``catalog_entries`` module's TRIGGERS and ACTIONS in the default registry."""
    registry.register_module(module)
