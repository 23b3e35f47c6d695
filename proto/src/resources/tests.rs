use std::collections::BTreeSet;

use proptest::prelude::*;

use super::value as vals;
use super::*;
use crate::v1::resource::{DiskInfo, RevocableInfo, SharedInfo, disk_info};
use crate::v1::value;

fn parse(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn scalar(name: &str, v: f64) -> Resource {
    Resource {
        name: name.into(),
        r#type: ValueType::Scalar as i32,
        scalar: Some(value::Scalar { value: v }),
        ..Resource::default()
    }
}

fn ports(spans: &[(u64, u64)]) -> Resource {
    Resource {
        name: "ports".into(),
        r#type: ValueType::Ranges as i32,
        ranges: Some(value::Ranges {
            range: vals::from_pairs(spans),
        }),
        ..Resource::default()
    }
}

fn error_text(result: Result<Resources, ProtoError>) -> String {
    match result {
        Ok(r) => panic!("expected an error, got {r}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn text_syntax() {
    let r = parse("cpus:2;mem:4096;ports:[31000-32000,1000-5000];gpus:{gpu2,gpu1}");
    assert_eq!(r.cpus(), 2.0);
    assert_eq!(r.mem(), 4096.0);
    assert_eq!(r.ranges("ports"), vec![(1000, 5000), (31000, 32000)]);
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(is_unreserved));
    assert_eq!(
        r.to_string(),
        "cpus:2; mem:4096; ports:[1000-5000, 31000-32000]; gpus:{gpu1, gpu2}"
    );
}

#[test]
fn repeated_names_merge_and_roles_reserve() {
    let r = parse("cpus:1;cpus:1.5;cpus(prod):2;mem(prod):10");
    assert_eq!(r.cpus(), 4.5);
    assert_eq!(r.len(), 3);
    assert_eq!(r.unreserved().cpus(), 2.5);
    assert_eq!(r.reserved_to("prod").cpus(), 2.0);
    assert_eq!(r.reserved_to("prod").mem(), 10.0);
    let reserved = r.reserved_to("prod");
    let first = reserved.iter().next().expect("an entry");
    assert_eq!(first.reservations.len(), 1);
    assert_eq!(
        first.reservations[0].r#type,
        Some(reservation_info::Type::Static as i32)
    );
    assert_eq!(
        r.to_string(),
        "cpus:2.5; cpus(reservations: [(STATIC,prod)]):2; mem(reservations: [(STATIC,prod)]):10"
    );
}

#[test]
fn default_role_applies_to_unnamed_entries() {
    let r = Resources::parse("cpus:1;mem(*):5", "prod").expect("parses");
    assert_eq!(r.reserved_to("prod").cpus(), 1.0);
    assert_eq!(r.unreserved().mem(), 5.0);
}

#[test]
fn json_form() {
    let text = r#"[
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 10}, "role": "prod"},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 9}]}}
    ]"#;
    let r = Resources::parse(text, "*").expect("parses");
    assert_eq!(r.cpus(), 3.0);
    assert_eq!(r.reserved_to("prod").mem(), 10.0);
    assert_eq!(r.ranges("ports"), vec![(1, 9)]);
    #[allow(deprecated)]
    let no_old_fields = r
        .iter()
        .all(|x| x.role.is_none() && x.reservation.is_none());
    assert!(no_old_fields);
}

#[test]
fn syntax_errors() {
    for bad in [
        "cpus",
        "cpus:1:2",
        "cpus(prod:1",
        "cpus:abc",
        "cpus:-1",
        "ports:[1-2",
        "ports:[5-1]",
        "cpus:[1-2];cpus:3",
        "cpus(*/a):1",
        "cpus(a//b):1",
        ":1",
        "gpus:{a,a}",
        "cpus:0.0001",
    ] {
        let err = Resources::parse(bad, "*");
        assert!(err.is_err(), "{bad} parsed as {:?}", err.ok());
    }
    assert!(error_text(Resources::parse("cpus:[1-2];cpus:3", "*")).contains("different types"));
    assert!(error_text(Resources::parse("cpus:x", "*")).contains("TEXT"));
}

#[test]
fn command_line_refuses_dynamic_and_revocable() {
    let dynamic = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},
        "reservations":[{"type":"DYNAMIC","role":"a"}]}]"#;
    assert!(error_text(Resources::parse(dynamic, "*")).contains("Dynamic reservations"));
    let revocable = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"revocable":{}}]"#;
    assert!(error_text(Resources::parse(revocable, "*")).contains("Revocable"));
}

