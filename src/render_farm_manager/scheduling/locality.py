"""Locality: a node keeps the scene of the last work it started in memory, so the next task of
the same shot and step starts warm there (no scene load), while any other work loads its own
scene first and wipes that one.

The manager remembers which scene each node holds (:class:`Locality`). A scheduling cycle uses
it twice (:func:`warm_pass`, then in placement):

- **Sticking with a shot.** Once the pressing work (emergencies, work at risk or late) has had
  its turn, a free node whose scene still has waiting work gets the next such task, if the
  task is at the level of the next job in the queue or above and every rule of the walk
  (limits, quotas, energy deferral, hardware, blocklist) lets it start. A shot's tasks then
  run on the few nodes that already hold its scene instead of one cold start on every node
  that frees up (OpenCue's planning scheduler keeps a job's frames together for the same
  reason).
- **Warm first.** Work placed on a pool takes a node of that pool that holds its scene, if one
  is free.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.scheduling.node_pools import NodePool

Scene = tuple[str, str]
"""(shot id, step): what a node loads before the first frame of a task."""


def scene_of(work: UnitOfWork) -> Scene | None:
    """The scene of a shot's task (None for a job without frames: it has no siblings)."""
    shot = getattr(work, "job_id", None)
    step = getattr(work, "step", None)
    if isinstance(shot, str) and isinstance(step, str):
        return (shot, step)
    return None


@dataclass(frozen=True)
class Locality:
    warm: Mapping[str, Scene]
    """Node id → the scene it holds (the last task started there, since it was last online)."""
    waiting: Callable[[Scene], Iterable[UnitOfWork]]
    """The scene's waiting (queued) work, in the order it is to run."""


LOOK_AHEAD = 8
"""How many of a scene's waiting tasks a node holding it looks at (blocklists may rule some
out)."""


class WarmNodes:
    """The free nodes that hold a scene, during one cycle."""

    def __init__(self, locality: Locality | None, pools: Iterable[NodePool]) -> None:
        self.locality = locality
        self.by_scene: dict[Scene, list[tuple[NodePool, RenderNode]]] = {}
        self.taken: set[str] = set()
        """Nodes given work this cycle (by anyone)."""
        if locality is None or not locality.warm:
            return
        warm = locality.warm
        for pool in pools:
            for node in pool.free:
                scene = warm.get(node.id)
                if scene is not None:
                    self.by_scene.setdefault(scene, []).append((pool, node))

    def __bool__(self) -> bool:
        return bool(self.by_scene)

    def for_job(self, job: UnitOfWork, pool: NodePool) -> RenderNode | None:
        """A free node of ``pool`` that holds the job's scene."""
        if not self.by_scene:
            return None
        scene = scene_of(job)
        for holder_pool, node in self.by_scene.get(scene, ()) if scene is not None else ():
            if (
                holder_pool is pool
                and node.id not in job.excluded_node_ids
                and node.id not in self.taken
            ):
                return node
        return None

    def sticking(
        self,
        level: int,
        rank_of: Callable[[UnitOfWork], int],
        placed: Container[str],
        may_start: Callable[[UnitOfWork, NodePool], bool],
    ) -> Iterator[tuple[UnitOfWork, NodePool, RenderNode]]:
        """(task, pool, node): each free node that holds a scene whose waiting work is at
        ``level`` or above, with the next such task it can run (the caller starts it before
        asking for the next; ``placed`` are the tasks already given a node)."""
        assert self.locality is not None
        for scene, holders in self.by_scene.items():
            unplaced = (job for job in self.locality.waiting(scene) if job.id not in placed)
            waiting = list(islice(unplaced, LOOK_AHEAD + len(holders)))
            for pool, node in holders:
                if node.id in self.taken:
                    continue
                job = next(
                    (
                        job
                        for job in waiting
                        if job.id not in placed
                        and node.id not in job.excluded_node_ids
                        and hardware_misfit(job, pool.capabilities) is None
                    ),
                    None,
                )
                if job is None or rank_of(job) < level or not may_start(job, pool):
                    break
                yield job, pool, node
