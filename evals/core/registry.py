"""Name → factory registries, filled by decorators and by installed plugins' entry points."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from evals.core.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes registered by name.

    Built-ins register with the `register` decorator; third-party packages declare an
    entry point in `entry_point_group` whose value is the factory (``"pkg.module:Class"``).
    Entry points are loaded lazily, the first time a name is looked up or listed.
    """

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, type[T]] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Decorator: register a class under `name`."""

        def decorate(factory: type[T]) -> type[T]:
            existing = self._factories.get(name)
            if existing is not None and existing is not factory:
                raise RegistryError(f"{self.kind} {name!r} is registered twice: {existing} and {factory}")
            self._factories[name] = factory
            return factory

        return decorate

    def get(self, name: str) -> type[T]:
        """The factory registered as `name`; a clear error listing the known names otherwise."""
        self._load_plugins()
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        self._load_plugins()
        return iter(sorted(self._factories.items()))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry in entry_points(group=self.entry_point_group):
            if entry.name in self._factories:
                continue
            try:
                self._factories[entry.name] = entry.load()
            except Exception as error:  # a broken plugin must not hide the others
                raise RegistryError(
                    f"{self.kind} plugin {entry.name!r} ({entry.value}) from entry-point group "
                    f"{self.entry_point_group!r} failed to load: {error}"
                ) from error
