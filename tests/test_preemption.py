"""Preemption weighs what it throws away against the deadline it saves, and never rescues one
deadline by putting another at risk. Each rule here has a test that fails without it."""

from datetime import timedelta

from builders import make_farm, make_job, running_on

from render_farm_manager.core.models import RenderJobStatus

S = RenderJobStatus


def test_a_critical_job_preempts_work_that_barely_started_even_without_checkpoints():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(
        make_job("batch", priority="low", hours=10, deadline_in=5 * 24, supports_checkpoint=False)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=1))
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    result = manager.run_scheduling_cycle()
    assert result["jobs_preempted"] == 1
    assert running_on(manager) == {"n0": "urgent"}
    assert manager.jobs["batch"].status is S.QUEUED
    clock.advance(timedelta(hours=1))
    manager.complete_job("urgent")
    assert manager.get_job_status("urgent")["will_meet_deadline"] is True
    manager.run_scheduling_cycle()
    assert manager.get_job_status("batch")["will_meet_deadline"] is True


def test_a_rescue_does_not_throw_away_more_work_than_it_saves():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(
        make_job("long", priority="low", hours=30, deadline_in=10 * 24, supports_checkpoint=False)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=6))  # six hours of render would be lost
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 0
    assert running_on(manager) == {"n0": "long"}


def test_the_discard_ratio_sets_what_a_rescue_may_cost():
    manager, clock = make_farm(nodes=1)
    manager.scheduler.max_discard_ratio = 10.0
    manager.submit_job(
        make_job("long", priority="low", hours=30, deadline_in=10 * 24, supports_checkpoint=False)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=6))
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1


def test_work_that_checkpoints_is_taken_however_long_it_has_run():
    manager, clock = make_farm(nodes=1)
    manager.submit_job(
        make_job("long", priority="low", hours=30, deadline_in=10 * 24, supports_checkpoint=True)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=6))
    manager.update_job_progress("long", 20)
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["long"].progress == 20  # resumes from its checkpoint


def test_a_rescue_never_puts_the_victims_deadline_at_risk():
    manager, clock = make_farm(nodes=1)
    # the victim needs 10 more hours and has 11.5: waiting an hour for the rescue (plus the
    # two-hour safety margin) would put it at risk
    manager.submit_job(
        make_job("tight", priority="low", hours=10, deadline_in=11.5, supports_checkpoint=True)
    )
    manager.run_scheduling_cycle()
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 0
    assert running_on(manager) == {"n0": "tight"}


def test_the_victim_counts_the_work_it_would_have_to_redo():
    manager, clock = make_farm(nodes=1)
    # 20 h job with 40 h to its deadline: after 8 h it has 12 h left and 32 h of time, but
    # preempted without a checkpoint it would need all 20 h again, plus the hour of the rescue
    # and the margin: 23 h of 32 h is fine...
    manager.submit_job(
        make_job("redo", priority="low", hours=20, deadline_in=40, supports_checkpoint=False)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=30))
    manager.update_job_progress("redo", 40)  # ...but 40% done in half an hour: 20 h job
    manager.scheduler.max_discard_ratio = 100.0
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    manager2, clock2 = make_farm(nodes=1)
    manager2.scheduler.max_discard_ratio = 100.0
    manager2.submit_job(
        make_job("redo", priority="low", hours=20, deadline_in=22.5, supports_checkpoint=False)
    )
    manager2.run_scheduling_cycle()
    clock2.advance(timedelta(minutes=30))
    manager2.update_job_progress("redo", 40)  # 12 h left, 22 h of time: fine if it kept it,
    manager2.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock2.now())
    )
    # ...but losing its 40% it would need 20 h + 1 h + 2 h margin > 22 h
    assert manager2.run_scheduling_cycle()["jobs_preempted"] == 0


def test_work_that_may_not_be_preempted_is_never_taken_even_when_it_is_the_cheapest():
    manager, clock = make_farm(nodes=2)
    manager.submit_job(
        make_job(
            "locked",
            priority="low",
            hours=20,
            deadline_in=100,
            supports_checkpoint=True,
            can_be_preempted=False,
        )
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=30))
    manager.submit_job(make_job("plain", priority="low", hours=20, deadline_in=100))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=10))
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["locked"].status is S.RUNNING
    assert manager.jobs["plain"].status is S.QUEUED


def test_victims_that_throw_away_least_go_first():
    manager, clock = make_farm(nodes=2)
    manager.submit_job(make_job("plain", priority="low", hours=20, deadline_in=100))
    manager.submit_job(
        make_job("ckpt", priority="low", hours=20, deadline_in=100, supports_checkpoint=True)
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=30))
    manager.submit_job(make_job("urgent", priority="high", hours=2, deadline_in=3, now=clock.now()))
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["ckpt"].status is S.QUEUED
    assert manager.jobs["plain"].status is S.RUNNING


def test_among_equally_cheap_victims_the_lowest_level_goes_first():
    manager, clock = make_farm(nodes=2)
    for job_id, priority in (("medium", "medium"), ("low", "low")):
        manager.submit_job(
            make_job(job_id, priority=priority, hours=20, deadline_in=100, supports_checkpoint=True)
        )
    manager.run_scheduling_cycle()
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["low"].status is S.QUEUED
    assert manager.jobs["medium"].status is S.RUNNING


def test_among_equally_cheap_victims_of_one_level_the_one_with_most_slack_goes_first():
    manager, clock = make_farm(nodes=2)
    for job_id, deadline in (("soon", 40), ("later", 90)):
        manager.submit_job(
            make_job(
                job_id, priority="low", hours=20, deadline_in=deadline, supports_checkpoint=True
            )
        )
    manager.run_scheduling_cycle()
    manager.submit_job(
        make_job("urgent", priority="critical", hours=1, deadline_in=2, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["later"].status is S.QUEUED
    assert manager.jobs["soon"].status is S.RUNNING


def test_an_emergency_takes_the_cheapest_preemptible_node_whatever_it_costs():
    manager, clock = make_farm(nodes=2)
    manager.submit_job(make_job("old", priority="low", hours=30, deadline_in=100))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=10))
    manager.submit_job(make_job("new", priority="low", hours=30, deadline_in=100))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.submit_emergency_job(make_job("fire", hours=1, deadline_in=24, now=clock.now()))
    assert manager.jobs["fire"].status is S.RUNNING
    assert manager.jobs["new"].status is S.QUEUED  # one hour lost, not ten
    assert manager.jobs["old"].status is S.RUNNING


def test_throwing_away_less_work_comes_before_taking_a_lower_level():
    manager, clock = make_farm(nodes=2)
    manager.submit_job(make_job("low-plain", priority="low", hours=20, deadline_in=100))
    manager.submit_job(
        make_job(
            "medium-ckpt", priority="medium", hours=20, deadline_in=100, supports_checkpoint=True
        )
    )
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.submit_job(
        make_job("urgent", priority="critical", hours=2, deadline_in=3, now=clock.now())
    )
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 1
    assert manager.jobs["medium-ckpt"].status is S.QUEUED
    assert manager.jobs["low-plain"].status is S.RUNNING
