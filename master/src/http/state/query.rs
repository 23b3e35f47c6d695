//! The query parameters Mesos's list endpoints take: `/frameworks?framework_id=`,
//! `/slaves?slave_id=`, and `/tasks?framework_id=&task_id=&limit=&offset=&order=`.
//! Tools page through `/tasks` with `offset` until a page comes back short, so a
//! master that ignored them would hand such a tool the same page forever.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::core::TaskEntry;

/// Tasks `/tasks` lists when no `limit` is given, as in Mesos.
pub(super) const TASK_LIMIT: usize = 100;

/// What a list endpoint was asked for. Values that do not parse are ignored, as Mesos
/// ignores them (it reads each with `numify` and falls back to the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListQuery {
    pub framework_id: Option<String>,
    pub agent_id: Option<String>,
    pub task_id: Option<String>,
    pub limit: usize,
    pub offset: usize,
    /// Oldest first (`order=asc`); by default newest first.
    pub ascending: bool,
}

impl Default for ListQuery {
    fn default() -> ListQuery {
        ListQuery {
            framework_id: None,
            agent_id: None,
            task_id: None,
            limit: TASK_LIMIT,
            offset: 0,
            ascending: false,
        }
    }
}

impl ListQuery {
    pub(super) fn from_params(params: &HashMap<String, String>) -> ListQuery {
        let default = ListQuery::default();
        ListQuery {
            framework_id: params.get("framework_id").cloned(),
            agent_id: params.get("slave_id").cloned(),
            task_id: params.get("task_id").cloned(),
            limit: count(params.get("limit")).unwrap_or(default.limit),
            offset: count(params.get("offset")).unwrap_or(default.offset),
            ascending: params.get("order").is_some_and(|order| order == "asc"),
        }
    }

    pub(super) fn framework(&self, id: &str) -> bool {
        self.framework_id
            .as_deref()
            .is_none_or(|wanted| wanted == id)
    }

    pub(super) fn agent(&self, id: &str) -> bool {
        self.agent_id.as_deref().is_none_or(|wanted| wanted == id)
    }

    pub(super) fn task(&self, id: &str) -> bool {
        self.task_id.as_deref().is_none_or(|wanted| wanted == id)
    }

    /// The page of `tasks` asked for: sorted by the time of each task's first status
    /// (tasks without one first when ascending, last when descending, as Mesos sorts
    /// them; otherwise in the order given), then `offset` skipped and at most `limit`
    /// kept.
    pub(super) fn page<'a>(
        &self,
        tasks: impl Iterator<Item = &'a Arc<TaskEntry>>,
    ) -> Vec<&'a Arc<TaskEntry>> {
        let mut keyed: Vec<(Option<f64>, &Arc<TaskEntry>)> = tasks
            .filter(|entry| self.task(entry.task_id()))
            .map(|entry| (entry.first_status().and_then(|s| s.timestamp), entry))
            .collect();
        let by_time = |a: &Option<f64>, b: &Option<f64>| match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.total_cmp(b),
        };
        if self.ascending {
            keyed.sort_by(|(a, _), (b, _)| by_time(a, b));
        } else {
            keyed.sort_by(|(a, _), (b, _)| by_time(b, a));
        }
        keyed
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|(_, entry)| entry)
            .collect()
    }
}

/// A count from a query parameter: a negative number reads as Mesos's conversion to
/// `size_t` makes it, larger than any list.
fn count(value: Option<&String>) -> Option<usize> {
    let value: i64 = value?.trim().parse().ok()?;
    Some(usize::try_from(value).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_parsing() {
        assert_eq!(ListQuery::from_params(&params(&[])), ListQuery::default());
        let query = ListQuery::from_params(&params(&[
            ("limit", "5"),
            ("offset", "2"),
            ("order", "asc"),
            ("slave_id", "S1"),
        ]));
        assert_eq!((query.limit, query.offset, query.ascending), (5, 2, true));
        assert!(query.agent("S1") && !query.agent("S2"));
        assert!(query.framework("any") && query.task("any"));
        // Unparsable values fall back to the defaults; negative ones are unbounded.
        let query = ListQuery::from_params(&params(&[
            ("limit", "many"),
            ("offset", "-1"),
            ("order", "up"),
        ]));
        assert_eq!(query.limit, TASK_LIMIT);
        assert_eq!(query.offset, usize::MAX);
        assert!(!query.ascending);
    }
}
