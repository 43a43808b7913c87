//! Kong's `/tags`: every tag of every entity, one row each (`{"entity_name": "services", "entity_id": …,
//! "tag": …}`), paged like the lists; `/tags/{tag}` the rows of one tag.

use serde_json::{json, Value};

use super::{entity, Kind};
use crate::model::Config;

/// The tag rows of `config`, only those of `tag` when given, in file order.
pub fn rows(config: &Config, tag: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for kind in Kind::ALL {
        for e in entity::entries(config, kind) {
            let view = entity::view(config, &e);
            let tags = view["tags"].as_array().cloned().unwrap_or_default();
            for t in tags.iter().filter_map(Value::as_str) {
                if tag.is_none_or(|want| want == t) {
                    out.push(json!({
                        "entity_name": kind.entity_name(),
                        "entity_id": e.id,
                        "tag": t,
                    }));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_entity_tag() {
        let config = crate::load::parse_str(
            "_format_version: \"3.0\"\nservices:\n  - name: a\n    host: h\n    tags: [shop, eu]\n    routes:\n      - name: r\n        paths: [/]\n        tags: [shop]\n",
        )
        .unwrap();
        let all = rows(&config, None);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["entity_name"], "services");
        assert_eq!(all[0]["tag"], "shop");
        let shop = rows(&config, Some("shop"));
        assert_eq!(shop.len(), 2);
        assert_eq!(shop[1]["entity_name"], "routes");
        assert!(rows(&config, Some("none")).is_empty());
    }
}