#[test]
fn validation_follows_mesos() {
    let mut nameless = scalar("", 1.0);
    assert!(validate_resource(&nameless).is_err());
    nameless.name = "cpus".into();
    assert!(validate_resource(&nameless).is_ok());

    assert!(validate_resource(&scalar("cpus", f64::NAN)).is_err());
    assert!(validate_resource(&scalar("cpus", f64::INFINITY)).is_err());
    assert!(validate_resource(&scalar("cpus", -1.0)).is_err());
    assert!(validate_resource(&scalar("cpus", 0.0)).is_ok());

    let mut both = scalar("cpus", 1.0);
    both.ranges = Some(value::Ranges::default());
    assert!(validate_resource(&both).is_err());

    assert!(validate_resource(&ports(&[(1, 5), (5, 9)])).is_err());
    let mut inverted = ports(&[]);
    inverted.ranges = Some(value::Ranges {
        range: vec![value::Range { begin: 9, end: 1 }],
    });
    assert!(validate_resource(&inverted).is_err());

    let mut text = scalar("cpus", 1.0);
    text.r#type = ValueType::Text as i32;
    text.scalar = None;
    assert!(validate_resource(&text).is_err());

    let mut disk_on_cpus = scalar("cpus", 1.0);
    disk_on_cpus.disk = Some(Box::default());
    assert!(validate_resource(&disk_on_cpus).is_err());

    let mut shared_cpus = scalar("cpus", 1.0);
    shared_cpus.shared = Some(SharedInfo {});
    assert!(validate_resource(&shared_cpus).is_err());

    // Reservations: `*` can't be reserved; refinements must nest and be dynamic.
    let reserve = |t: reservation_info::Type, role: &str| ReservationInfo {
        r#type: Some(t as i32),
        role: Some(role.into()),
        principal: None,
        labels: None,
    };
    let mut r = scalar("cpus", 1.0);
    r.reservations = vec![reserve(reservation_info::Type::Static, "*")];
    assert!(validate_resource(&r).is_err());
    r.reservations = vec![
        reserve(reservation_info::Type::Static, "a"),
        reserve(reservation_info::Type::Dynamic, "a/b"),
    ];
    assert!(validate_resource(&r).is_ok());
    r.reservations[1] = reserve(reservation_info::Type::Dynamic, "b");
    assert!(validate_resource(&r).is_err());
    r.reservations[1] = reserve(reservation_info::Type::Static, "a/b");
    assert!(validate_resource(&r).is_err());
    r.reservations = vec![ReservationInfo {
        r#type: None,
        ..reserve(reservation_info::Type::Static, "a")
    }];
    assert!(validate_resource(&r).is_err());
}

#[test]
#[allow(deprecated)]
fn old_format_is_upgraded() {
    let mut statically = scalar("cpus", 1.0);
    statically.role = Some("prod".into());
    let mut dynamically = scalar("mem", 2.0);
    dynamically.role = Some("prod".into());
    dynamically.reservation = Some(ReservationInfo {
        principal: Some("ops".into()),
        ..ReservationInfo::default()
    });
    let mut star = scalar("disk", 3.0);
    star.role = Some("*".into());
    let r = Resources::try_from_vec(vec![statically, dynamically, star]).expect("valid");
    let cpus = r.iter().find(|x| x.name == "cpus").expect("cpus");
    assert_eq!(
        cpus.reservations[0].r#type,
        Some(reservation_info::Type::Static as i32)
    );
    let mem = r.iter().find(|x| x.name == "mem").expect("mem");
    assert_eq!(
        mem.reservations[0].r#type,
        Some(reservation_info::Type::Dynamic as i32)
    );
    assert_eq!(mem.reservations[0].principal.as_deref(), Some("ops"));
    assert_eq!(mem.reservations[0].role.as_deref(), Some("prod"));
    assert!(
        r.iter()
            .all(|x| x.role.is_none() && x.reservation.is_none())
    );
    assert_eq!(r.unreserved().disk(), 3.0);

    // `*` with a dynamic reservation is refused.
    let mut bad = scalar("cpus", 1.0);
    bad.reservation = Some(ReservationInfo::default());
    assert!(Resources::try_from_vec(vec![bad]).is_err());

    // And back: pre-refinement output has `role` everywhere, `reservation` for dynamic.
    let old = r.to_pre_refinement_format();
    let find = |name: &str| old.iter().find(|x| x.name == name).expect(name);
    assert_eq!(find("cpus").role.as_deref(), Some("prod"));
    assert!(find("cpus").reservation.is_none());
    assert!(find("cpus").reservations.is_empty());
    assert_eq!(find("mem").role.as_deref(), Some("prod"));
    assert_eq!(
        find("mem")
            .reservation
            .as_ref()
            .and_then(|x| x.principal.as_deref()),
        Some("ops")
    );
    assert_eq!(find("disk").role.as_deref(), Some("*"));
}

