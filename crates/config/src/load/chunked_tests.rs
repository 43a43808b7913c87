//! The item-by-item parse gives what the whole-text parse gives, or gives up.

use super::*;

/// Both parses of `text`, as Debug text (the raw types have no PartialEq; Debug shows every field).
fn both(text: &str) -> (Option<String>, Option<String>) {
    let whole = serde_yaml::from_str::<RawConfig>(text)
        .ok()
        .map(|r| format!("{r:?}"));
    let cut = parse(text, &ParseCache::default()).map(|(r, _)| format!("{r:?}"));
    (whole, cut)
}

const FILE: &str = r#"_format_version: "3.0"
# a comment in column 0
gateway:
  proxy_listen: 127.0.0.1:8000
services:
- name: a
  url: http://a.internal/
  routes:
  - name: a-route
    paths: ["/a"]
  plugins:
  - name: openid-connect
    config:
      issuer: https://idp.example/
      client_id: [kong]
# between items
- name: b
  url: http://b.internal/

  tags: [x, "y: z"]
routes:
  - name: top
    service: a
    paths:
    - /top
plugins:
- name: openid-connect
  config:
    issuer: https://idp.example/
    scopes_required: |
      read
      - not an item
    # still inside? no: a comment line
consumers:
- username: alice
"#;

#[test]
fn the_cut_parse_equals_the_whole_parse() {
    let (whole, cut) = both(FILE);
    assert!(whole.is_some(), "the fixture parses");
    assert_eq!(cut, whole);
    let split = split(FILE).unwrap();
    let counts: Vec<(&str, usize)> = split.lists.iter().map(|(k, v)| (*k, v.len())).collect();
    assert_eq!(
        counts,
        [
            ("services", 2),
            ("routes", 1),
            ("plugins", 1),
            ("consumers", 1)
        ]
    );
}

#[test]
fn unchanged_items_come_from_the_cache() {
    let cache = ParseCache::default();
    let (_, first) = parse(FILE, &cache).unwrap();
    assert_eq!(
        first,
        Reuse {
            reused: 0,
            parsed: 5
        }
    );
    let (_, again) = parse(FILE, &cache).unwrap();
    assert_eq!(
        again,
        Reuse {
            reused: 5,
            parsed: 0
        }
    );
    let edited = FILE.replace("url: http://b.internal/", "url: http://b2.internal/");
    let (raw, after) = parse(&edited, &cache).unwrap();
    assert_eq!(
        after,
        Reuse {
            reused: 4,
            parsed: 1
        }
    );
    let services = raw.services.unwrap();
    assert_eq!(services[1].url.as_deref(), Some("http://b2.internal/"));
    assert_eq!(
        format!(
            "{:?}",
            serde_yaml::from_str::<RawConfig>(&edited).unwrap().services
        ),
        format!("{:?}", Some(services))
    );
}

#[test]
fn a_quoted_scalar_across_a_cut_gives_up() {
    // The line `- b"` looks like an item start but is inside the quoted scalar: the item before does not parse.
    let text = "_format_version: \"3.0\"\nservices:\n- name: \"a\n- b\"\n  url: http://a/\n";
    assert!(
        serde_yaml::from_str::<RawConfig>(text).is_ok(),
        "libyaml reads it as one service"
    );
    assert_eq!(both(text).1, None);
    // A flow collection across the cut, the same.
    let text = "_format_version: \"3.0\"\nservices:\n- name: a\n  tags: [x,\n- y]\n";
    assert_eq!(both(text).1, None);
}

#[test]
fn what_the_scan_does_not_know_is_left_to_the_whole_parse() {
    let cases = [
        "---\n_format_version: \"3.0\"\nservices:\n- name: a\n",
        "%YAML 1.1\n---\n_format_version: \"3.0\"\n",
        "\u{feff}_format_version: \"3.0\"\nservices:\n- name: a\n",
        "_format_version: \"3.0\"\r\nservices:\r\n- name: a\r\n",
        "\"services\":\n- name: a\n",
        "services:\n- name: a\nservices:\n- name: b\n",
        // An alias to an anchor in another item.
        "services:\n- name: &n a\n- name: *n\n",
        // Less indented than the items.
        "services:\n  - name: a\n url: x\n",
        "services:\n\t- name: a\n",
    ];
    for text in cases {
        assert!(parse(text, &ParseCache::default()).is_none(), "{text:?}");
    }
}

#[test]
fn an_alias_inside_one_item_is_kept() {
    let text = "_format_version: \"3.0\"\nservices:\n- name: &n a\n  tags: [*n]\n- name: b\n";
    let (whole, cut) = both(text);
    assert!(whole.is_some());
    assert_eq!(cut, whole);
}

#[test]
fn lists_written_inline_or_empty_stay_in_the_rest() {
    for text in [
        "_format_version: \"3.0\"\nservices: []\nroutes:\n",
        "_format_version: \"3.0\"\nservices: [{name: a, url: \"http://a/\"}]\n",
        "_format_version: \"3.0\"\nservices: # none yet\n",
        "services:\n  - name: a\n    url: http://a/\n_format_version: \"3.0\"\n",
    ] {
        let (whole, cut) = both(text);
        assert!(whole.is_some(), "{text:?}");
        assert_eq!(cut, whole, "{text:?}");
    }
}

#[test]
fn a_bad_item_leaves_the_cache_as_it_was() {
    let cache = ParseCache::default();
    parse(FILE, &cache).unwrap();
    let broken = FILE.replace("url: http://b.internal/", "url: [http://b.internal/");
    assert!(parse(&broken, &cache).is_none());
    let (_, again) = parse(FILE, &cache).unwrap();
    assert_eq!(
        again,
        Reuse {
            reused: 5,
            parsed: 0
        }
    );
}

