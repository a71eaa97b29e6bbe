//! The official examples: the documented ones and PR 1380's valid ones pass; PR 1380's invalid
//! ones are refused without `$schema` and, with the newest `$schema`, for their own reason.

use super::{json_files, locations, newest_id};
use crate::validate::{check_shape, validate};

#[test]
fn every_documented_and_valid_example_passes() {
    let mut checked = 0;
    for dir in ["examples/doc-examples", "examples/schema-examples-pr1380/valid"] {
        for (file, doc) in json_files(dir) {
            assert_eq!(check_shape(&doc), [], "{dir}/{file}: shape");
            assert_eq!(validate(&doc), [], "{dir}/{file}");
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} examples found");
}

/// Where each invalid example is refused once it names the newest schema.
const INVALID: &[(&str, &str)] = &[
    ("bad-name-pattern.json", "body.name"),
    ("description-too-long.json", "body.description"),
    ("missing-name.json", "body.name"),
    ("package-version-latest.json", "body.packages[0].version"),
    ("positional-argument-missing-value.json", "body.packages[0].packageArguments[0]"),
];

#[test]
fn every_invalid_example_is_refused_for_its_own_reason() {
    let files = json_files("examples/schema-examples-pr1380/invalid");
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    let expected: Vec<&str> = INVALID.iter().map(|(f, _)| *f).collect();
    assert_eq!(names, expected, "every invalid example has an expected location");

    for ((file, doc), (_, location)) in files.iter().zip(INVALID) {
        assert_eq!(check_shape(doc), [], "{file}: the shape is fine, the content is not");

        // As given: no `$schema`, which is itself refused (and the reason still shows).
        assert!(doc.get("$schema").is_none(), "{file} was expected to lack `$schema`");
        let issues = validate(doc);
        let at = locations(&issues);
        assert!(at.contains(&"body.$schema"), "{file}: {issues:?}");
        assert!(at.contains(location), "{file} without $schema: {issues:?}");

        // With the newest `$schema`: refused at its own location, and `$schema` is fine.
        let mut doc = doc.clone();
        doc.as_object_mut().unwrap().insert("$schema".to_owned(), newest_id().into());
        let issues = validate(&doc);
        let at = locations(&issues);
        assert!(at.contains(location), "{file}: expected an issue at {location}, got {issues:?}");
        assert!(!at.contains(&"body.$schema"), "{file}: {issues:?}");
        assert!(issues.iter().all(|i| !i.message.is_empty()), "{file}: {issues:?}");
    }
}

#[test]
fn a_package_version_latest_is_reported_once_with_a_fix() {
    let (_, mut doc) = json_files("examples/schema-examples-pr1380/invalid")
        .into_iter()
        .find(|(f, _)| f == "package-version-latest.json")
        .unwrap();
    doc.as_object_mut().unwrap().insert("$schema".to_owned(), newest_id().into());
    let issues = validate(&doc);
    assert_eq!(locations(&issues), ["body.packages[0].version"], "{issues:?}");
    assert!(issues[0].message.contains("`latest` is not a version"), "{issues:?}");
}
