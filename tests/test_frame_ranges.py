"""Frame ranges (Open Job Description syntax) and how a shot is planned into tasks.

``parse_frames`` / ``format_frames`` / ``frames_label`` and ``plan_tasks`` /
``preview_first_order`` / ``step_order`` at their public API: examples, refusals, and
properties over random frame sets and chunk sizes.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from render_farm_manager.core.errors import DependencyCycleError, InvalidInputError
from render_farm_manager.core.models import MAX_FRAMES, JobStep, RenderJob
from render_farm_manager.jobs.expansion import plan_tasks, preview_first_order, step_order
from render_farm_manager.jobs.frame_range import format_frames, frames_label, parse_frames

T0 = datetime(2026, 11, 23, 22, 0)
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def shot(frames: str | None = "1-10", **fields) -> RenderJob:
    values = {
        "id": "s",
        "name": "Shot s",
        "client_id": "c1",
        "deadline": T0 + timedelta(hours=48),
        "estimated_duration_hours": 10.0,
        "frames": frames,
    }
    values.update(fields)
    return RenderJob(**values)


# -- parse_frames: the forms of the syntax --------------------------------------------------------


def test_inclusive_range_gives_every_frame_in_it():
    frames = parse_frames("1001-1240")
    assert frames == list(range(1001, 1241))
    assert len(frames) == 240


def test_stepped_range_gives_every_nth_frame():
    assert parse_frames("1-100:5") == list(range(1, 101, 5))
    assert len(parse_frames("1-100:5")) == 20


def test_list_of_frames_and_ranges():
    assert parse_frames("1,3,10-20") == [1, 3, *range(10, 21)]


def test_descending_range_with_negative_step_keeps_its_order():
    assert parse_frames("10-1:-1") == list(range(10, 0, -1))


def test_single_frame_and_negative_frames():
    assert parse_frames("7") == [7]
    assert parse_frames("-5--1") == [-5, -4, -3, -2, -1]


def test_surrounding_whitespace_is_ignored():
    assert parse_frames("  1-3  ") == [1, 2, 3]


def test_exactly_the_maximum_number_of_frames_is_accepted():
    assert len(parse_frames(f"1-{MAX_FRAMES}")) == MAX_FRAMES


# -- parse_frames: refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "abc",
        "5-1",  # descending without a negative step
        "1-10,5-20",  # overlapping ranges
        "1-3,3",  # a frame named twice
        "1,1",
        "1-10:0",
        "1-",
        "1,,2",
        "1e3",
        f"1-{MAX_FRAMES + 1}",  # one frame too many
        f"1-{MAX_FRAMES},{MAX_FRAMES + 1}",
        "1000000001",  # beyond the largest frame number
        "-1000000001",
        "99999999999999999999999999999999",
        "1-1000000000000:1000000000",
    ],
)
def test_bad_expressions_raise_invalid_input_naming_the_expression(expression):
    with pytest.raises(InvalidInputError) as caught:
        parse_frames(expression)
    assert repr(expression) in str(caught.value)
    assert caught.value.field == "frames"


@pytest.mark.parametrize("expression", ["", "   "])
def test_empty_expressions_are_refused(expression):
    with pytest.raises(InvalidInputError) as caught:
        parse_frames(expression)
    assert repr(expression) in str(caught.value)


@pytest.mark.parametrize("value", [None, 5, ["1-3"]])
def test_non_text_expressions_are_refused(value):
    with pytest.raises(InvalidInputError):
        parse_frames(value)  # type: ignore[arg-type]


def test_refusal_names_the_field_it_was_given():
    with pytest.raises(InvalidInputError) as caught:
        parse_frames("abc", field="steps[render].frames")
    assert caught.value.field == "steps[render].frames"
    assert "steps[render].frames" in str(caught.value)


def test_too_many_frames_says_how_many_and_the_maximum():
    with pytest.raises(InvalidInputError, match=str(MAX_FRAMES)):
        parse_frames(f"1-{MAX_FRAMES + 1}")


def test_astronomically_long_range_is_refused_as_invalid_input():
    with pytest.raises(InvalidInputError, match="1-9223372036854775808"):
        parse_frames("1-9223372036854775808")


# -- format_frames and frames_label ---------------------------------------------------------------


def test_format_frames_gives_the_shortest_expression():
    assert format_frames([1, 2, 3, 5]) == "1-3,5"
    assert format_frames([5, 3, 1, 2]) == "1-3,5"
    assert format_frames([]) == ""


def test_format_frames_ignores_repeats():
    assert parse_frames(format_frames([4, 4, 5, 5, 6])) == [4, 5, 6]


def test_frames_label_for_one_frame_a_run_and_a_scatter():
    assert frames_label([1001]) == "1001"
    assert frames_label([1001, 1002, 1003, 1004, 1005]) == "1001-1005"
    assert parse_frames(frames_label([1, 3, 5, 20])) == [1, 3, 5, 20]
    assert frames_label([]) == ""


frame_sets = st.sets(st.integers(min_value=-5_000, max_value=5_000), min_size=1, max_size=300)


@pytest.mark.untraced
@PROPERTY
@given(frame_sets)
def test_format_then_parse_gives_the_sorted_frames(frames):
    assert parse_frames(format_frames(frames)) == sorted(frames)


@pytest.mark.untraced
@PROPERTY
@given(frame_sets)
def test_frames_label_parses_back_to_the_same_frames(frames):
    ordered = sorted(frames)
    assert parse_frames(frames_label(ordered)) == ordered


# -- plan_tasks: examples -------------------------------------------------------------------------


def test_plan_without_preview_chunks_in_frame_order():
    tasks = plan_tasks(shot("1-10", chunk_size=4, preview_first=False))
    assert [t.frames for t in tasks] == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10)]
    assert [t.id for t in tasks] == ["s/main/1", "s/main/2", "s/main/3"]
    assert all(t.step.name == "main" for t in tasks)
    assert all(t.depends_on == () for t in tasks)


def test_plan_shares_the_estimate_over_the_frames():
    tasks = plan_tasks(shot("1-10", chunk_size=4, preview_first=False))
    assert [t.hours for t in tasks] == pytest.approx([4.0, 4.0, 2.0])
    assert sum(t.hours for t in tasks) == pytest.approx(10.0)


def test_plan_with_preview_first_starts_with_first_last_and_middle_frames():
    tasks = plan_tasks(shot("1001-1100", chunk_size=10))
    assert [t.frames for t in tasks[:3]] == [(1001,), (1100,), (1051,)]


def test_preview_order_then_every_nth_frame():
    singles, coarse = preview_first_order(list(range(1, 101)), 10)
    assert singles == [1, 100, 51]
    assert coarse == [11, 21, 31, 41, 61, 71, 81, 91]


def test_preview_order_of_three_frames_or_fewer_is_all_of_them():
    assert preview_first_order([1, 2], None) == ([1, 2], [])
    assert sorted(preview_first_order([1, 2, 3], None)[0]) == [1, 2, 3]


def test_default_chunk_is_one_frame():
    tasks = plan_tasks(shot("1-5", preview_first=False))
    assert [t.frames for t in tasks] == [(1,), (2,), (3,), (4,), (5,)]


def test_target_task_seconds_sets_the_chunk_from_the_time_per_frame():
    # 10 hours over 10 frames: one hour a frame; two-hour tasks at reference speed.
    tasks = plan_tasks(shot("1-10", target_task_seconds=7200, preview_first=False))
    assert [len(t.frames) for t in tasks] == [2, 2, 2, 2, 2]
    # Twice as fast nodes: four frames per two-hour task.
    faster = plan_tasks(shot("1-10", target_task_seconds=7200, preview_first=False), speed=2.0)
    assert [len(t.frames) for t in faster] == [4, 4, 2]


def test_a_step_without_frames_is_one_task():
    job = shot(None, steps=[JobStep(name="sim")])
    tasks = plan_tasks(job)
    assert len(tasks) == 1 and tasks[0].frames == () and tasks[0].hours == 10.0


def test_steps_depend_on_every_task_of_the_step_before():
    job = shot(
        "1-4",
        preview_first=False,
        steps=[
            JobStep(name="sim", chunk_size=4),
            JobStep(name="render", depends_on=["sim"], chunk_size=2),
        ],
    )
    tasks = plan_tasks(job)
    assert [(t.id, t.frames, t.depends_on) for t in tasks] == [
        ("s/sim/1", (1, 2, 3, 4), ()),
        ("s/render/1", (1, 2), ("s/sim/1",)),
        ("s/render/2", (3, 4), ("s/sim/1",)),
    ]


def test_frame_by_frame_step_depends_on_the_tasks_holding_its_frames():
    job = shot(
        "1-4",
        preview_first=False,
        steps=[
            JobStep(name="render", chunk_size=2),
            JobStep(name="comp", depends_on=["render"], frame_by_frame=True),
        ],
    )
    comp = {t.frames: t.depends_on for t in plan_tasks(job) if t.step.name == "comp"}
    assert comp == {
        (1,): ("s/render/1",),
        (2,): ("s/render/1",),
        (3,): ("s/render/2",),
        (4,): ("s/render/2",),
    }


def test_step_order_puts_each_step_after_what_it_waits_for():
    steps = [
        JobStep(name="comp", depends_on=["render"]),
        JobStep(name="render", depends_on=["sim"]),
        JobStep(name="sim"),
    ]
    assert [s.name for s in step_order("s", steps)] == ["sim", "render", "comp"]


def test_step_cycle_is_refused_naming_the_path():
    steps = [JobStep(name="a", depends_on=["b"]), JobStep(name="b", depends_on=["a"])]
    with pytest.raises(DependencyCycleError) as caught:
        step_order("s", steps)
    assert caught.value.cycle == ["a", "b", "a"]
    assert "a -> b -> a" in str(caught.value)


def test_unknown_step_and_repeated_step_names_are_refused():
    with pytest.raises(InvalidInputError, match="'nope'"):
        step_order("s", [JobStep(name="a", depends_on=["nope"])])
    with pytest.raises(InvalidInputError, match="two steps named 'a'"):
        step_order("s", [JobStep(name="a"), JobStep(name="a")])


def test_bad_step_frames_are_refused_naming_the_step():
    job = shot("1-4", steps=[JobStep(name="render", frames="oops")])
    with pytest.raises(InvalidInputError) as caught:
        plan_tasks(job)
    assert caught.value.field == "steps[render].frames"
    assert "'oops'" in str(caught.value)


def test_plan_is_deterministic():
    job = shot("1-200", chunk_size=7)
    assert plan_tasks(job) == plan_tasks(job)


# -- plan_tasks: properties over random ranges and chunk sizes -----------------------------------


@st.composite
def planned_shots(draw):
    frames = draw(st.sets(st.integers(min_value=-300, max_value=3_000), min_size=1, max_size=400))
    chunk = draw(st.integers(min_value=1, max_value=60))
    preview = draw(st.booleans())
    every = draw(st.none() | st.integers(min_value=2, max_value=50))
    expression = format_frames(frames)
    job = shot(expression, chunk_size=chunk, preview_first=preview, preview_every=every)
    return job, sorted(frames), chunk


@pytest.mark.untraced
@PROPERTY
@given(planned_shots())
def test_every_frame_is_in_exactly_one_task(case):
    job, frames, _ = case
    tasks = plan_tasks(job)
    counts = Counter(frame for task in tasks for frame in task.frames)
    assert sorted(counts) == frames
    assert set(counts.values()) == {1}
    assert len({t.id for t in tasks}) == len(tasks)


@pytest.mark.untraced
@PROPERTY
@given(planned_shots())
def test_no_task_holds_more_frames_than_the_chunk_size(case):
    job, _, chunk = case
    assert all(1 <= len(task.frames) <= chunk for task in plan_tasks(job))


@pytest.mark.untraced
@PROPERTY
@given(planned_shots())
def test_without_preview_tasks_are_consecutive_chunks_in_frame_order(case):
    job, frames, chunk = case
    job.preview_first = False
    tasks = plan_tasks(job)
    assert [f for task in tasks for f in task.frames] == frames
    assert all(len(task.frames) == chunk for task in tasks[:-1])


@pytest.mark.untraced
@PROPERTY
@given(planned_shots())
def test_with_preview_the_first_tasks_are_first_last_and_middle_frame(case):
    job, frames, _ = case
    job.preview_first = True
    tasks = plan_tasks(job)
    if len(frames) >= 4:
        expected = [frames[0], frames[-1], frames[len(frames) // 2]]
        assert [t.frames for t in tasks[:3]] == [(f,) for f in expected]
    else:
        assert sorted(t.frames for t in tasks) == [(f,) for f in frames]


@pytest.mark.untraced
@PROPERTY
@given(planned_shots(), st.integers(min_value=1, max_value=20))
def test_with_steps_every_frame_is_in_exactly_one_task_of_each_step(case, render_chunk):
    job, frames, chunk = case
    job.steps = [
        JobStep(name="render", chunk_size=render_chunk),
        JobStep(name="comp", depends_on=["render"], frame_by_frame=True, chunk_size=chunk),
    ]
    tasks = plan_tasks(job)
    by_id = {t.id: t for t in tasks}
    for name in ("render", "comp"):
        counts = Counter(f for t in tasks if t.step.name == name for f in t.frames)
        assert sorted(counts) == frames and set(counts.values()) == {1}
    for task in tasks:
        if task.step.name == "comp":
            upstream = {f for d in task.depends_on for f in by_id[d].frames}
            assert set(task.frames) <= upstream
            assert all(by_id[d].step.name == "render" for d in task.depends_on)
