"""The examples (each seed README usage among them) run and print what they promise."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def run(name: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_basic_initialization():
    assert "Scheduler: DeadlineScheduler" in run("basic_initialization.py")


def test_custom_initialization():
    out = run("custom_initialization.py")
    assert "Same scheduler: True" in out and "Same audit logger: True" in out
    assert "Borrowing limit: 50.0" in out


def test_submit_and_monitor_matches_the_seed_readme():
    out = run("submit_and_monitor.py").splitlines()
    assert out == [
        "Jobs scheduled: 1",
        "Farm utilization: 100.0%",
        "Total nodes: 1",
        "Online nodes: 1",
        "Active jobs: 1",
        "Client resource usage: 100.0%",
        "Active jobs: 1",
        "Job status: running",
        "Progress: 0.0%",
        "Will meet deadline: True",
    ]


def test_simulated_night():
    out = run("simulated_night.py")
    assert "16:00 scheduled 3, deferred to cheaper hours 3" in out
    assert "emergency job is running" in out
    assert "Completed 7 of 7 jobs" in out


def test_a_scheduler_of_your_own_decides():
    assert run("custom_scheduler.py").strip() == "Running: long"


CHECKED = {
    "custom_scheduler.py",
    "basic_initialization.py",
    "custom_initialization.py",
    "submit_and_monitor.py",
    "shot_with_frames.py",
    "simulated_night.py",
}


def test_every_example_is_run_by_a_test_above():
    assert {path.name for path in EXAMPLES.glob("*.py")} == CHECKED


def test_a_shot_is_split_into_tasks_and_rendered_to_the_end():
    out = run("shot_with_frames.py").splitlines()
    assert out[0].startswith("Tasks: ") and "[[1001], [1240], [1121]]" in out[0]
    assert out[1] == "Status: completed, frames 240/240"
    assert out[2] == "On time: True"
