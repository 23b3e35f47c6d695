#![allow(clippy::unwrap_used)]
use super::*;

const WEEK: Duration = DEFAULT_GC_DELAY;

fn p(name: &str) -> PathBuf {
    PathBuf::from(name)
}

#[test]
fn paths_are_due_at_their_removal_time_in_order() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    schedule.schedule(p("/b"), t0 + Duration::from_secs(20));
    schedule.schedule(p("/a"), t0 + Duration::from_secs(10));
    schedule.schedule(p("/c"), t0 + Duration::from_secs(10));
    assert_eq!(schedule.len(), 3);
    assert_eq!(schedule.next_removal(), Some(t0 + Duration::from_secs(10)));
    assert!(schedule.due(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(
        schedule.due(t0 + Duration::from_secs(10)),
        vec![p("/a"), p("/c")]
    );
    assert_eq!(schedule.next_removal(), Some(t0 + Duration::from_secs(20)));
    assert_eq!(schedule.due(t0 + Duration::from_secs(60)), vec![p("/b")]);
    assert!(schedule.is_empty());
    assert_eq!(schedule.next_removal(), None);
}

#[test]
fn rescheduling_moves_a_path_and_unscheduling_forgets_it() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    schedule.schedule(p("/a"), t0 + Duration::from_secs(10));
    schedule.schedule(p("/a"), t0 + Duration::from_secs(30));
    schedule.schedule(p("/b"), t0 + Duration::from_secs(10));
    assert_eq!(schedule.len(), 2);
    assert_eq!(schedule.due(t0 + Duration::from_secs(10)), vec![p("/b")]);
    assert!(schedule.unschedule(&p("/a")));
    assert!(!schedule.unschedule(&p("/a")));
    assert!(schedule.due(t0 + Duration::from_secs(60)).is_empty());
    assert_eq!(schedule.next_removal(), None);
}

#[test]
fn prune_takes_what_is_due_within_the_window() {
    let t0 = Instant::now();
    let mut schedule = Schedule::default();
    // Scheduled a week ahead at t0, at t0+1d and at t0+3d.
    for (name, day) in [("/old", 0), ("/mid", 1), ("/new", 3)] {
        schedule.schedule(p(name), t0 + Duration::from_secs(day * 86_400) + WEEK);
    }
    let now = t0 + Duration::from_secs(4 * 86_400);
    // Nothing may be older than two days: /old (4 days) and /mid (3 days) go.
    let within = WEEK - Duration::from_secs(2 * 86_400);
    assert_eq!(schedule.prune(within, now), vec![p("/old"), p("/mid")]);
    assert_eq!(schedule.len(), 1);
    // A zero window takes only what is due anyway.
    assert!(schedule.prune(Duration::ZERO, now).is_empty());
    // A window past the end of time takes everything.
    assert_eq!(schedule.prune(Duration::MAX, now), vec![p("/new")]);
}

#[test]
fn the_max_allowed_age_shrinks_as_the_disk_fills() {
    let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_millis(1);
    // Mesos's example: a week's delay, 10% headroom.
    assert!(close(max_allowed_age(WEEK, 0.1, 0.0), WEEK.mul_f64(0.9)));
    assert!(close(max_allowed_age(WEEK, 0.1, 0.5), WEEK.mul_f64(0.4)));
    assert!(close(max_allowed_age(WEEK, 0.1, 0.85), WEEK.mul_f64(0.05)));
    assert_eq!(max_allowed_age(WEEK, 0.1, 0.9), Duration::ZERO);
    assert_eq!(max_allowed_age(WEEK, 0.1, 1.0), Duration::ZERO);
    assert_eq!(max_allowed_age(WEEK, 0.0, f64::NAN), Duration::ZERO);
    // The prune window is the rest of the delay.
    assert!(close(prune_window(WEEK, 0.1, 0.5), WEEK.mul_f64(0.6)));
    assert_eq!(prune_window(WEEK, 0.1, 0.95), WEEK);
    assert_eq!(prune_window(WEEK, 0.0, 0.0), Duration::ZERO);
}

#[test]
fn a_full_disk_prunes_old_sandboxes_and_keeps_young_ones() {
    let t0 = Instant::now();
    let delay = Duration::from_secs(100);
    let mut schedule = Schedule::default();
    schedule.schedule(p("/ended-at-0"), t0 + delay);
    schedule.schedule(p("/ended-at-50"), t0 + Duration::from_secs(50) + delay);
    let now = t0 + Duration::from_secs(60);
    // 40% used, 10% headroom: sandboxes may be 50 s old; the first is 60 s old.
    let within = prune_window(delay, 0.1, 0.4);
    assert_eq!(schedule.prune(within, now), vec![p("/ended-at-0")]);
    // 90% used: nothing may stay.
    let within = prune_window(delay, 0.1, 0.9);
    assert_eq!(schedule.prune(within, now), vec![p("/ended-at-50")]);
}

#[test]
fn removing_a_sandbox_takes_its_empty_parents_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let framework = dir.path().join("slaves/S/frameworks/F");
    let run = |ex: &str, c: &str| framework.join(format!("executors/{ex}/runs/{c}"));
    for (ex, c) in [("a", "c1"), ("a", "c2"), ("b", "c3")] {
        std::fs::create_dir_all(run(ex, c)).unwrap();
        std::fs::write(run(ex, c).join("stdout"), "x").unwrap();
    }
    std::os::unix::fs::symlink(run("a", "c2"), framework.join("executors/a/runs/latest")).unwrap();
    std::os::unix::fs::symlink(run("b", "c3"), framework.join("executors/b/runs/latest")).unwrap();

    // An older run of `a`: the latest link (to c2) and `a` stay.
    remove_sandbox(&run("a", "c1"));
    assert!(!run("a", "c1").exists());
    assert!(framework.join("executors/a/runs/latest").exists());
    // The last run of `a`: `a` goes, `b` keeps the framework.
    remove_sandbox(&run("a", "c2"));
    assert!(!framework.join("executors/a").exists());
    assert!(framework.join("executors/b/runs/latest").exists());
    // The last of the framework: its directory goes, the agent's stays.
    remove_sandbox(&run("b", "c3"));
    assert!(!framework.exists());
    assert!(dir.path().join("slaves/S/frameworks").exists());
    // A sandbox already gone is no error.
    remove_sandbox(&run("b", "c3"));
}

#[test]
fn disk_usage_is_a_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let usage = disk_usage(dir.path()).unwrap();
    assert!((0.0..=1.0).contains(&usage), "{usage}");
    assert!(disk_usage(&dir.path().join("missing")).is_err());
}
