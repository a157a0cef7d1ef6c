"""Render processes on this machine: the embedded default executor, so that one workstation is
a farm with no set-up (each "node" is a slot on this machine).

Each task runs in a directory of its own under ``workdir`` (``<task>/attempt-<n>``), its output
in ``render.log`` there. A render runs in its own process group, so cancelling it (preemption,
cancel, pause) kills the renderer and everything it started. Frames are reported as the
renderer's adapter reads them from its output, else when the command for a contiguous run of
frames exits successfully; frames already done are never rendered again.

What a render costs the manager does not grow with how much its renderer prints: while the
renderer keeps printing, its output is read in chunks at most every ``read_interval_seconds``
(its end is noticed at once) and written to ``render.log`` as read, flushed at most every
``log_flush_seconds`` and no later than that after it was read (the log read while the render
runs lags by no more); progress is reported at most once per ``progress_seconds`` per task, and
only when it moved by ``progress_step`` percent of the task or more (the last value held back
is reported when that time is up, even if the renderer says nothing more, and before a
failure). Frames done, previews, starts, ends and failures are reported as they are read, every
one of them. :meth:`LocalExecutor.watch` says when there are events to take.
"""

from __future__ import annotations

import codecs
import ctypes
import io
import itertools
import math
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from render_farm_manager.core.models import RenderFailure, RenderJob
from render_farm_manager.execution.events import EventKind, TaskEvent
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.order import RenderOrder, render_order
from render_farm_manager.renderers.base import RendererAdapter
from render_farm_manager.renderers.registry import adapter_for, guess_renderer

AdapterFor = Callable[[Sequence[str]], RendererAdapter | None]
TAIL_LINES = 50
PROGRESS_SECONDS = 1.0
"""At most one progress event per task this often."""
PROGRESS_STEP = 0.5
"""Percent (of the task) that progress must move by to be reported again."""
LOG_FLUSH_SECONDS = 0.5
"""How far ``render.log`` may lag behind the renderer's output."""
READ_INTERVAL_SECONDS = 0.2
"""How often the output of a renderer that keeps printing is read."""
_CHUNK = 65536


def default_adapter(argv: Sequence[str]) -> RendererAdapter | None:
    """The adapter of the renderer ``argv`` runs, when it is one the farm knows."""
    name = guess_renderer(argv)
    return adapter_for(name) if name else None


@dataclass
class _Reading:
    """What the output of one command said so far."""

    wanted: set[int]
    reported: set[int] = field(default_factory=set)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    last_error: str | None = None
    preview: Path | None = None


class _ProgressGate:
    """Which of a task's progress values are reported: at most one per ``seconds``, none that
    moved less than ``step`` from the last one reported; the latest value held back is due when
    ``seconds`` have passed (:meth:`due`). Thread-safe (an Open Job Description session reports
    progress and lines from threads of its own)."""

    def __init__(self, seconds: float, step: float) -> None:
        self.seconds = seconds
        self.step = step
        self._sent = -math.inf
        self._sent_at = -math.inf
        self._held: float | None = None
        self._lock = threading.Lock()

    def offer(self, value: float, now: float) -> float | None:
        """``value`` when it is to be reported now, else None (held back if it is a step)."""
        with self._lock:
            if value < self._sent + self.step:
                return None
            if now - self._sent_at >= self.seconds:
                self._sent, self._sent_at, self._held = value, now, None
                return value
            self._held = value
            return None

    def due(self, now: float) -> float | None:
        """The value held back, when its time has come (it counts as reported)."""
        with self._lock:
            held = self._held
            if held is None or now - self._sent_at < self.seconds:
                return None
            self._sent, self._sent_at, self._held = held, now, None
            return held

    def due_at(self) -> float:
        """When the value held back falls due (infinity when none is)."""
        held, sent_at = self._held, self._sent_at
        return math.inf if held is None else sent_at + self.seconds

    def take(self) -> float | None:
        """The value held back, whenever it falls due (it counts as reported)."""
        with self._lock:
            held, self._held = self._held, None
            if held is not None:
                self._sent = held
            return held

    def drop(self) -> None:
        """Forget the value held back (a frame done reports more than it)."""
        self._held = None


@dataclass
class _Run:
    task_id: str
    node_id: str
    attempt: int
    plan: list[tuple[list[str], list[int]]]
    frames_total: int
    frames_before: int
    directory: Path
    output: str = ""
    busy_seconds: float = 0.0
    started: bool = False
    resume: bool = False
    preview_scale: float | None = None
    process: subprocess.Popen[bytes] | None = None
    session: dict[str, Any] | None = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: _ProgressGate = field(
        default_factory=lambda: _ProgressGate(PROGRESS_SECONDS, PROGRESS_STEP)
    )