#[test]
fn fixed_point_sums_do_not_drift() {
    let tenth = parse("cpus:0.1");
    let mut total = Resources::new();
    for _ in 0..1000 {
        total += &tenth;
    }
    assert_eq!(total.cpus(), 100.0);
    for _ in 0..1000 {
        total -= &tenth;
    }
    assert!(total.is_empty(), "{total}");
}

#[test]
fn subtraction_saturates_and_splits_ranges() {
    let a = parse("cpus:2;ports:[1-100]");
    let b = parse("cpus:3;ports:[10-19];mem:5");
    let d = &a - &b;
    assert_eq!(d.cpus(), 0.0);
    assert_eq!(d.mem(), 0.0);
    assert_eq!(d.ranges("ports"), vec![(1, 9), (20, 100)]);
    assert_eq!(d.len(), 1, "zero cpus dropped: {d}");
    assert!(a.checked_sub(&b).is_none());
    let c = parse("cpus:1;ports:[1-9]");
    assert_eq!(
        a.checked_sub(&c).map(|x| x.to_string()),
        Some("cpus:1; ports:[10-100]".to_string())
    );
}

#[test]
fn containment_respects_identity() {
    let r = parse("cpus:2;cpus(prod):2;gpus:{a,b}");
    assert!(r.contains(&parse("cpus:2")));
    assert!(
        !r.contains(&parse("cpus:3")),
        "prod cpus are not unreserved cpus"
    );
    assert!(r.contains(&Resources::parse("cpus:2", "prod").expect("parses")));
    assert!(r.contains(&parse("gpus:{b}")));
    assert!(!r.contains(&parse("gpus:{c}")));
    assert!(r.contains(&Resources::new()));

    let mut allocated = parse("cpus:1");
    allocated.allocate("web");
    assert!(
        !r.contains(&allocated),
        "allocation role is part of the identity"
    );
    assert!(r.contains(&allocated.unallocated()));
}

#[test]
fn allocation_role_round_trip() {
    let mut r = parse("cpus:2;mem:10");
    r.allocate("web");
    assert_eq!(r.allocation_role(), Some("web"));
    assert!(
        r.iter()
            .all(|x| { x.allocation_info.as_ref().and_then(|a| a.role.as_deref()) == Some("web") })
    );
    assert_eq!(
        r.to_string(),
        "cpus(allocated: web):2; mem(allocated: web):10"
    );
    // Entries that differed only in their allocation role merge when re-allocated.
    let mut other = parse("cpus:1");
    other.allocate("db");
    let mut both = &r + &other;
    assert_eq!(both.len(), 3);
    both.allocate("web");
    assert_eq!(both.len(), 2);
    assert_eq!(both.cpus(), 3.0);
    assert_eq!(both.unallocated(), parse("cpus:3;mem:10"));
}

#[test]
fn allocatable_to_follows_the_role_tree() {
    let r = parse("cpus:1;cpus(a):2;cpus(a/b):4;cpus(c):8");
    assert_eq!(r.allocatable_to("a").cpus(), 3.0);
    assert_eq!(r.allocatable_to("a/b").cpus(), 7.0);
    assert_eq!(r.allocatable_to("a/b/c").cpus(), 7.0);
    assert_eq!(r.allocatable_to("ab").cpus(), 1.0);
    assert_eq!(r.allocatable_to("*").cpus(), 1.0);
    assert!(is_strict_subrole("a/b", "a"));
    assert!(!is_strict_subrole("ab", "a"));
    assert!(!is_strict_subrole("a", "a"));
}

fn mount_disk(root: &str, size: f64) -> Resource {
    Resource {
        disk: Some(Box::new(DiskInfo {
            source: Some(disk_info::Source {
                r#type: disk_info::source::Type::Mount as i32,
                mount: Some(disk_info::source::Mount {
                    root: Some(root.into()),
                }),
                ..disk_info::Source::default()
            }),
            ..DiskInfo::default()
        })),
        ..scalar("disk", size)
    }
}

