//! Values as resources and attributes carry them: fixed-point scalars, coalesced
//! ranges, sets, and Mesos's text syntax for all of them.

use crate::v1::value;

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
pub(crate) type Spans = Vec<(u64, u64)>;

/// Sorts and merges ranges (`[1-2],[3-5]` becomes `[1-5]`). Inverted ranges are the
/// caller's to refuse; here they are dropped so the result stays well formed.
pub(crate) fn coalesce(mut spans: Spans) -> Spans {
    spans.retain(|(begin, end)| begin <= end);
    spans.sort_unstable();
    let mut merged: Spans = Vec::with_capacity(spans.len());
    for (begin, end) in spans {
        match merged.last_mut() {
            // Adjacent counts as touching: ports 1-2 and 3-4 are the same as 1-4.
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((begin, end)),
        }
    }
    merged
}

/// `left ∪ right`, both coalesced.
pub(crate) fn union(left: &[(u64, u64)], right: &[(u64, u64)]) -> Spans {
    let mut all = Vec::with_capacity(left.len() + right.len());
    all.extend_from_slice(left);
    all.extend_from_slice(right);
    coalesce(all)
}

/// `left ∖ right`, both coalesced; splits a range that `right` cuts in the middle.
pub(crate) fn difference(left: &[(u64, u64)], right: &[(u64, u64)]) -> Spans {
    let mut out = Vec::with_capacity(left.len() + 1);
    let mut cuts = right.iter().peekable();
    for &(begin, end) in left {
        let mut start = begin;
        let mut open = true;
        // Skip cuts that end before this range starts.
        while let Some(&&(_, cut_end)) = cuts.peek() {
            if cut_end < start {
                cuts.next();
            } else {
                break;
            }
        }
        for &(cut_begin, cut_end) in cuts.clone() {
            if cut_begin > end {
                break;
            }
            if cut_begin > start {
                out.push((start, cut_begin - 1));
            }
            if cut_end >= end {
                open = false;
                break;
            }
            start = cut_end + 1;
        }
        if open && start <= end {
            out.push((start, end));
        }
    }
    out
}

/// Whether every number in `inner` is in `outer`, both coalesced.
pub(crate) fn spans_contain(outer: &[(u64, u64)], inner: &[(u64, u64)]) -> bool {
    // Each coalesced inner range must lie within a single outer range.
    let mut i = 0;
    for &(begin, end) in inner {
        while i < outer.len() && outer[i].1 < begin {
            i += 1;
        }
        match outer.get(i) {
            Some(&(outer_begin, outer_end)) if outer_begin <= begin && end <= outer_end => {}
            _ => return false,
        }
    }
    true
}

pub(crate) fn spans_of(ranges: &value::Ranges) -> Spans {
    ranges.range.iter().map(|r| (r.begin, r.end)).collect()
}

pub(crate) fn ranges_of(spans: &[(u64, u64)]) -> value::Ranges {
    value::Ranges {
        range: spans
            .iter()
            .map(|&(begin, end)| value::Range { begin, end })
            .collect(),
    }
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
            (Ok(begin), Ok(end)) if begin <= end => spans.push((begin, end)),
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

    #[test]
    fn coalescing() {
        assert_eq!(coalesce(vec![(3, 4), (1, 2)]), vec![(1, 4)]);
        assert_eq!(coalesce(vec![(1, 10), (2, 3)]), vec![(1, 10)]);
        assert_eq!(coalesce(vec![(1, 2), (4, 5)]), vec![(1, 2), (4, 5)]);
        assert_eq!(coalesce(vec![(5, 1)]), vec![]);
        assert_eq!(coalesce(vec![(0, u64::MAX), (5, 6)]), vec![(0, u64::MAX)]);
    }

    #[test]
    fn difference_splits() {
        assert_eq!(
            difference(&[(1, 10)], &[(3, 4), (8, 8)]),
            vec![(1, 2), (5, 7), (9, 10)]
        );
        assert_eq!(difference(&[(1, 10)], &[(0, 20)]), vec![]);
        assert_eq!(
            difference(&[(1, 3), (5, 9)], &[(3, 5)]),
            vec![(1, 2), (6, 9)]
        );
        assert_eq!(difference(&[(1, 3)], &[]), vec![(1, 3)]);
        assert_eq!(
            difference(&[(0, u64::MAX)], &[(u64::MAX, u64::MAX)]),
            vec![(0, u64::MAX - 1)]
        );
    }

    #[test]
    fn containment() {
        assert!(spans_contain(&[(1, 10)], &[(2, 3), (5, 10)]));
        assert!(!spans_contain(&[(1, 3), (5, 10)], &[(3, 5)]));
        assert!(!spans_contain(&[(1, 3)], &[(4, 4)]));
        assert!(spans_contain(&[(1, 3)], &[]));
    }

    #[test]
    fn value_syntax() {
        assert_eq!(parse_value("2.5"), Ok(ParsedValue::Scalar(2.5)));
        assert_eq!(
            parse_value("[31000-32000, 1000 - 2000]"),
            Ok(ParsedValue::Ranges(vec![(1000, 2000), (31000, 32000)]))
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
