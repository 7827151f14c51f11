"""Name → class registries filled from installed packages' entry points (built-ins use them too)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from evals.core.errors import RegistryError

T = TypeVar("T")
logger = logging.getLogger(__name__)


class Registry(Generic[T]):
    """Classes registered by name through the entry-point group `entry_point_group`
    (``name = "pkg.module:Class"``). Looking a name up imports only that plugin (a run pays for the
    strategies it uses, not for every installed one); listing the names, or looking up an unknown one,
    imports them all.

    Every loaded object is checked against `base`. A plugin that fails to import or is not a `base`
    subclass is recorded as broken (logged once, listed by `broken()`, named in lookup errors); every
    other plugin stays available, as in Inspect AI.
    """

    def __init__(self, kind: str, entry_point_group: str, base: type) -> None:  # type[T] rejects an ABC
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.base = base
        self._classes: dict[str, type[T]] = {}
        self._broken: dict[str, str] = {}
        self._loaded = False

    def get(self, name: str) -> type[T]:
        """The class registered as `name`; a clear error naming a broken plugin or the known names."""
        if name not in self._classes and name not in self._broken and not self._loaded:
            first = next((entry for entry in entry_points(group=self.entry_point_group) if entry.name == name), None)
            if first is not None:
                self._load_entry(first)
        if name not in self._classes and name not in self._broken:
            self._load()  # an unknown name: the error lists every known one
        if name in self._classes:
            return self._classes[name]
        if name in self._broken:
            raise RegistryError(f"{self.kind} plugin {name!r} is installed but broken: {self._broken[name]}")
        known = ", ".join(sorted(self._classes)) or "none"
        broken = f" (broken: {', '.join(sorted(self._broken))})" if self._broken else ""
        raise RegistryError(f"unknown {self.kind} {name!r}; registered: {known}{broken}")

    def names(self) -> list[str]:
        """Names of the loadable classes, sorted."""
        self._load()
        return sorted(self._classes)

    def broken(self) -> dict[str, str]:
        """Plugin name → why it cannot be used (its entry point and the import or type error)."""
        self._load()
        return dict(sorted(self._broken.items()))

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        self._load()
        return iter(sorted(self._classes.items()))

    def _load(self) -> None:
        if self._loaded:
            return
        seen: set[str] = set()
        for entry in entry_points(group=self.entry_point_group):
            if entry.name not in seen:  # the first distribution declaring a name wins
                seen.add(entry.name)
                self._load_entry(entry)
        self._loaded = True

    def _load_entry(self, entry: EntryPoint) -> None:
        """Import one entry point (once) and register it, or record why it is broken."""
        if entry.name in self._classes or entry.name in self._broken:
            return
        try:
            loaded = entry.load()
        except Exception as error:  # a broken plugin must not hide the others
            self._mark_broken(entry.name, f"{entry.value} failed to import: {type(error).__name__}: {error}")
            return
        if not (isinstance(loaded, type) and issubclass(loaded, self.base)):
            self._mark_broken(entry.name, f"{entry.value} is not a subclass of {self.base.__qualname__}")
            return
        self._classes[entry.name] = cast(type[T], loaded)  # checked against `base` just above

    def _mark_broken(self, name: str, reason: str) -> None:
        self._broken[name] = reason
        logger.warning(
            "%s plugin %r from entry-point group %r is broken: %s", self.kind, name, self.entry_point_group, reason
        )
