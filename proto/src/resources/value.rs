//! Values as resources and attributes carry them: fixed-point scalars, coalesced
//! ranges, sets, and Mesos's text syntax for all of them.

use crate::v1::value::Range;

/// Scalars are compared and summed in thousandths, as Mesos does, so that adding and
/// removing `0.1` a thousand times lands exactly where it started.
const FIXED_POINT_SCALE: f64 = 1000.0;

/// The fixed-point form of a scalar: thousandths, rounded half away from zero.
pub(crate) fn to_fixed(value: f64) -> i64 {
    // `as` saturates on overflow and maps NaN to 0; validation refuses both before here.
    (value * FIXED_POINT_SCALE).round() as i64
}

pub(crate) fn from_fixed(fixed: i64) -> f64 {
    fixed as f64 / FIXED_POINT_SCALE
}

/// Rounds a scalar to what the fixed-point form can hold.
pub(crate) fn normalize_scalar(value: f64) -> f64 {
    from_fixed(to_fixed(value))
}

/// Inclusive ranges, sorted by start, with overlapping and adjacent ones merged.
pub(crate) type Spans = Vec<Range>;

pub(crate) const fn span(begin: u64, end: u64) -> Range {
    Range { begin, end }
}

/// Sorts and merges ranges (`[1-2],[3-5]` becomes `[1-5]`). Inverted ranges are the
/// caller's to refuse; here they are dropped so the result stays well formed.
pub(crate) fn coalesce(mut spans: Spans) -> Spans {
    spans.retain(|r| r.begin <= r.end);
    spans.sort_unstable_by_key(|r| (r.begin, r.end));
    let mut merged: Spans = Vec::with_capacity(spans.len());
    for r in spans {
        match merged.last_mut() {
            // Adjacent counts as touching: ports 1-2 and 3-4 are the same as 1-4.
            Some(last) if r.begin <= last.end.saturating_add(1) => {
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    merged
}

/// Whether a list of ranges is sorted, non-overlapping and non-adjacent already.
fn is_coalesced(spans: &[Range]) -> bool {
    spans
        .windows(2)
        .all(|w| w[0].end.saturating_add(1) < w[1].begin)
        && spans.iter().all(|r| r.begin <= r.end)
}

/// `left ∪ right`, both coalesced.
pub(crate) fn union(left: &[Range], right: &[Range]) -> Spans {
    // A merge of two sorted lists, coalescing as it goes.
    let mut out: Spans = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        let next = if j >= right.len() || (i < left.len() && left[i].begin <= right[j].begin) {
            i += 1;
            left[i - 1]
        } else {
            j += 1;
            right[j - 1]
        };
        match out.last_mut() {
            Some(last) if next.begin <= last.end.saturating_add(1) => {
                last.end = last.end.max(next.end);
            }
            _ => out.push(next),
        }
    }
    debug_assert!(is_coalesced(&out));
    out
}

/// `left ∖ right`, both coalesced; splits a range that `right` cuts in the middle.
pub(crate) fn difference(left: &[Range], right: &[Range]) -> Spans {
    let mut out = Vec::with_capacity(left.len() + 1);
    // Index of the first cut that may still overlap the current range.
    let mut first_cut = 0;
    for r in left {
        let mut start = r.begin;
        let mut open = true;
        while first_cut < right.len() && right[first_cut].end < start {
            first_cut += 1;
        }
        for cut in &right[first_cut..] {
            if cut.begin > r.end {
                break;
            }
            if cut.begin > start {
                out.push(span(start, cut.begin - 1));
            }
            if cut.end >= r.end {
                open = false;
                break;
            }
            start = cut.end + 1;
        }
        if open && start <= r.end {
            out.push(span(start, r.end));
        }
    }
    out
}

/// Whether every number in `inner` is in `outer`, both coalesced.
pub(crate) fn spans_contain(outer: &[Range], inner: &[Range]) -> bool {
    // Each coalesced inner range must lie within a single outer range.
    let mut i = 0;
    for r in inner {
        while i < outer.len() && outer[i].end < r.begin {
            i += 1;
        }
        match outer.get(i) {
            Some(o) if o.begin <= r.begin && r.end <= o.end => {}
            _ => return false,
        }
    }
    true
}

pub(crate) fn to_pairs(spans: &[Range]) -> Vec<(u64, u64)> {
    spans.iter().map(|r| (r.begin, r.end)).collect()
}

#[cfg(test)]
pub(crate) fn from_pairs(pairs: &[(u64, u64)]) -> Spans {
    pairs.iter().map(|&(begin, end)| span(begin, end)).collect()
}

/// Set items kept sorted, so equal sets compare equal field by field.
pub(crate) fn normalize_set(items: &mut Vec<String>) {
    items.sort_unstable();
    items.dedup();
}

/// A value parsed from Mesos's text syntax.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParsedValue {
    Scalar(f64),
    Ranges(Spans),
    Set(Vec<String>),
    Text(String),
}

/// Parses one value as Mesos writes them in `--resources` and `--attributes`:
/// `[1-5, 10-20]` ranges, `{a, b}` sets, a non-negative finite number as a scalar, and
/// anything else as text. Spaces are ignored throughout.
pub(crate) fn parse_value(text: &str) -> Result<ParsedValue, String> {
    let compact: String = text.chars().filter(|c| *c != ' ').collect();
    if compact.is_empty() {
        return Err("Expecting non-empty string".to_string());
    }
    if !brackets_match(&compact, '{', '}')
        || !brackets_match(&compact, '[', ']')
        || !brackets_match(&compact, '(', ')')
    {
        return Err("Mismatched brackets".to_string());
    }
    match (compact.find('['), compact.find('{')) {
        (Some(0), _) => parse_ranges(&compact).map(ParsedValue::Ranges),
        (Some(_), _) => Err("Unexpected '[' found".to_string()),
        (None, Some(0)) => Ok(ParsedValue::Set(
            compact
                .split(['{', '}', ',', '\n'])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        (None, Some(_)) => Err("Unexpected '{' found".to_string()),
        (None, None) => Ok(match compact.parse::<f64>() {
            // Mesos reads negative, infinite and NaN numbers as text (which resources
            // then refuse); subnormal ones are an error outright.
            Ok(v) if v != 0.0 && v.is_subnormal() => {
                return Err("Subnormal values not supported".to_string());
            }
            Ok(v) if v.is_finite() && v >= 0.0 => ParsedValue::Scalar(v),
            _ => ParsedValue::Text(compact),
        }),
    }
}

fn parse_ranges(compact: &str) -> Result<Spans, String> {
    let tokens: Vec<&str> = compact
        .split(['[', ']', '-', ',', '\n'])
        .filter(|s| !s.is_empty())
        .collect();
    if !tokens.len().is_multiple_of(2) {
        return Err("Expecting one or more \"ranges\"".to_string());
    }
    let mut spans = Vec::with_capacity(tokens.len() / 2);
    for pair in tokens.chunks_exact(2) {
        let begin = pair[0].parse::<u64>();
        let end = pair[1].parse::<u64>();
        match (begin, end) {
            (Ok(begin), Ok(end)) if begin <= end => spans.push(span(begin, end)),
            (Ok(begin), Ok(end)) => {
                return Err(format!("Invalid range {begin}-{end}: begin > end"));
            }
            _ => return Err(format!("Expecting non-negative integers in '{}'", pair[0])),
        }
    }
    Ok(coalesce(spans))
}

/// Every closing bracket closes an open one, and all are closed at the end.
fn brackets_match(text: &str, open: char, close: char) -> bool {
    let mut depth: i64 = 0;
    for c in text.chars() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth < 0 {
                return false;
            }
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_round_trip() {
        assert_eq!(to_fixed(0.1), 100);
        assert_eq!(to_fixed(0.0005), 1); // half away from zero
        assert_eq!(to_fixed(0.0004), 0);
        assert_eq!(normalize_scalar(1.23456), 1.235);
        let mut sum = 0;
        for _ in 0..1000 {
            sum += to_fixed(0.1);
        }
        assert_eq!(from_fixed(sum), 100.0);
    }

    fn r(pairs: &[(u64, u64)]) -> Spans {
        from_pairs(pairs)
    }

    #[test]
    fn coalescing() {
        assert_eq!(coalesce(r(&[(3, 4), (1, 2)])), r(&[(1, 4)]));
        assert_eq!(coalesce(r(&[(1, 10), (2, 3)])), r(&[(1, 10)]));
        assert_eq!(coalesce(r(&[(1, 2), (4, 5)])), r(&[(1, 2), (4, 5)]));
        assert_eq!(coalesce(r(&[(5, 1)])), r(&[]));
        assert_eq!(coalesce(r(&[(0, u64::MAX), (5, 6)])), r(&[(0, u64::MAX)]));
    }

    #[test]
    fn union_merges() {
        assert_eq!(union(&r(&[(1, 2)]), &r(&[(3, 4)])), r(&[(1, 4)]));
        assert_eq!(
            union(&r(&[(1, 2), (10, 12)]), &r(&[(5, 6)])),
            r(&[(1, 2), (5, 6), (10, 12)])
        );
        assert_eq!(
            union(&r(&[(0, u64::MAX)]), &r(&[(7, 8)])),
            r(&[(0, u64::MAX)])
        );
    }

    #[test]
    fn difference_splits() {
        assert_eq!(
            difference(&r(&[(1, 10)]), &r(&[(3, 4), (8, 8)])),
            r(&[(1, 2), (5, 7), (9, 10)])
        );
        assert_eq!(difference(&r(&[(1, 10)]), &r(&[(0, 20)])), r(&[]));
        assert_eq!(
            difference(&r(&[(1, 3), (5, 9)]), &r(&[(3, 5)])),
            r(&[(1, 2), (6, 9)])
        );
        assert_eq!(difference(&r(&[(1, 3)]), &r(&[])), r(&[(1, 3)]));
        assert_eq!(
            difference(&r(&[(0, u64::MAX)]), &r(&[(u64::MAX, u64::MAX)])),
            r(&[(0, u64::MAX - 1)])
        );
    }

    #[test]
    fn containment() {
        assert!(spans_contain(&r(&[(1, 10)]), &r(&[(2, 3), (5, 10)])));
        assert!(!spans_contain(&r(&[(1, 3), (5, 10)]), &r(&[(3, 5)])));
        assert!(!spans_contain(&r(&[(1, 3)]), &r(&[(4, 4)])));
        assert!(spans_contain(&r(&[(1, 3)]), &r(&[])));
    }

    #[test]
    fn value_syntax() {
        assert_eq!(parse_value("2.5"), Ok(ParsedValue::Scalar(2.5)));
        assert_eq!(
            parse_value("[31000-32000, 1000 - 2000]"),
            Ok(ParsedValue::Ranges(r(&[(1000, 2000), (31000, 32000)])))
        );
        assert_eq!(
            parse_value("{a, b}"),
            Ok(ParsedValue::Set(vec!["a".into(), "b".into()]))
        );
        assert_eq!(parse_value("-1"), Ok(ParsedValue::Text("-1".into())));
        assert_eq!(
            parse_value("us east"),
            Ok(ParsedValue::Text("useast".into()))
        );
        assert!(parse_value("").is_err());
        assert!(parse_value("[1-2").is_err());
        assert!(parse_value("[1-2,3]").is_err());
        assert!(parse_value("[a-b]").is_err());
        assert!(parse_value("x[1-2]").is_err());
        assert!(parse_value("x{a}").is_err());
    }
}
