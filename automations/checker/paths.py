"""Which fields a rule can name: the trigger payload, the entities it references, earlier steps.

A :class:`PathScope` answers two questions, both pure: what is at ``order.customer.email``
(:meth:`PathScope.resolve`), and which paths a field picker may offer
(:meth:`PathScope.available_paths`). Path conventions are those of ``automations.draft``:

- a payload field by name (``amount``), list items by index (``line_items[0].sku``);
- the entity behind a ``ref`` field by the field's name without ``_id`` (``order_id`` opens
  ``order.total``); an entity field that is itself a ref opens the next entity
  (``order.customer.email``), and ``order.customer_id`` names that ref too;
- a workspace's custom fields are customer fields (``customer.app_install_date``);
- outputs of earlier steps as ``steps.<step id>.<output>``.

A path is optional when anything on the way is optional, is a list index, or is the output of a
step that may not have run (inside a branch arm).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from automations.checker.suggest import closest
from automations.checker.wording import type_noun
from catalog.entities import ENTITY_TYPES, entity_type, ref_alias
from catalog.specs import TriggerSpec
from catalog.types import FieldSpec, FieldType, ListType, ObjectType, RefType, object_of

_SEGMENT_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<indexes>(\[\d+\])*)$")
STEPS = "steps"


class PathNotFound(LookupError):
    """A path names no field; carries a plain-English reason and a corrected path, if any."""

    def __init__(
        self,
        path: str,
        segment: str,
        available: tuple[str, ...],
        reason: str,
        suggestion: str = "",
    ) -> None:
        self.path = path
        self.segment = segment
        self.available = available
        self.reason = reason
        self.suggestion = suggestion
        super().__init__(f"{path}: {reason}")

    def __reduce__(self) -> tuple[type[PathNotFound], tuple[str, str, tuple[str, ...], str, str]]:
        return (
            PathNotFound,
            (self.path, self.segment, self.available, self.reason, self.suggestion),
        )

    @property
    def hint(self) -> str:
        """``"Did you mean customer.lifecycle_stage?"``, or ``""`` without a suggestion."""
        return f"Did you mean {self.suggestion}?" if self.suggestion else ""


@dataclass(frozen=True, slots=True)
class StepOutputs:
    """The outputs of one step as later steps see them."""

    step_id: str
    outputs: ObjectType
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved path: its field spec and whether it reaches a workspace custom field."""

    spec: FieldSpec
    uses_custom_field: bool = False


