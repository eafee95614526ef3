//! The Rust workload generator matches `shared/bench/docgen.py` byte for byte.

use std::path::PathBuf;
use std::process::Command;

use ferry_engine::value::Value;
use ferry_tests::workload;

#[test]
fn documents_match_docgen_py() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/docgen.py");
    assert!(
        script.is_file(),
        "missing {}: the shared folder must sit beside the repository root",
        script.display()
    );
    let program = format!(
        "import json, sys\nsys.path.insert(0, {dir:?})\nimport docgen\n\
         for i, g in [(0,0),(1,0),(7,0),(12345,0),(99999,0),(999999,0),(7,1),(12300,1)]:\n\
         \x20   d = docgen.make_doc(i, g)\n\
         \x20   print(json.dumps(d, separators=(',', ':'), ensure_ascii=False))\n",
        dir = script.parent().unwrap().display().to_string()
    );
    let output = Command::new("python3")
        .arg("-c")
        .arg(&program)
        .output()
        .expect("python3 must be installed to check the workload against docgen.py");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    let cases = [
        (0, 0),
        (1, 0),
        (7, 0),
        (12345, 0),
        (99999, 0),
        (999999, 0),
        (7, 1),
        (12300, 1),
    ];
    assert_eq!(lines.len(), cases.len());
    for ((i, generation), line) in cases.into_iter().zip(lines) {
        let mut expected = Value::from_json(line.as_bytes()).unwrap();
        let id = expected.as_object_mut().unwrap().remove("_id").unwrap();
        assert_eq!(id.as_str(), Some(workload::doc_id(i).as_str()));
        let ours = workload::body(i, generation);
        assert_eq!(ours, expected, "document {i} generation {generation}");
        assert_eq!(
            ours.to_json(),
            expected.to_json(),
            "same bytes as compact JSON"
        );
    }
    let size = workload::body(12345, 0).to_json().len() + r#","_id":"doc-00012345""#.len();
    assert_eq!(size, 948, "the size docgen.py prints");
}
