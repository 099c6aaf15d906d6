//! S3's `<DeleteResult>`, merging, and the answer to the client.

use super::*;

/// Shaped as the S3 API reference's DeleteObjects examples: a plain
/// delete, an error, a versioned delete and a delete marker.
const S3_SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted>
    <Key>sample1.txt</Key>
  </Deleted>
  <Error>
    <Key>sample2.txt</Key>
    <Code>AccessDenied</Code>
    <Message>Access Denied</Message>
  </Error>
  <Deleted>
    <Key>SampleDocument.txt</Key>
    <VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId>
  </Deleted>
  <Deleted>
    <Key>marked.txt</Key>
    <DeleteMarker>true</DeleteMarker>
    <DeleteMarkerVersionId>NeQt5xeFTfgPJD8B4CGWnkSLtluMr11s</DeleteMarkerVersionId>
  </Deleted>
</DeleteResult>"#;

fn sample() -> DeleteResult {
    DeleteResult {
        deleted: vec![
            Deleted {
                key: "sample1.txt".into(),
                ..Deleted::default()
            },
            Deleted {
                key: "SampleDocument.txt".into(),
                version_id: Some("OYcLXagmS.WaD..oyH4KRguB95_YhLs7".into()),
                ..Deleted::default()
            },
            Deleted {
                key: "marked.txt".into(),
                delete_marker: true,
                delete_marker_version_id: Some("NeQt5xeFTfgPJD8B4CGWnkSLtluMr11s".into()),
                ..Deleted::default()
            },
        ],
        errors: vec![DeleteError {
            key: "sample2.txt".into(),
            version_id: None,
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
        }],
    }
}

#[test]
fn s3s_delete_result_is_read() {
    assert_eq!(parse_delete_result(S3_SAMPLE.as_bytes()).unwrap(), sample());
}

#[test]
fn fields_s3_may_add_later_are_skipped() {
    let body =
        "<DeleteResult><Deleted><Key>k</Key><Future>x</Future></Deleted><Summary/></DeleteResult>";
    let result = parse_delete_result(body.as_bytes()).unwrap();
    assert_eq!(result.deleted.len(), 1);
    assert_eq!(result.deleted[0].key, "k");
}

#[test]
fn an_unreadable_upstream_result_is_an_internal_error() {
    for body in [
        "",
        "<DeleteResult>",
        "<Error><Code>AccessDenied</Code></Error>",
        "<DeleteResult><Deleted><VersionId>v</VersionId></Deleted></DeleteResult>",
        "<DeleteResult><Error><Code>X</Code></Error></DeleteResult>",
    ] {
        let e = parse_delete_result(body.as_bytes()).unwrap_err();
        assert!(matches!(e, XmlError::Upstream(_)), "{body:?}: {e:?}");
        assert_eq!((e.code(), e.status().as_u16()), ("InternalError", 500));
    }
}

#[test]
fn render_then_parse_gives_the_same_result() {
    let mut result = sample();
    result.deleted.push(Deleted {
        key: "odd <&> \r\n key".into(),
        ..Deleted::default()
    });
    result.errors.push(DeleteError {
        key: "k'\"".into(),
        version_id: Some("v&1".into()),
        code: "InternalError".into(),
        message: "We encountered an <internal> error.".into(),
    });
    let body = render_delete_result(&result, false);
    assert!(body.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    ));
    assert_eq!(parse_delete_result(body.as_bytes()).unwrap(), result);
}

#[test]
fn quiet_mode_lists_only_errors() {
    let body = render_delete_result(&sample(), true);
    assert!(!body.contains("<Deleted>"), "{body}");
    let read = parse_delete_result(body.as_bytes()).unwrap();
    assert_eq!(read.deleted, []);
    assert_eq!(read.errors, sample().errors);
}

#[test]
fn a_result_renders_exactly() {
    let result = DeleteResult {
        deleted: vec![Deleted {
            key: "a".into(),
            version_id: Some("v".into()),
            delete_marker: true,
            delete_marker_version_id: Some("m".into()),
        }],
        errors: vec![DeleteError::for_object(
            &ObjectId::new("b"),
            "AccessDenied",
            "no grant",
        )],
    };
    assert_eq!(
        render_delete_result(&result, false),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Deleted><Key>a</Key><VersionId>v</VersionId><DeleteMarker>true</DeleteMarker>\
         <DeleteMarkerVersionId>m</DeleteMarkerVersionId></Deleted>\
         <Error><Key>b</Key><Code>AccessDenied</Code><Message>no grant</Message></Error></DeleteResult>"
    );
}

#[test]
fn merge_joins_upstream_results_and_local_refusals() {
    let first = parse_delete_result(S3_SAMPLE.as_bytes()).unwrap();
    let second = DeleteResult {
        deleted: vec![Deleted {
            key: "other/x".into(),
            ..Deleted::default()
        }],
        errors: vec![],
    };
    let refused_object = ObjectId {
        version_id: Some("v9".into()),
        ..ObjectId::new("secret/y")
    };
    let refused = DeleteError::for_object(&refused_object, "AccessDenied", "Access Denied");
    assert_eq!(refused.version_id.as_deref(), Some("v9"));
    let merged = merge([first, second], [refused.clone()]);
    let deleted: Vec<_> = merged.deleted.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        deleted,
        ["sample1.txt", "SampleDocument.txt", "marked.txt", "other/x"]
    );
    let errors: Vec<_> = merged.errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(errors, ["sample2.txt", "secret/y"]);
    // The merged answer in quiet mode: errors only, the local refusal included.
    let body = render_delete_result(&merged, true);
    assert_eq!(
        parse_delete_result(body.as_bytes()).unwrap().errors,
        merged.errors
    );
    assert!(body.contains(
        "<Error><Key>secret/y</Key><VersionId>v9</VersionId><Code>AccessDenied</Code>\
         <Message>Access Denied</Message></Error>"
    ));
}

#[test]
fn merging_nothing_is_an_empty_result() {
    let merged = merge(Vec::<DeleteResult>::new(), Vec::new());
    assert_eq!(merged, DeleteResult::default());
    assert!(render_delete_result(&merged, false).ends_with("\"></DeleteResult>"));
}