#[test]
fn exclusive_disks_stay_whole() {
    let a = Resources::try_from_vec(vec![mount_disk("/m1", 100.0)]).expect("valid");
    let b = Resources::try_from_vec(vec![mount_disk("/m1", 100.0)]).expect("valid");
    let both = &a + &b;
    assert_eq!(both.len(), 2, "two mount disks are two disks");
    let part = Resources::try_from_vec(vec![mount_disk("/m1", 50.0)]).expect("valid");
    assert!(!a.contains(&part), "half a mount disk cannot be taken");
    assert_eq!(&a - &part, a);
    assert!((&a - &b).is_empty());
}

#[test]
fn revocable_is_part_of_identity() {
    let mut rev = scalar("cpus", 1.0);
    rev.revocable = Some(RevocableInfo {});
    let r = Resources::try_from_vec(vec![rev, scalar("cpus", 2.0)]).expect("valid");
    assert_eq!(r.len(), 2);
    assert_eq!(r.revocable().cpus(), 1.0);
    assert_eq!(r.non_revocable().cpus(), 2.0);
    assert_eq!(r.to_string(), "cpus{REV}:1; cpus:2");
}

#[test]
fn equality_ignores_order() {
    assert_eq!(parse("cpus:1;mem:2"), parse("mem:2;cpus:1"));
    assert_ne!(parse("cpus:1;mem:2"), parse("mem:2;cpus:1.001"));
    assert_eq!(parse("ports:[1-2,3-4]"), parse("ports:[1-4]"));
}

#[test]
fn scalar_quantities_sum_over_reservations() {
    let r = parse("cpus:1;cpus(a):2;mem:3");
    assert_eq!(r.scalar_quantities(), vec![("cpus", 3.0), ("mem", 3.0)]);
}

// ---- properties ----

fn arb_spans() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((0u64..60, 0u64..8), 0..5).prop_map(|v| {
        let spans = v
            .into_iter()
            .map(|(b, len)| vals::span(b, b + len))
            .collect();
        vals::to_pairs(&vals::coalesce(spans))
    })
}

fn arb_resources() -> impl Strategy<Value = Resources> {
    (
        0u32..5000,
        0u32..5000,
        prop::option::of(prop::sample::select(vec!["a", "a/b", "c"])),
        arb_spans(),
        prop::collection::btree_set(prop::sample::select(vec!["g0", "g1", "g2", "g3"]), 0..4),
    )
        .prop_map(|(cpus, mem, role, spans, gpus)| {
            let mut items = vec![
                scalar("cpus", f64::from(cpus) / 1000.0),
                scalar("mem", f64::from(mem) / 10.0),
                ports(&spans),
                Resource {
                    name: "gpus".into(),
                    r#type: ValueType::Set as i32,
                    set: Some(value::Set {
                        item: gpus.into_iter().map(str::to_string).collect(),
                    }),
                    ..Resource::default()
                },
            ];
            if let Some(role) = role {
                let mut reserved = scalar("cpus", 1.5);
                reserved.reservations.push(ReservationInfo {
                    r#type: Some(reservation_info::Type::Static as i32),
                    role: Some(role.into()),
                    principal: None,
                    labels: None,
                });
                items.push(reserved);
            }
            Resources::try_from_vec(items).expect("generated resources are valid")
        })
}

fn naive(spans: &[(u64, u64)]) -> BTreeSet<u64> {
    spans.iter().flat_map(|&(b, e)| b..=e).collect()
}

