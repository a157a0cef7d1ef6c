"""What a render costs the manager does not grow with how much its renderer prints or how long
it runs: progress events are throttled (frames, starts, ends and failures never are), the
render log is written in chunks yet readable while the render runs, and the runner waits for
news instead of polling."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from builders import T0, make_farm, make_node

from render_farm_manager.core.models import RenderJob, RenderJobStatus
from render_farm_manager.execution.events import EventKind, TaskEvent
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.local import LocalExecutor, read_task_log
from render_farm_manager.execution.order import RenderOrder
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.renderers.base import (
    FailureKind,
    OutputLine,
    RendererAdapter,
    RenderRequest,
)

S = RenderJobStatus
PY = sys.executable


class Chatty(RendererAdapter):
    """Reads ``frame N written`` and ``progress P`` lines."""

    name = "chatty"

    def commands(self, request: RenderRequest) -> list[list[str]]:
        raise NotImplementedError

    def parse_line(self, line: str) -> OutputLine:
        words = line.split()
        if len(words) == 3 and words[0] == "frame" and words[2] == "written":
            return OutputLine(frame_done=int(words[1]))
        if len(words) == 2 and words[0] == "progress":
            return OutputLine(frame_progress=float(words[1]))
        return OutputLine()

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        return FailureKind.NODE


CHATTY = (
    "import sys, time\n"
    "first, last, lines, seconds = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),\n"
    "                               float(sys.argv[4]))\n"
    "for frame in range(first, last + 1):\n"
    "    for n in range(lines):\n"
    "        print(f'progress {100 * (n + 1) / lines:.3f}', flush=True)\n"
    "        time.sleep(seconds / lines)\n"
    "    print(f'frame {frame} written', flush=True)\n"
)


def order(argv: list[str], frames: list[int], task_id: str = "t") -> RenderOrder:
    return RenderOrder(
        task_id=task_id, node_id="n0", attempt=1, plan=[(argv, frames)], frames_total=len(frames)
    )


def events_until_done(executor: LocalExecutor, timeout: float = 60) -> list[TaskEvent]:
    seen: list[TaskEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(executor.events())
        if any(e.kind in (EventKind.FINISHED, EventKind.FAILED) for e in seen):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"the render did not end: {seen}")


def test_a_chatty_render_gives_a_bounded_number_of_progress_events_and_every_frame(
    tmp_path: Path,
) -> None:
    executor = LocalExecutor(tmp_path, adapter_for=lambda argv: Chatty())
    # 6 frames of 0.3 s, 400 progress lines each: 2,400 progress lines in about 2 s
    executor.run_order(order([PY, "-c", CHATTY, "1", "6", "400", "0.3"], [1, 2, 3, 4, 5, 6]))
    events = events_until_done(executor)
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.STARTED and kinds[-1] == EventKind.FINISHED
    frames = [e.frame for e in events if e.kind == EventKind.FRAME_DONE]
    assert frames == [1, 2, 3, 4, 5, 6]  # every frame, in order
    progress = [e for e in events if e.kind == EventKind.PROGRESS]
    took = events[-1].at - events[0].at
    assert 1 <= len(progress) <= took / executor.progress_seconds + 2
    values = [e.progress or 0.0 for e in progress]
    assert values == sorted(values) and all(0 < v < 100 for v in values)
    assert all(b - a >= executor.progress_step for a, b in itertools.pairwise(values))
    assert all(
        b.at - a.at >= executor.progress_seconds - 0.01 for a, b in itertools.pairwise(progress)
    )


def test_progress_held_back_is_reported_when_due_though_the_renderer_falls_silent(
    tmp_path: Path,
) -> None:
    script = (
        "import time\n"
        "print('progress 10', flush=True)\n"
        "time.sleep(0.4)\n"
        "print('progress 60', flush=True)\n"  # within the second: held back
        "time.sleep(2.5)\n"
        "print('frame 1 written', flush=True)\n"
    )
    executor = LocalExecutor(tmp_path, adapter_for=lambda argv: Chatty())
    executor.run_order(order([PY, "-c", script], [1]))
    events = events_until_done(executor)
    progress = [e for e in events if e.kind == EventKind.PROGRESS]
    assert [e.progress for e in progress] == [10.0, 60.0]
    finished = events[-1]
    assert 0.9 < progress[1].at - progress[0].at < 1.8  # when due, not with the next line
    assert finished.at - progress[1].at > 0.5


def test_a_failed_render_reports_how_far_it_got_before_its_failure(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "print('progress 10', flush=True)\n"
        "time.sleep(0.4)\n"
        "print('progress 40', flush=True)\n"  # held back, then the render fails
        "sys.exit(3)\n"
    )
    executor = LocalExecutor(tmp_path, adapter_for=lambda argv: Chatty())
    executor.run_order(order([PY, "-c", script], [1]))
    events = events_until_done(executor)
    assert [(e.kind, e.progress) for e in events[-3:]] == [
        (EventKind.PROGRESS, 10.0),
        (EventKind.PROGRESS, 40.0),
        (EventKind.FAILED, None),
    ]


def test_the_log_is_readable_while_the_render_runs_and_keeps_every_byte(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "out = sys.stdout.buffer\n"
        "out.write(b'one\\n'); out.flush()\n"
        "out.write(b'20%\\r40%\\r\\n'); out.flush()\n"  # redrawn with \r, then \r\n
        "out.write(b'caf\\xc3\\xa9 bad \\xff byte\\n'); out.flush()\n"
        "time.sleep(3)\n"
        "out.write(b'last line, no end'); out.flush()\n"
    )
    executor = LocalExecutor(tmp_path, adapter_for=lambda argv: None)
    executor.run_order(order([PY, "-c", script], [1]))
    time.sleep(executor.log_flush_seconds + 1.0)  # the script sleeps; its output is on disk
    live = read_task_log(tmp_path, "t", 65536) or ""
    assert "caf\u00e9 bad \ufffd byte\n" in live
    events_until_done(executor)
    log = read_task_log(tmp_path, "t", 65536) or ""
    # as a text-mode pipe reads it: \r and \r\n end lines as \n does
    assert log.endswith("\none\n20%\n40%\ncaf\u00e9 bad \ufffd byte\nlast line, no end")


def test_output_read_in_batches_does_not_delay_the_end_of_a_render(tmp_path: Path) -> None:
    executor = LocalExecutor(
        tmp_path, adapter_for=lambda argv: Chatty(), read_interval_seconds=10.0
    )
    executor.run_order(order([PY, "-c", CHATTY, "1", "2", "50", "0.2"], [1, 2]))
    events = events_until_done(executor, timeout=30)
    assert events[-1].kind == EventKind.FINISHED
    assert [e.frame for e in events if e.kind == EventKind.FRAME_DONE] == [1, 2]
    assert events[-1].at - events[0].at < 5.0  # the render's end cut the 10 s pause short


class Posting(Executor):
    """An executor whose events are posted by the test (and that says when)."""

    def __init__(self) -> None:
        self._events: list[TaskEvent] = []
        self._lock = threading.Lock()
        self._wake = None

    def post(self, event: TaskEvent) -> None:
        with self._lock:
            self._events.append(event)
        if self._wake is not None:
            self._wake()

    def start(self, task: RenderJob, node_id: str, job: RenderJob | None = None) -> int:
        return 1

    def cancel(self, task_id: str) -> None:
        pass

    def running(self) -> dict[str, str]:
        return {}

    def events(self) -> list[TaskEvent]:
        with self._lock:
            out, self._events = self._events, []
            return out

    def watch(self, wake) -> bool:  # type: ignore[no-untyped-def]
        self._wake = wake
        return True


def test_the_runner_wakes_at_once_on_an_event_and_does_not_poll_in_between() -> None:
    manager, _ = make_farm(nodes=1)
    executor = Posting()
    runner = FarmRunner(manager, executor, idle_cycle_seconds=30)
    steps: list[float] = []
    stop = threading.Event()
    delays: list[float] = []

    def poke() -> None:
        for _ in range(3):
            time.sleep(0.4)  # idle meanwhile
            before = len(steps)
            posted = time.monotonic()
            executor.post(TaskEvent(EventKind.PROGRESS, "nothing", "n0", 1, progress=1.0))
            while len(steps) == before and time.monotonic() < posted + 5:
                time.sleep(0.001)
            delays.append(steps[-1] - posted)
        stop.set()
        executor.post(TaskEvent(EventKind.PROGRESS, "nothing", "n0", 1, progress=1.0))

    threading.Thread(target=poke, daemon=True).start()
    began = time.monotonic()
    assert runner.run(
        stop.is_set,
        poll_seconds=0.02,
        timeout_seconds=20,
        on_step=lambda: steps.append(time.monotonic()),
    )
    took = time.monotonic() - began
    assert len(steps) <= 6  # one at first, one per event: none of 0.02 s polling (about 60)
    assert took < 5
    assert sorted(delays)[1] < 0.05  # a few ms (the median of three, on a loaded machine)


def test_the_runner_wakes_when_the_manager_is_changed_from_another_thread(tmp_path: Path) -> None:
    manager, _ = make_farm(nodes=0)
    manager.add_node(make_node("n0"))
    executor = LocalExecutor(tmp_path)
    runner = FarmRunner(manager, executor, idle_cycle_seconds=30)
    job = RenderJob(
        id="j", name="j", client_id="c1", deadline=T0.replace(year=T0.year + 1),
        estimated_duration_hours=0.01, command=[PY, "-c", "pass"],
    )  # fmt: skip
    submitted: list[float] = []

    def submit() -> None:
        time.sleep(0.3)
        submitted.append(time.monotonic())
        manager.submit_job(job)

    threading.Thread(target=submit, daemon=True).start()
    assert runner.run(lambda: job.status == S.COMPLETED, poll_seconds=0.02, timeout_seconds=20)
    (dispatched,) = runner.dispatch_seconds
    assert runner.starts == {"j": 1} and dispatched >= 0


def test_an_executor_that_cannot_say_when_it_has_events_is_polled() -> None:
    class Silent(Posting):
        def watch(self, wake) -> bool:  # type: ignore[no-untyped-def]
            return False

    manager, _ = make_farm(nodes=1)
    runner = FarmRunner(manager, Silent(), idle_cycle_seconds=30)
    steps: list[float] = []
    began = time.monotonic()
    assert not runner.run(
        lambda: False, poll_seconds=0.02, timeout_seconds=0.5, on_step=lambda: steps.append(0.0)
    )
    assert len(steps) >= 5 and time.monotonic() - began < 3


FRAMES_THEN_LINGER = (
    "import sys, time\n"
    "for f in range(int(sys.argv[1]), int(sys.argv[2]) + 1):\n"
    "    print(f'frame {f} written', flush=True)\n"
    "time.sleep(0.5)\n"  # the frames are done; the renderer takes its time to end
    "print('bye', flush=True)\n"
)


def test_a_render_whose_frames_are_all_done_is_left_to_end_and_its_time_is_counted(
    tmp_path: Path,
) -> None:
    manager, _ = make_farm(nodes=0)
    manager.add_node(make_node("n0"))
    job = RenderJob(
        id="s", name="s", client_id="c1", deadline=T0.replace(year=T0.year + 1),
        estimated_duration_hours=0.01, frames="1-4", chunk_size=2, preview_first=False,
        command=[PY, "-c", FRAMES_THEN_LINGER, "{start}", "{end}"],
    )  # fmt: skip
    manager.submit_job(job)
    executor = LocalExecutor(tmp_path, adapter_for=lambda argv: Chatty())
    runner = FarmRunner(manager, executor)
    assert runner.run(lambda: job.status == S.COMPLETED, poll_seconds=0.02, timeout_seconds=60)
    assert runner.render_seconds >= 2 * 0.5  # both renders' time, up to their ends
    logs = sorted(tmp_path.rglob("render.log"))
    assert len(logs) == 2 and all(log.read_text().endswith("bye\n") for log in logs)