#[test]
fn many_items_parse_in_parallel_to_the_same_result() {
    let mut text = String::from("_format_version: \"3.0\"\nservices:\n");
    for i in 0..(PARALLEL_FROM * 2 + 3) {
        text.push_str(&format!(
            "- name: s{i}\n  url: http://s{i}.internal/\n  routes:\n  - paths: [\"/{i}\"]\n"
        ));
    }
    let (whole, cut) = both(&text);
    assert!(whole.is_some());
    assert_eq!(cut, whole);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Lines of a config with the constructs that could fool a line scan: items at two indentations, quoted
    /// and flow values spanning lines, block scalars, comments in any column, anchors and aliases.
    pub(super) fn line() -> impl Strategy<Value = String> {
        let indent = prop::sample::select(vec!["", "  ", "    ", "      "]);
        let key = prop::sample::select(vec![
            "name", "url", "host", "tags", "paths", "service", "protocol",
        ]);
        let value = prop_oneof![
            Just("a".to_owned()),
            Just("\"x".to_owned()),
            Just("y\"".to_owned()),
            Just("'q".to_owned()),
            Just("[a,".to_owned()),
            Just("b]".to_owned()),
            Just("[\"/p\"]".to_owned()),
            Just("|".to_owned()),
            Just("&n v".to_owned()),
            Just("*n".to_owned()),
            Just("# c".to_owned()),
            Just("".to_owned()),
        ];
        prop_oneof![
            (indent.clone(), key.clone(), value.clone())
                .prop_map(|(i, k, v)| format!("{i}{k}: {v}\n")),
            (indent.clone(), key, value.clone()).prop_map(|(i, k, v)| format!("{i}- {k}: {v}\n")),
            (indent.clone(), value).prop_map(|(i, v)| format!("{i}- {v}\n")),
            indent.prop_map(|i| format!("{i}# comment\n")),
            prop::sample::select(vec![
                "services:\n",
                "routes:\n",
                "plugins:\n",
                "consumers:\n",
                "\n"
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// One field line (and its continuation lines) of an item whose dash is at `ind`; `tricky` picks a value
    /// form, several of which put a line that looks like an item start or a top-level key inside the value.
    fn field(ind: &str, key: &str, tricky: u8, list: bool) -> String {
        let i = format!("{ind}  ");
        let scalar = match tricky % 9 {
            0 => "v".to_owned(),
            1 => format!("\"a\n{ind}- b\""),
            2 => format!("\"a\n{i}  b\""),
            3 => format!("'a\nservices:\n{ind}- b'"),
            4 => format!("|\n{i}  text\n{i}  - x\n{i}# kept"),
            5 => "&n v".to_owned(),
            6 => "*n".to_owned(),
            7 => "v # c".to_owned(),
            _ => format!("\"x\n# col0\n{i} y\""),
        };
        if list {
            match tricky % 4 {
                0 => format!(
                    "{i}{key}: [{}]\n",
                    if tricky % 9 == 3 { "a, b" } else { "a" }
                ),
                1 => format!("{i}{key}: [a,\n{ind}- b]\n"),
                2 => format!("{i}{key}:\n{i}- a\n{i}- {scalar}\n"),
                _ => format!("{i}{key}: [\"a\n{ind}- b\"]\n"),
            }
        } else {
            format!("{i}{key}: {scalar}\n")
        }
    }

    /// A whole config: top-level lists at two item indentations, items of a few fields, comments and blank
    /// lines between them.
    pub(super) fn config() -> impl Strategy<Value = String> {
        let item = (
            any::<u8>(),
            prop::collection::vec((0usize..4, any::<u8>()), 0..4),
            any::<bool>(),
        );
        let entry = (
            prop::sample::select(vec!["services", "consumers", "routes"]),
            any::<bool>(),
            prop::collection::vec(item, 1..4),
        );
        prop::collection::vec(entry, 1..3).prop_map(|entries| {
            let mut out = String::from("_format_version: \"3.0\"\n");
            for (key, deep, items) in entries {
                let ind = if deep { "  " } else { "" };
                out.push_str(&format!("{key}:\n"));
                let fields: &[&str] = match key {
                    "services" => &["url", "host", "path", "tags"],
                    "consumers" => &["custom_id", "tags", "custom_id", "tags"],
                    _ => &["hosts", "paths", "service", "tags"],
                };
                for (n, (first, rest, comment)) in items.into_iter().enumerate() {
                    let name = if key == "consumers" {
                        "username"
                    } else {
                        "name"
                    };
                    let f = field(ind, name, first, false);
                    out.push_str(&format!("{ind}- {}", f.trim_start()));
                    for (k, t) in rest {
                        let key = fields[k];
                        let list = matches!(key, "tags" | "hosts" | "paths");
                        out.push_str(&field(ind, key, t, list));
                    }
                    if comment {
                        out.push_str(&format!("# between {n}\n\n"));
                    }
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn the_cut_parse_never_differs_from_the_whole_parse(lines in prop::collection::vec(line(), 0..24)) {
            let text = format!("_format_version: \"3.0\"\n{}", lines.concat());
            let (whole, cut) = both(&text);
            if cut.is_some() {
                prop_assert_eq!(cut, whole, "{}", text);
            }
        }

        #[test]
        fn configs_with_tricky_values_parse_the_same_cut_or_whole(text in config()) {
            let (whole, cut) = both(&text);
            if cut.is_some() {
                prop_assert_eq!(cut, whole, "{}", text);
            }
        }
    }
}