proptest! {
    /// A container's limits are summed straight from its tasks' entries: the same
    /// figure as the normalized whole, at any scale of many small entries.
    #[test]
    fn scalar_sum_of_entries_is_the_normalized_wholes(
        parts in prop::collection::vec(arb_resources(), 0..40),
    ) {
        let entries: Vec<Resource> = parts.iter().flat_map(|r| r.iter().cloned()).collect();
        let whole = Resources::try_from_vec(entries.clone()).expect("valid");
        for name in ["cpus", "mem", "disk"] {
            prop_assert_eq!(scalar_sum(&entries, name), whole.scalar(name));
        }
    }

    #[test]
    fn add_then_sub_is_identity(a in arb_resources(), b in arb_resources()) {
        let sum = &a + &b;
        prop_assert!(sum.contains(&a));
        prop_assert!(sum.contains(&b));
        // Sets and ranges are unions, so `a + b - b` loses what a and b share; on
        // scalars it is exact, and it is exact whenever they are disjoint.
        let back = &sum - &b;
        prop_assert!(a.contains(&back));
        prop_assert_eq!(back.cpus(), a.cpus());
        prop_assert_eq!(back.mem(), a.mem());
    }

    #[test]
    fn add_then_sub_exact_for_scalars(a in arb_resources(), b in arb_resources()) {
        let only_scalars = |r: &Resources| r.filter(|x| x.r#type == ValueType::Scalar as i32);
        let (a, b) = (only_scalars(&a), only_scalars(&b));
        prop_assert_eq!(&(&a + &b) - &b, a);
    }

    #[test]
    fn difference_is_contained(a in arb_resources(), b in arb_resources()) {
        let d = &a - &b;
        prop_assert!(a.contains(&d));
        prop_assert!(d.iter().all(|x| !arith::is_empty_value(x)));
        if a.contains(&b) {
            prop_assert_eq!(&d + &b, a.clone());
            prop_assert_eq!(a.checked_sub(&b), Some(d));
        } else {
            prop_assert!(a.checked_sub(&b).is_none());
        }
    }

    #[test]
    fn ranges_match_a_set_model(x in arb_spans(), y in arb_spans()) {
        let (a, b) = (naive(&x), naive(&y));
        let union: BTreeSet<u64> = a.union(&b).copied().collect();
        let diff: BTreeSet<u64> = a.difference(&b).copied().collect();
        let (rx_, ry_) = (vals::from_pairs(&x), vals::from_pairs(&y));
        prop_assert_eq!(naive(&vals::to_pairs(&vals::union(&rx_, &ry_))), union);
        prop_assert_eq!(naive(&vals::to_pairs(&vals::difference(&rx_, &ry_))), diff);
        prop_assert_eq!(vals::spans_contain(&rx_, &ry_), b.is_subset(&a));

        let rx = Resources::try_from_vec(vec![ports(&x)]).expect("valid");
        let ry = Resources::try_from_vec(vec![ports(&y)]).expect("valid");
        prop_assert_eq!(naive(&(&rx - &ry).ranges("ports")), a.difference(&b).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(rx.contains(&ry), b.is_subset(&a));
        // Results stay coalesced: no two ranges touch.
        let d = vals::to_pairs(&vals::difference(&rx_, &ry_));
        prop_assert!(d.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        let u = vals::to_pairs(&vals::union(&rx_, &ry_));
        prop_assert!(u.windows(2).all(|w| w[0].1 + 1 < w[1].0));
    }

    #[test]
    fn display_of_simple_resources_parses_back(a in arb_resources()) {
        let unreserved = a.unreserved();
        let text = unreserved.to_string();
        if !unreserved.is_empty() {
            let back = Resources::parse(&text, "*");
            prop_assert_eq!(back.ok(), Some(unreserved));
        }
    }
}

#[test]
fn large_inputs_merge_like_small_ones() {
    // Past the linear limit, merging goes by identity key; the result must be the
    // same as adding one entry at a time.
    let mut entries = Vec::new();
    let mut one_by_one = Resources::new();
    for i in 0..300u64 {
        let mut r = if i % 3 == 0 {
            ports(&[(i * 10, i * 10 + 4)])
        } else {
            scalar(["cpus", "mem"][(i % 2) as usize], 0.5)
        };
        if i % 5 == 0 {
            r.reservations.push(ReservationInfo {
                r#type: Some(reservation_info::Type::Static as i32),
                role: Some(format!("r{}", i % 4)),
                principal: None,
                labels: None,
            });
        }
        one_by_one += &Resources::try_from_vec(vec![r.clone()]).expect("valid");
        entries.push(r);
    }
    let bulk = Resources::try_from_vec(entries).expect("valid");
    assert_eq!(bulk, one_by_one);
    assert_eq!(bulk.len(), one_by_one.len());
    assert!(bulk.len() < 20, "merged: {}", bulk.len());
    assert_eq!(bulk.cpus() + bulk.mem(), 100.0);
}

#[test]
fn validation_is_not_quadratic_in_wire_input() {
    // A hostile number of ranges and set items is checked by sorting, not pairwise.
    let many: Vec<(u64, u64)> = (0..200_000u64).map(|i| (i * 3, i * 3 + 1)).collect();
    assert!(validate_resource(&ports(&many)).is_ok());
    let mut overlapping = many.clone();
    overlapping.push((4, 5));
    assert!(validate_resource(&ports(&overlapping)).is_err());
    let items: Vec<String> = (0..200_000).map(|i| format!("g{i}")).collect();
    let mut set = Resource {
        name: "gpus".into(),
        r#type: ValueType::Set as i32,
        set: Some(value::Set { item: items }),
        ..Resource::default()
    };
    assert!(validate_resource(&set).is_ok());
    if let Some(s) = &mut set.set {
        s.item.push("g7".into());
    }
    assert!(validate_resource(&set).is_err());
}