class LocalExecutor(Executor):
    def __init__(
        self,
        workdir: str | Path,
        adapter_for: AdapterFor = default_adapter,
        kill_grace_seconds: float = 5.0,
        *,
        progress_seconds: float = PROGRESS_SECONDS,
        progress_step: float = PROGRESS_STEP,
        log_flush_seconds: float = LOG_FLUSH_SECONDS,
        read_interval_seconds: float = READ_INTERVAL_SECONDS,
    ) -> None:
        self.workdir = Path(workdir)
        self.adapter_for = adapter_for
        self.kill_grace_seconds = kill_grace_seconds
        self.progress_seconds = progress_seconds
        """At most one progress event per task this often (0: every one that moved)."""
        self.progress_step = progress_step
        """Percent of the task progress must move by to be reported again."""
        self.log_flush_seconds = log_flush_seconds
        """How far a ``render.log`` may lag behind its renderer's output (0: flushed as read)."""
        self.read_interval_seconds = read_interval_seconds
        """While a renderer keeps printing, its output is read at most this often (0: as it
        comes): what a render costs this process then does not grow with how often its
        renderer prints."""
        self._wake: Callable[[], None] | None = None
        self._runs: dict[str, _Run] = {}
        self._events: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        self._attempts = itertools.count(1)
        self._lock = threading.Lock()
        self._ran: set[str] = set()
        """Tasks started here before: a rerun continues from the renderer's saved state."""

    # -- the interface -------------------------------------------------------------------------

    def start(self, task: RenderJob, node_id: str, job: RenderJob | None = None) -> int:
        with self._lock:
            attempt = next(self._attempts)
            resume = task.id in self._ran
        self.run_order(render_order(task, node_id, attempt, resume, job))
        return attempt

    def run_order(self, order: RenderOrder) -> None:
        """Start the render ``order`` describes (its events carry ``order.attempt``): what a
        render node does with an order from a manager elsewhere."""
        with self._lock:
            if order.task_id in self._runs:
                raise RuntimeError(f"task {order.task_id!r} is already running here")
            directory = _next_attempt_directory(self.workdir / _safe(order.task_id))
            directory.mkdir(parents=True)  # taken now: a quick restart picks the next one
            self._ran.add(order.task_id)
            run = _Run(
                order.task_id,
                order.node_id,
                order.attempt,
                [(list(argv), list(frames)) for argv, frames in order.plan],
                order.frames_total,
                order.frames_before,
                directory,
                order.output,
            )
            run.progress = _ProgressGate(self.progress_seconds, self.progress_step)
            run.resume = order.resume
            run.preview_scale = order.preview_scale
            run.session = order.session
            self._runs[order.task_id] = run
        threading.Thread(target=self._work, args=(run,), daemon=True, name=order.task_id).start()

    def cancel(self, task_id: str) -> None:
        with self._lock:
            run = self._runs.pop(task_id, None)
        if run is None:
            return
        with run.lock:
            run.cancelled = True
            process = run.process
        if process is not None:
            _kill_group(process, self.kill_grace_seconds)

    def running(self) -> dict[str, str]:
        with self._lock:
            return {task_id: run.node_id for task_id, run in self._runs.items()}

    def watch(self, wake: Callable[[], None] | None) -> bool:
        self._wake = wake
        return True

    def events(self) -> list[TaskEvent]:
        out: list[TaskEvent] = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def task_log(self, task_id: str, tail_bytes: int = 65536) -> str | None:
        return read_task_log(self.workdir, task_id, tail_bytes)

    def close(self) -> None:
        for task_id in list(self.running()):
            self.cancel(task_id)

    # -- one render ----------------------------------------------------------------------------

    def _emit(self, run: _Run, kind: EventKind, **values: object) -> None:
        if run.cancelled:
            return
        self._events.put(
            TaskEvent(kind, run.task_id, run.node_id, run.attempt, **values)  # type: ignore[arg-type]
        )
        wake = self._wake
        if wake is not None:
            wake()

    def _progress(self, run: _Run, value: float) -> None:
        """A progress value read: reported now, held back, or dropped (see the module)."""
        sent = run.progress.offer(value, time.monotonic())
        if sent is not None:
            self._emit(run, EventKind.PROGRESS, progress=sent)

    def _progress_due(self, run: _Run) -> None:
        """The progress value held back, reported when its time has come."""
        sent = run.progress.due(time.monotonic())
        if sent is not None:
            self._emit(run, EventKind.PROGRESS, progress=sent)

    def _finish(self, run: _Run) -> None:
        with self._lock:
            if self._runs.get(run.task_id) is run:
                del self._runs[run.task_id]

    def _work(self, run: _Run) -> None:
        log_path = run.directory / "render.log"
        try:
            run.directory.mkdir(parents=True, exist_ok=True)
            with log_path.open("w", encoding="utf-8", errors="replace") as log:
                if not run.plan:
                    self._fail(run, "the task has no command to run", RenderFailure.SCENE, log_path)
                    return
                if run.output:
                    try:
                        Path(run.output).mkdir(parents=True, exist_ok=True)
                    except OSError as error:
                        message = f"cannot create the output directory {run.output}: {error}"
                        self._fail(run, message, RenderFailure.NODE, log_path)
                        return
                if run.session is not None:
                    self._session_work(run, log, log_path)
                    return
                if run.preview_scale is not None:
                    self._preview_pass(run, log, log_path)
                done = run.frames_before
                for argv, frames in run.plan:
                    ok = self._run_command(run, argv, frames, done, log, log_path)
                    if not ok:
                        return
                    done += len(frames)
                self._emit(run, EventKind.FINISHED, log=log_path, seconds=run.busy_seconds)
        finally:
            self._finish(run)

    def _run_command(
        self,
        run: _Run,
        argv: list[str],
        frames: list[int],
        done_before: int,
        log: object,
        log_path: Path,
        preview: Path | None = None,
    ) -> bool:
        """Run one command; ``preview``: it is a preview pass writing there (its frames are
        previews, and its failure is not the task's)."""
        write = log.write  # type: ignore[attr-defined]
        adapter = self.adapter_for(argv)
        if run.resume and adapter is not None and preview is None:
            argv = argv + [a for a in adapter.resume_arguments() if a not in argv]
        write(f"$ {' '.join(argv)}\n")
        try:
            with run.lock:
                if run.cancelled:
                    return False
                run.process = subprocess.Popen(  # argv list, never a shell
                    argv,
                    cwd=run.directory,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    bufsize=0,  # read in chunks as they come (see _pump)
                    start_new_session=True,  # its own process group
                    preexec_fn=_die_with_parent,
                )
        except OSError as error:
            write(f"cannot start {argv[0]!r}: {error}\n")
            self._fail(run, f"cannot start {argv[0]!r}: {error}", RenderFailure.NODE, log_path)
            return False
        process = run.process
        began = time.monotonic()
        if not run.started:
            run.started = True
            self._emit(run, EventKind.STARTED, log=log_path)
        reading = _Reading(set(frames), preview=preview)
        assert process.stdout is not None
        with process.stdout:
            self._pump(run, process, log, reading, adapter, done_before)
        returncode = process.wait()
        run.busy_seconds += time.monotonic() - began
        if run.cancelled:
            return False
        if returncode != 0 and preview is not None:
            write(f"the preview pass failed (exit code {returncode}); rendering the frames\n")
            return True
        if returncode != 0:
            tail = list(reading.tail)
            kind = adapter.classify(returncode, tail) if adapter else RenderFailure.NODE
            message = reading.last_error or _last_words(tail) or f"exit code {returncode}"
            self._fail(run, message, kind, log_path)
            return False
        for frame in frames:
            if frame not in reading.reported:
                self._done(run, reading, frame)
        return True

    def _pump(
        self,
        run: _Run,
        process: subprocess.Popen[bytes],
        log: object,
        reading: _Reading,
        adapter: RendererAdapter | None,
        done_before: int,
    ) -> None:
        """Read the renderer's output until it closes it: each chunk into the log, each line
        to :meth:`_read`.

        The text is what a text-mode pipe reads (UTF-8, undecodable bytes replaced, ``\\r``
        and ``\\r\\n`` ending a line as ``\\n`` does: a progress line redrawn with
        ``\\r`` is a line of its own). While the renderer keeps printing, its output is read
        at most every ``read_interval_seconds`` (it waits in the pipe meanwhile, and a chunk
        that fills the read goes on at once); its end is noticed at once. The log is flushed at
        most every ``log_flush_seconds``, and no later than that after output was read (also
        when the renderer falls silent); a progress value held back is reported when due,
        silence or not."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        write = log.write  # type: ignore[attr-defined]
        flush = log.flush  # type: ignore[attr-defined]
        decoder = io.IncrementalNewlineDecoder(
            codecs.getincrementaldecoder("utf-8")(errors="replace"), translate=True
        )
        output = select.poll()
        output.register(fd, select.POLLIN)
        end = _EndWatch(process.pid)
        every, interval = self.log_flush_seconds, self.read_interval_seconds
        gate = run.progress
        partial = ""
        unflushed = False
        flushed = time.monotonic()
        try:
            while True:
                due = min(flushed + every if unflushed else math.inf, gate.due_at())
                if due < math.inf:  # something to do at ``due`` if no output comes before
                    wait = due - time.monotonic()
                    if wait <= 0 or not output.poll(math.ceil(wait * 1000)):
                        now = time.monotonic()
                        if unflushed and now >= flushed + every:
                            flush()
                            unflushed, flushed = False, now
                        self._progress_due(run)
                        continue
                data = os.read(fd, _CHUNK)
                if not data:
                    break
                text = decoder.decode(data)
                if text:
                    write(text)
                    unflushed = True
                    lines = text.split("\n")
                    if partial:
                        lines[0] = partial + lines[0]
                    partial = lines.pop()
                    self._read_lines(run, reading, adapter, lines, done_before)
                now = time.monotonic()
                if now >= flushed + every:
                    flush()
                    unflushed, flushed = False, now
                if len(data) < _CHUNK and interval > 0:  # let the next output gather
                    due = min(flushed + every if unflushed else math.inf, gate.due_at())
                    end.wait(min(interval, due - now))
        finally:
            end.close()
        rest = decoder.decode(b"", final=True)
        if rest:
            write(rest)
            lines = (partial + rest).split("\n")
            partial = lines.pop()
            self._read_lines(run, reading, adapter, lines, done_before)
        if partial:  # the last line, without its end
            self._read_lines(run, reading, adapter, [partial], done_before, ended=False)
        flush()

    def _session_work(self, run: _Run, log: IO[str], log_path: Path) -> None:
        """The task as an Open Job Description session (see ``execution.openjd_run``)."""
        from render_farm_manager.execution.openjd_run import SessionError, SessionTask, run_session

        assert run.session is not None
        adapter = self.adapter_for(run.plan[0][0]) if run.plan else None
        reading = _Reading({frame for _, frames in run.plan for frame in frames})
        done_before = run.frames_before

        def line(text: str) -> None:
            self._read(run, reading, adapter, text, done_before + len(reading.reported))
            self._progress_due(run)

        def progress(frames: list[int], percent: float) -> None:
            if run.frames_total:
                done = done_before + len(reading.reported) + len(frames) * percent / 100.0
                self._progress(run, min(99.9, 100.0 * done / run.frames_total))

        def cancelled() -> bool:  # asked every fraction of a second while an action runs
            self._progress_due(run)
            return run.cancelled

        def frames_done(frames: list[int]) -> None:
            for frame in frames:
                if frame not in reading.reported:
                    self._done(run, reading, frame)

        task = SessionTask(
            task_id=run.task_id,
            session=run.session,
            plan=run.plan,
            directory=run.directory,
            log=log,
            adapter=adapter,
            cancelled=cancelled,
            on_line=line,
            on_progress=progress,
            on_frames_done=frames_done,
        )
        run.started = True
        self._emit(run, EventKind.STARTED, log=log_path)
        began = time.monotonic()
        try:
            run_session(task)
        except SessionError as error:
            run.busy_seconds += time.monotonic() - began
            self._fail(run, reading.last_error or str(error), error.failure, log_path)
            return
        run.busy_seconds += time.monotonic() - began
        self._emit(run, EventKind.FINISHED, log=log_path, seconds=run.busy_seconds)

    def _done(self, run: _Run, reading: _Reading, frame: int) -> None:
        reading.reported.add(frame)
        run.progress.drop()
        if reading.preview is not None:
            self._emit(run, EventKind.PREVIEW, frame=frame, path=reading.preview)
        else:
            self._emit(run, EventKind.FRAME_DONE, frame=frame)

    def _preview_pass(self, run: _Run, log: object, log_path: Path) -> None:
        """A quick low-resolution pass of the task's frames, where the adapter can make one."""
        assert run.preview_scale is not None
        for argv, frames in run.plan:
            adapter = self.adapter_for(argv)
            made = adapter.preview_command(argv, run.preview_scale) if adapter else None
            if made is None:
                return
            command, directory = made
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError:
                return
            if not self._run_command(run, command, frames, 0, log, log_path, preview=directory):
                return

    def _read(
        self,
        run: _Run,
        reading: _Reading,
        adapter: RendererAdapter | None,
        line: str,
        done_before: int,
    ) -> None:
        """One line of the renderer's output: frames done, progress, errors."""
        ended = line.endswith("\n")
        self._read_lines(run, reading, adapter, [line[:-1] if ended else line], done_before, ended)

    def _read_lines(
        self,
        run: _Run,
        reading: _Reading,
        adapter: RendererAdapter | None,
        lines: list[str],
        done_before: int,
        ended: bool = True,
    ) -> None:
        """Lines of the renderer's output, in order, without their ends (``ended``: each had
        one): frames done (each at once), errors, and the progress the last of them says."""
        reading.tail.extend(lines)
        if adapter is None:
            return
        parse = adapter.parse_line
        end = "\n" if ended else ""
        done: float | None = None
        for line in lines:
            said = parse(line + end)
            if said.error:
                reading.last_error = said.error
            frame = said.frame_done
            if frame is not None and frame in reading.wanted and frame not in reading.reported:
                self._done(run, reading, frame)
                done = None  # says more than the progress before it
            if said.frame_progress is not None:
                done = done_before + len(reading.reported) + said.frame_progress / 100.0
        if done is not None and run.frames_total and reading.preview is None:
            self._progress(run, min(99.9, 100.0 * done / run.frames_total))

    def _fail(self, run: _Run, error: str, kind: RenderFailure, log_path: Path) -> None:
        held = run.progress.take()  # how far it got (a checkpoint) before it failed
        if held is not None:
            self._emit(run, EventKind.PROGRESS, progress=held)
        self._emit(
            run,
            EventKind.FAILED,
            error=error,
            failure=kind,
            log=log_path,
            seconds=run.busy_seconds,
        )


