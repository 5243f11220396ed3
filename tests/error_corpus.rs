//! Every bad file in `corpus/errors/` fails to check with an error at the
//! place its `# expect: LINE:COL substring` lines name (see that folder's README).

use std::fs;
use std::path::Path;

use vexil::check::{self, Limits, Source};

#[test]
fn each_bad_file_reports_the_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/errors");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .expect("corpus/errors exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "flags"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 20,
        "one bad file per error kind, found {}",
        paths.len()
    );
    let mut failures = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("readable");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expects: Vec<(usize, usize, String)> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("# expect:"))
            .filter_map(|rest| {
                let (pos, needle) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                let (line, col) = pos.split_once(':')?;
                Some((
                    line.parse().ok()?,
                    col.parse().ok()?,
                    needle.trim().to_lowercase(),
                ))
            })
            .collect();
        assert!(!expects.is_empty(), "{name} has no `# expect:` line");
        let sources = [Source {
            name: name.clone(),
            text,
        }];
        let diagnostics = match check::check(&sources, &Limits::default()) {
            Ok(_) => {
                failures.push(format!("{name}: checked without errors"));
                continue;
            }
            Err(d) => d,
        };
        let rendered = check::render(&diagnostics, &sources);
        let found: Vec<(usize, usize, String)> = diagnostics
            .iter()
            .map(|d| {
                let (l, c) = check::location(d, &sources);
                (l, c, d.message.to_lowercase())
            })
            .collect();
        for (line, col, needle) in &expects {
            if !found
                .iter()
                .any(|(l, c, m)| l == line && c == col && m.contains(needle.as_str()))
            {
                failures.push(format!("{name}: expected an error at {line}:{col} containing {needle:?}; got:\n{rendered}"));
            }
        }
        if found.len() != expects.len() {
            failures.push(format!(
                "{name}: expected {} errors, got {}:\n{rendered}",
                expects.len(),
                found.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
