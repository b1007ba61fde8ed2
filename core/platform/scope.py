"""Which client workspaces a caller may see. Every query that reads client rows takes a Scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """`workspace_ids=None` means every workspace (agency staff); otherwise only those listed."""

    workspace_ids: frozenset[int] | None = None

    @classmethod
    def all(cls) -> Scope:
        return cls(None)

    @classmethod
    def only(cls, ids: Iterable[int]) -> Scope:
        return cls(frozenset(int(i) for i in ids))

    def narrow(self, workspace_id: int | None) -> Scope:
        """The scope limited to one workspace (a page's picker); never widens it."""
        if workspace_id is None:
            return self
        if self.workspace_ids is not None and workspace_id not in self.workspace_ids:
            return Scope(frozenset())
        return Scope(frozenset({int(workspace_id)}))

    def allows(self, workspace_id: int) -> bool:
        return self.workspace_ids is None or workspace_id in self.workspace_ids

    def filter(self, column: str = "workspace_id") -> str:
        """A SQL condition on `column`. Ids are ints validated here, so they are safe to inline."""
        if self.workspace_ids is None:
            return "true"
        if not self.workspace_ids:
            return "false"
        return f"{column} IN ({', '.join(str(int(i)) for i in sorted(self.workspace_ids))})"

    @property
    def key(self) -> tuple:
        """A hashable cache key."""
        return ("all",) if self.workspace_ids is None else tuple(sorted(self.workspace_ids))
