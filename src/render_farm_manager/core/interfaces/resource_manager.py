"""The resource manager's interface: partitioning the farm among clients."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.models import (
    AnyClient,
    RenderJob,
    RenderNode,
    ResourceAllocation,
)

if TYPE_CHECKING:
    from render_farm_manager.resource_management.quota_book import QuotaBook


class ResourceManagerInterface(ABC):
    """Partitions the farm among clients: guarantees, ceilings, borrowing."""

    allow_borrowing: bool = True
    borrowing_limit_percentage: float = 50.0
    reclaim_by_preemption: bool = False
    reclaim_grace_minutes: float = 30.0

    @abstractmethod
    def allocate_resources(
        self,
        clients: Iterable[AnyClient] | None = None,
        nodes: Iterable[RenderNode] | None = None,
    ) -> dict[str, ResourceAllocation]:
        """Share the given online nodes among the clients."""

    @abstractmethod
    def can_borrow_resources(self, from_client: Any, to_client: Any, amount: float) -> bool:
        """Could ``to_client`` borrow ``amount`` percent of the farm from ``from_client``?"""

    @abstractmethod
    def calculate_resource_usage(
        self, client_id: str, jobs: Iterable[RenderJob], nodes: Iterable[RenderNode]
    ) -> float:
        """Percent of the online farm running the client's jobs."""

    def add_client(self, client: AnyClient) -> None:  # noqa: B027 - optional hook
        """A client was registered with the manager."""

    def remove_client(self, client_id: str) -> None:  # noqa: B027 - optional hook
        """A client was removed."""

    def add_node(self, node: RenderNode) -> None:  # noqa: B027 - optional hook
        """A node was registered with the manager."""

    def remove_node(self, node_id: str) -> None:  # noqa: B027 - optional hook
        """A node was removed."""

    def quota_book(
        self,
        clients: Iterable[AnyClient],
        schedulable_nodes: int,
        running: Mapping[str, int],
        waiting: Mapping[str, int],
    ) -> QuotaBook:
        """Node quotas for one scheduling cycle over ``schedulable_nodes`` nodes: the clients'
        guarantees and ceilings, and this manager's borrowing settings."""
        from render_farm_manager.resource_management.quota_book import QuotaBook

        client_list = list(clients)
        return QuotaBook.build(
            {c.id: float(c.guaranteed_resources) for c in client_list},
            {c.id: float(c.max_resources) for c in client_list},
            schedulable_nodes,
            running,
            waiting,
            allow_borrowing=self.allow_borrowing,
            borrowing_limit_percentage=self.borrowing_limit_percentage,
        )

    def plan_quotas(
        self,
        clients: Iterable[AnyClient],
        nodes: Iterable[RenderNode],
        running: Mapping[str, int],
        waiting: Mapping[str, int],
        running_nodes: Mapping[str, list[str]],
    ) -> tuple[QuotaBook, dict[str, ResourceAllocation]]:
        """The quotas the scheduler enforces this cycle, and the allocation reported for them.
        By default: :meth:`quota_book` over the online nodes that are not draining, and
        :meth:`allocate_resources`."""
        from render_farm_manager.node_specialization.fit import schedulable

        client_list, node_list = list(clients), list(nodes)
        count = sum(1 for n in node_list if schedulable(n))
        book = self.quota_book(client_list, count, running, waiting)
        return book, self.allocate_resources(client_list, node_list)

    def remember(self, allocations: dict[str, ResourceAllocation]) -> None:  # noqa: B027
        """The allocations of the cycle that just committed."""
