//! Copies: the `x-amz-copy-source` forms and what a copy needs.

use super::*;

fn source(value: &str) -> CopySource {
    parse_copy_source(value).unwrap_or_else(|e| panic!("{value}: {e:?}"))
}

fn src(bucket: &str, key: &str, version: Option<&str>) -> CopySource {
    CopySource {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version.map(Into::into),
    }
}

#[test]
fn copy_source_forms_are_all_understood() {
    assert_eq!(source("bkt/a/b.txt"), src("bkt", "a/b.txt", None));
    assert_eq!(source("/bkt/a/b.txt"), src("bkt", "a/b.txt", None));
    assert_eq!(source("bkt/a%20b%2Fc"), src("bkt", "a b/c", None));
    assert_eq!(source("bkt%2Fa/b"), src("bkt", "a/b", None));
    assert_eq!(source("bkt/k%3Fq"), src("bkt", "k?q", None));
    assert_eq!(source("bkt/k+plus"), src("bkt", "k+plus", None));
    assert_eq!(source("bkt/%C3%BC"), src("bkt", "ü", None));
    assert_eq!(
        source("/bkt/k?versionId=v%2B1"),
        src("bkt", "k", Some("v+1"))
    );
    assert_eq!(source("bkt//k"), src("bkt", "/k", None));
}

#[test]
fn malformed_copy_sources_are_invalid_arguments() {
    for bad in [
        "bkt",
        "/bkt",
        "bkt/",
        "/",
        "",
        "b/k",
        "bkt/k?versionId=",
        "bkt/k?partNumber=1",
        "bkt/k?versionId=1&x=2",
    ] {
        let e = parse_copy_source(bad).unwrap_err();
        assert_eq!(e.code(), "InvalidArgument", "{bad:?}: {e}");
    }
    assert_eq!(
        parse_copy_source("bkt/%zz").unwrap_err().code(),
        "InvalidURI"
    );
}

#[test]
fn access_point_arn_copy_sources_are_refused_as_unsupported() {
    for arn in [
        "arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/reports/jan.pdf",
        "/arn%3Aaws%3As3%3Aus-west-2%3A123456789012%3Aaccesspoint%2Fap%2Fobject%2Fk",
    ] {
        let e = parse_copy_source(arn).unwrap_err();
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("NotImplemented", 501),
            "{arn}"
        );
        assert!(e.to_string().contains("access point"), "{e}");
    }
}

fn copy_needs(c: &Classified) -> &CopyNeeds {
    match &c.needs {
        Needs::Copy(copy) => copy,
        other => panic!("expected copy needs, got {other:?}"),
    }
}

#[test]
fn copy_object_reads_the_source_and_writes_the_destination() {
    let got = ok(
        "PUT",
        "/bkt/team/out/b.csv",
        "",
        &[("x-amz-copy-source", "/bkt/team/in/a.csv")],
    );
    assert_eq!((got.op, got.class), (Op::CopyObject, OpClass::ObjectWrite));
    let copy = copy_needs(&got);
    assert_eq!(copy.source, src("bkt", "team/in/a.csv", None));
    assert_eq!(
        copy.read,
        Need::object(Access::Read, "bkt", "team/in/a.csv")
    );
    assert_eq!(
        copy.write,
        Need::object(Access::Write, "bkt", "team/out/b.csv")
    );
    assert_eq!(
        copy.both,
        Some(Need {
            access: Access::ReadWrite,
            target: "s3://bkt/team/*".into()
        })
    );
}

#[test]
fn a_copy_across_buckets_has_no_single_grant() {
    let got = ok(
        "PUT",
        "/dst/k",
        "",
        &[("x-amz-copy-source", "src-bkt/k?versionId=3")],
    );
    let copy = copy_needs(&got);
    assert_eq!(copy.read.target, "s3://src-bkt/k");
    assert_eq!(copy.write.target, "s3://dst/k");
    assert_eq!(copy.source.version_id.as_deref(), Some("3"));
    assert_eq!(copy.both, None);
}

#[test]
fn a_copy_onto_itself_needs_readwrite_on_the_object() {
    let got = ok(
        "PUT",
        "/bkt/a%20b",
        "",
        &[("x-amz-copy-source", "bkt/a%20b")],
    );
    let both = copy_needs(&got).both.clone().unwrap();
    assert_eq!(both.target, "s3://bkt/a b");
}

#[test]
fn upload_part_copy_needs_what_copy_object_needs() {
    let h = [
        ("x-amz-copy-source", "bkt/src/big"),
        ("x-amz-copy-source-range", "bytes=0-9"),
    ];
    let got = ok("PUT", "/bkt/dst/big", "partNumber=3&uploadId=u", &h);
    assert_eq!(
        (got.op, got.class),
        (Op::UploadPartCopy, OpClass::ObjectWrite)
    );
    let copy = copy_needs(&got);
    assert_eq!(copy.read.target, "s3://bkt/src/big");
    assert_eq!(copy.write.target, "s3://bkt/dst/big");
    assert_eq!(copy.both.as_ref().unwrap().target, "s3://bkt/*");
}

#[test]
fn a_bad_or_repeated_copy_source_header_is_refused() {
    let arn = [(
        "x-amz-copy-source",
        "arn:aws:s3:us-east-1:123456789012:accesspoint/a/object/k",
    )];
    assert_eq!(err("PUT", "/bkt/k", "", &arn).code(), "NotImplemented");
    let twice = [
        ("x-amz-copy-source", "bkt/a"),
        ("x-amz-copy-source", "bkt/b"),
    ];
    assert_eq!(err("PUT", "/bkt/k", "", &twice).code(), "InvalidArgument");
    assert_eq!(
        err("PUT", "/bkt/k", "", &[("x-amz-copy-source", "bkt")]).code(),
        "InvalidArgument"
    );
}

#[test]
fn common_target_is_the_object_or_the_longest_shared_prefix() {
    let t = |keys: &[&str]| common_target("b", keys.iter().copied());
    assert_eq!(t(&[]), None);
    assert_eq!(t(&["a/x"]).as_deref(), Some("s3://b/a/x"));
    assert_eq!(t(&["a/x", "a/x"]).as_deref(), Some("s3://b/a/x"));
    assert_eq!(t(&["a/x1", "a/x2", "a/x3"]).as_deref(), Some("s3://b/a/x*"));
    assert_eq!(t(&["a/x", "a/x/y"]).as_deref(), Some("s3://b/a/x*"));
    assert_eq!(t(&["a", "b"]).as_deref(), Some("s3://b/*"));
    // Shared bytes inside a character do not split it.
    assert_eq!(t(&["dir/ü", "dir/ý"]).as_deref(), Some("s3://b/dir/*"));
    assert_eq!(t(&["€1", "€2"]).as_deref(), Some("s3://b/€*"));
}

#[test]
fn target_builders_use_the_key_as_decoded() {
    assert_eq!(object_target("b", "a b/ü"), "s3://b/a b/ü");
    assert_eq!(prefix_target("b", ""), "s3://b/*");
    assert_eq!(prefix_target("b", "logs/"), "s3://b/logs/*");
}
