//! Keyset pagination: `?limit=` (1–100, default 20) and an opaque `?cursor=`.
//!
//! Every listed table has a monotonically increasing `seq` column; a cursor
//! is the `seq` of the last item of the previous page, so a page is
//! `WHERE seq > $cursor ORDER BY seq LIMIT $limit + 1` and never skips or
//! repeats a row, whatever is inserted meanwhile.

use serde::Serialize;

use crate::Problem;
use crate::request::Query;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// `seq` after which the page starts (0: the first page).
    pub after: i64,
    pub limit: i64,
}

impl PageRequest {
    pub fn parse(query: &Query) -> Result<Self, Problem> {
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Problem::bad_request(format!(
                        "limit must be an integer from 1 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        let after = match query.get("cursor") {
            None | Some("") => 0,
            Some(raw) => decode_cursor(raw)
                .ok_or_else(|| Problem::bad_request("cursor is not one this API returned"))?,
        };
        Ok(Self { after, limit })
    }

    /// The `LIMIT` to query: one more than asked, to know if a next page exists.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a list: `{items, next_cursor}`.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds the page from up to `fetch_limit()` rows, each with its `seq`.
    pub fn from_rows(request: PageRequest, mut rows: Vec<(i64, T)>) -> Self {
        let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if has_more {
            rows.last().map(|(seq, _)| encode_cursor(*seq))
        } else {
            None
        };
        Self {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next_cursor,
        }
    }
}

fn encode_cursor(seq: i64) -> String {
    format!("s{seq:x}")
}

fn decode_cursor(raw: &str) -> Option<i64> {
    let hex = raw.strip_prefix('s')?;
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query::of(&format!("/x?{q}").parse().unwrap())
    }

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(PageRequest::parse(&query("")).unwrap().limit, 20);
        assert_eq!(PageRequest::parse(&query("limit=100")).unwrap().limit, 100);
        for bad in ["limit=0", "limit=101", "limit=-1", "limit=abc"] {
            assert_eq!(
                PageRequest::parse(&query(bad)).unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let page = Page::from_rows(
            PageRequest { after: 0, limit: 2 },
            vec![(1, "a"), (7, "b"), (9, "c")],
        );
        assert_eq!(page.items, ["a", "b"]);
        let cursor = page.next_cursor.unwrap();
        let next = PageRequest::parse(&query(&format!("cursor={cursor}"))).unwrap();
        assert_eq!(next.after, 7);
        for bad in ["cursor=7", "cursor=s", "cursor=szz", "cursor=s-1"] {
            assert_eq!(
                PageRequest::parse(&query(bad)).unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn last_page_has_no_cursor() {
        let page = Page::from_rows(PageRequest { after: 0, limit: 2 }, vec![(1, "a"), (2, "b")]);
        assert_eq!(page.next_cursor, None);
    }
}