@dataclass(frozen=True, slots=True)
class PathScope:
    """The fields visible at one point of a rule; immutable, extended step by step."""

    root: ObjectType
    custom_fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    steps: tuple[StepOutputs, ...] = ()
    root_label: str = "the trigger's data"

    @classmethod
    def for_trigger(
        cls,
        trigger: TriggerSpec,
        custom_fields: Mapping[str, FieldSpec] | None = None,
        declared_fields: Mapping[str, FieldSpec] | None = None,
    ) -> PathScope:
        """Return the scope of a rule's conditions: the payload of ``trigger``.

        ``declared_fields`` are an endpoint's (or a poll's) fields, merged into the trigger's
        ``declared_under`` object (``body.email``) for external triggers.
        """
        root = (
            trigger.payload_type_with(declared_fields) if declared_fields else trigger.payload_type
        )
        return cls(root, dict(custom_fields or {}), (), f"'{trigger.label}'")

    def with_step(
        self, step_id: str, outputs: Mapping[str, FieldSpec], *, optional: bool = False
    ) -> PathScope:
        """Return a scope where ``steps.<step_id>.<output>`` is visible too.

        ``optional`` marks outputs of a step that may not have run (a branch arm).
        """
        if not outputs or not step_id:
            return self
        kept = tuple(s for s in self.steps if s.step_id != step_id)
        added = StepOutputs(step_id, object_of(outputs), optional)
        return PathScope(self.root, self.custom_fields, (*kept, added), self.root_label)

    def resolve(self, path: str) -> FieldSpec:
        """Return the FieldSpec at ``path``; raise PathNotFound with a suggestion if there is none.

        The result is optional when any part of the way is optional (see the module docstring).
        """
        return self.resolve_detail(path).spec

    def resolve_detail(self, path: str) -> Resolved:
        """Like :meth:`resolve`, also telling whether the path reaches a custom field."""
        segments = path.split(".")
        first = _SEGMENT_RE.match(segments[0])
        if first and first["name"] == STEPS and self.root.field(STEPS) is None:
            return self._resolve_step(path, segments)
        return self._walk(path, segments, 0, self.root, False)

    def _resolve_step(self, path: str, segments: list[str]) -> Resolved:
        step_ids = tuple(s.step_id for s in self.steps)
        if segments[0] != STEPS or len(segments) < 3:
            raise PathNotFound(
                path,
                segments[0],
                step_ids,
                "Name a step's result as steps.<step>.<result>, e.g. steps.copy.text.",
            )
        wanted = segments[1]
        for step in self.steps:
            if step.step_id == wanted:
                return self._walk(path, segments, 2, step.outputs, step.optional)
        match = closest(wanted, step_ids)
        suggestion = ".".join([STEPS, match, *segments[2:]]) if match else ""
        raise PathNotFound(
            path,
            wanted,
            step_ids,
            f"No earlier step called '{wanted}' has results this step can use.",
            suggestion,
        )

    def _open(self, field_type: FieldType) -> ObjectType | None:
        if isinstance(field_type, ObjectType):
            return field_type
        if isinstance(field_type, RefType):
            return entity_type(field_type.entity, self.custom_fields)
        return None

    def _names(self, container: ObjectType) -> tuple[str, ...]:
        names = list(container.field_names)
        for name, spec in container.members:
            alias = ref_alias(name)
            if isinstance(spec.type, RefType) and alias != name and alias not in names:
                names.append(alias)
        if container is self.root and self.steps and STEPS not in names:
            names.append(STEPS)
        return tuple(names)

    @staticmethod
    def _member(container: ObjectType, name: str) -> FieldSpec | None:
        spec = container.field(name)
        if spec is not None:
            return spec
        # Aliases: "order" opens "order_id", and "customer_id" names the ref field "customer".
        for other in (f"{name}_id", name.removesuffix("_id") if name.endswith("_id") else ""):
            alt = container.field(other) if other else None
            if alt is not None and isinstance(alt.type, RefType):
                return alt
        return None

    def _is_custom(self, container: ObjectType, name: str) -> bool:
        if name not in self.custom_fields or ENTITY_TYPES["customer"].field(name) is not None:
            return False
        return container == entity_type("customer", self.custom_fields)

    def _walk(
        self,
        path: str,
        segments: list[str],
        start: int,
        container_type: FieldType,
        optional: bool,
    ) -> Resolved:
        current: FieldSpec = FieldSpec(container_type)
        walked = ".".join(segments[:start])
        uses_custom = False
        for position in range(start, len(segments)):
            segment = segments[position]
            match = _SEGMENT_RE.match(segment)
            name = match["name"] if match else segment
            container = self._open(current.type)
            if container is None:
                raise self._not_an_object(path, segments, position, walked, current.type)
            spec = self._member(container, name) if match else None
            if spec is None:
                names = self._names(container)
                found = closest(name, names)
                suggestion = ""
                if found:
                    indexes = match["indexes"] if match else ""
                    fixed = [*segments[:position], found + indexes, *segments[position + 1 :]]
                    suggestion = ".".join(fixed)
                where = f"'{walked}'" if walked else self.root_label
                raise PathNotFound(
                    path, segment, names, f"There is no field '{name}' in {where}.", suggestion
                )
            uses_custom = uses_custom or self._is_custom(container, name)
            optional = optional or spec.optional
            walked = f"{walked}.{name}" if walked else name
            assert match is not None
            for index in re.findall(r"\[(\d+)\]", match["indexes"]):
                if not isinstance(spec.type, ListType):
                    raise PathNotFound(
                        path, segment, (), f"'{walked}' is {type_noun(spec.type)}, not a list."
                    )
                walked = f"{walked}[{index}]"
                # An index may be past the end of the list: the item may be missing.
                spec = FieldSpec(spec.type.item)
                optional = True
            current = spec
        return Resolved(
            FieldSpec(
                current.type, optional, current.label, current.description, current.type_from
            ),
            uses_custom,
        )

    @staticmethod
    def _not_an_object(
        path: str, segments: list[str], position: int, walked: str, field_type: FieldType
    ) -> PathNotFound:
        if isinstance(field_type, ListType):
            fixed = [
                *segments[: position - 1],
                segments[position - 1] + "[0]",
                *segments[position:],
            ]
            return PathNotFound(
                path,
                segments[position],
                (),
                f"'{walked}' is a list: pick one item by its position, counting from 0.",
                ".".join(fixed),
            )
        return PathNotFound(
            path,
            segments[position],
            (),
            f"'{walked}' is {type_noun(field_type)}, it has no fields of its own.",
        )

    def available_paths(
        self, type_filter: FieldType | FieldSpec | None = None, max_depth: int = 3
    ) -> list[tuple[str, FieldSpec]]:
        """Return ``(path, spec)`` for every field a picker may offer, in declaration order.

        With ``type_filter``, only fields whose type fits it (``accepts``); optional fields stay
        in the list, marked optional in their spec, since a default or an ``is set`` guard can
        make them usable. Paths go at most ``max_depth`` names deep (``order.customer.email``);
        step outputs count from the step (``steps.copy.text`` is one deep).
        """
        wanted = type_filter.type if isinstance(type_filter, FieldSpec) else type_filter
        found: list[tuple[str, FieldSpec]] = []

        def visit(prefix: str, container: ObjectType, depth: int, optional: bool) -> None:
            for name, spec in container.members:
                path = f"{prefix}.{name}" if prefix else name
                is_optional = optional or spec.optional
                full = FieldSpec(spec.type, is_optional, spec.label, spec.description)
                if wanted is None or wanted.accepts(spec.type):
                    found.append((path, full))
                if depth >= max_depth:
                    continue
                if isinstance(spec.type, ObjectType):
                    visit(path, spec.type, depth + 1, is_optional)
                elif isinstance(spec.type, RefType) and name != "id":
                    alias = ref_alias(name)
                    alias_path = f"{prefix}.{alias}" if prefix else alias
                    entity = entity_type(spec.type.entity, self.custom_fields)
                    visit(alias_path, entity, depth + 1, is_optional)

        visit("", self.root, 1, False)
        for step in self.steps:
            visit(f"{STEPS}.{step.step_id}", step.outputs, 1, step.optional)
        return found

    def paths_to(self, entity: str) -> list[str]:
        """Return the paths that hold a ``ref(<entity>)`` (where a customer id can come from)."""
        return [path for path, _ in self.available_paths(RefType(entity))]