class _EndWatch:
    """Waits that a process's end cuts short (through a pidfd where the system has them;
    elsewhere a wait is a sleep)."""

    def __init__(self, pid: int) -> None:
        self._fd: int | None = None
        self._poll: select.poll | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # not Linux 5.3+, or the process is gone
            return
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def wait(self, seconds: float) -> None:
        """Up to ``seconds``, less if the process ends."""
        if seconds <= 0:
            return
        if self._poll is None:
            time.sleep(seconds)
        else:
            self._poll.poll(math.ceil(seconds * 1000))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _last_attempt(task_directory: Path) -> int:
    """The number of the task's last attempt on disk (also one from before a restart); 0
    when it has none."""
    last = 0
    if task_directory.is_dir():
        for entry in task_directory.iterdir():
            number = entry.name.removeprefix("attempt-")
            if entry.name.startswith("attempt-") and number.isdigit():
                last = max(last, int(number))
    return last


def _next_attempt_directory(task_directory: Path) -> Path:
    """``attempt-<n>`` after the task's last attempt on disk (its log is kept)."""
    return task_directory / f"attempt-{_last_attempt(task_directory) + 1}"


def read_task_log(workdir: Path, task_id: str, tail_bytes: int) -> str | None:
    """The last ``tail_bytes`` of the latest attempt's ``render.log`` of ``task_id`` under
    ``workdir``; None when it has none."""
    found = read_task_log_written(workdir, task_id, tail_bytes)
    return found[0] if found is not None else None


def read_task_log_written(workdir: Path, task_id: str, tail_bytes: int) -> tuple[str, float] | None:
    """:func:`read_task_log`, with when the log was last written (its mtime, seconds since
    the epoch): which of the logs several nodes have of one task is the latest."""
    task_directory = workdir / _safe(task_id)
    number = _last_attempt(task_directory)
    log = task_directory / f"attempt-{number}" / "render.log"
    if number < 1 or not log.is_file():
        return None
    with log.open("rb") as file:
        written = os.fstat(file.fileno()).st_mtime
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - max(0, tail_bytes)))
        return file.read().decode("utf-8", errors="replace"), written


def _die_with_parent() -> None:
    """In the render process, before it runs: on Linux, die when the thread that started it
    (and so the manager) dies, even by SIGKILL, so a restarted manager never finds a render of
    the previous one still writing the frames it hands out again."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def _kill_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the render's process group, SIGKILL it if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()


def _safe(task_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task_id)[:200] or "task"


def _last_words(tail: Sequence[str]) -> str | None:
    for line in reversed(tail):
        if line.strip() and not line.startswith("$ "):
            return line.strip()[:500]
    return None
