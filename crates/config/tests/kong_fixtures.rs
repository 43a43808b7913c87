//! The real Kong files of `tests/fixtures/kong-files` (decK's integration data, KIC's golden outputs): each
//! loads, or is refused, as `expected.txt` records, with the same steps as `gateway validate` (load, then
//! compile the routes). A file that stops loading, or starts to, fails this test until `expected.txt` says so.

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kong-files")
}

fn loads(path: &std::path::Path) -> bool {
    gateway_config::load::load_file(path)
        .is_ok_and(|c| gateway_config::router::Router::compile(&c).is_ok())
}

#[test]
fn real_kong_files_load_as_recorded() {
    let dir = fixtures();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    let mut wrong = Vec::new();
    let (mut total, mut loading) = (0, 0);
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (outcome, file) = line.split_once(' ').expect("`<outcome> <file>`");
        let got = loads(&dir.join(file));
        total += 1;
        loading += usize::from(got);
        if got != (outcome == "loads") {
            wrong.push(format!(
                "{file}: expected {outcome}, got {}",
                if got { "loads" } else { "refused" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} file(s) differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(total, 533);
    assert_eq!(loading, 193, "files that load");
}
