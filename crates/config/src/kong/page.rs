//! Kong's list responses: `{"data": [...], "next": null}`, `size` (default 100, at most 1000) and `offset`
//! paging with a `next` link, and the `tags` filter (`a,b`: all of them; `a/b`: any of them).

use serde_json::{json, Value};

use super::errors::KongError;

/// Default page size.
pub const DEFAULT_SIZE: usize = 100;
/// Largest page size.
pub const MAX_SIZE: usize = 1000;

/// The list query parameters Kong understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `size`, as given.
    pub size: Option<String>,
    /// `offset`, as given by a previous page.
    pub offset: Option<String>,
    /// `tags`, as given.
    pub tags: Option<String>,
}

/// One page of `items` (entity views in order); `link` is the collection path used in `next`.
pub fn page(items: Vec<Value>, query: &ListQuery, link: &str) -> Result<Value, KongError> {
    let size = match query.size.as_deref() {
        None => DEFAULT_SIZE,
        Some(text) => {
            let n: f64 = text
                .trim()
                .parse()
                .map_err(|_| KongError::InvalidSize("size must be a number".into()))?;
            if n.fract() != 0.0 || !(1.0..=MAX_SIZE as f64).contains(&n) {
                return Err(KongError::InvalidSize(format!(
                    "size must be an integer between 1 and {MAX_SIZE}"
                )));
            }
            n as usize
        }
    };
    let start = match query.offset.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| KongError::InvalidOffset(text.to_string()))?,
    };
    let items: Vec<Value> = match query.tags.as_deref() {
        Some(tags) => items.into_iter().filter(|v| tags_match(v, tags)).collect(),
        None => items,
    };
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(start).take(size).collect();
    let end = start.saturating_add(size);
    if end < total {
        let mut next = format!("{link}?offset={end}");
        if let Some(tags) = &query.tags {
            let escaped: String = url::form_urlencoded::byte_serialize(tags.as_bytes()).collect();
            next.push_str(&format!("&tags={escaped}"));
        }
        if query.size.is_some() {
            next.push_str(&format!("&size={size}"));
        }
        Ok(json!({ "data": data, "next": next, "offset": end.to_string() }))
    } else {
        Ok(json!({ "data": data, "next": null }))
    }
}

fn tags_match(view: &Value, filter: &str) -> bool {
    let has = |t: &str| {
        view["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|x| x.as_str() == Some(t)))
    };
    if filter.contains('/') {
        filter.split('/').any(has)
    } else {
        filter.split(',').all(has)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"i": i, "tags": if i % 2 == 0 { json!(["even", "x"]) } else { json!(["odd"]) }})).collect()
    }

    fn q(size: Option<&str>, offset: Option<&str>, tags: Option<&str>) -> ListQuery {
        ListQuery {
            size: size.map(Into::into),
            offset: offset.map(Into::into),
            tags: tags.map(Into::into),
        }
    }

    #[test]
    fn single_page() {
        assert_eq!(
            page(items(2), &ListQuery::default(), "/services").unwrap()["next"],
            Value::Null
        );
        let p = page(items(150), &ListQuery::default(), "/services").unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), 100);
        assert_eq!(p["next"], "/services?offset=100");
    }

    #[test]
    fn paging_with_size_and_offset() {
        let p = page(items(5), &q(Some("2"), None, None), "/routes").unwrap();
        assert_eq!(p["data"], json!([items(5)[0], items(5)[1]]));
        assert_eq!(p["offset"], "2");
        assert_eq!(p["next"], "/routes?offset=2&size=2");
        let p = page(items(5), &q(Some("2"), Some("4"), None), "/routes").unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), 1);
        assert_eq!(p["next"], Value::Null);
        assert!(p.get("offset").is_none());
    }

    #[test]
    fn bad_size_and_offset() {
        assert_eq!(
            page(items(1), &q(Some("x"), None, None), "/s").unwrap_err(),
            KongError::InvalidSize("size must be a number".into())
        );
        assert_eq!(
            page(items(1), &q(Some("1001"), None, None), "/s").unwrap_err(),
            KongError::InvalidSize("size must be an integer between 1 and 1000".into())
        );
        assert_eq!(
            page(items(1), &q(None, Some("abc"), None), "/s").unwrap_err(),
            KongError::InvalidOffset("abc".into())
        );
    }

    #[test]
    fn tags_filter() {
        let p = page(items(5), &q(None, None, Some("even,x")), "/s").unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), 3);
        let p = page(items(5), &q(None, None, Some("even/odd")), "/s").unwrap();
        assert_eq!(p["data"].as_array().unwrap().len(), 5);
        let p = page(items(5), &q(Some("1"), None, Some("odd")), "/s").unwrap();
        assert_eq!(p["next"], "/s?offset=1&tags=odd&size=1");
    }
}
