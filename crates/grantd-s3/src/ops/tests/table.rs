//! Every operation of the table: method + query + headers → op, class, needs.

use super::*;

use Access::{Read, Write};

/// (method, path, query, op, class, needs) for the operations needing no header.
#[test]
fn every_operation_is_recognised_with_its_class_and_needs() {
    let obj_r = || grant(Read, "s3://bkt/dir/file.txt");
    let obj_w = || grant(Write, "s3://bkt/dir/file.txt");
    let o = "/bkt/dir/file.txt";
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str, Op, OpClass, Needs)> = vec![
        ("GET", "/", "", Op::ListBuckets, OpClass::Service, Needs::NoGrant),
        ("HEAD", "/bkt", "", Op::HeadBucket, OpClass::Bucket, grant(Read, "s3://bkt/*")),
        ("GET", "/bkt", "location", Op::GetBucketLocation, OpClass::Bucket, Needs::NoGrant),
        ("PUT", "/bkt", "", Op::CreateBucket, OpClass::Bucket, Needs::NoGrant),
        ("DELETE", "/bkt", "", Op::DeleteBucket, OpClass::Bucket, Needs::NoGrant),
        ("GET", "/bkt", "", Op::ListObjects, OpClass::List, grant(Read, "s3://bkt/*")),
        ("GET", "/bkt", "prefix=a/b/", Op::ListObjects, OpClass::List, grant(Read, "s3://bkt/a/b/*")),
        ("GET", "/bkt", "list-type=2&prefix=logs/", Op::ListObjectsV2, OpClass::List, grant(Read, "s3://bkt/logs/*")),
        ("GET", "/bkt/", "list-type=2", Op::ListObjectsV2, OpClass::List, grant(Read, "s3://bkt/*")),
        ("GET", "/bkt", "versions&prefix=v", Op::ListObjectVersions, OpClass::List, grant(Read, "s3://bkt/v*")),
        ("GET", "/bkt", "uploads&prefix=up/", Op::ListMultipartUploads, OpClass::List, grant(Read, "s3://bkt/up/*")),
        ("GET", "/bkt", "versioning", Op::Bucket("versioning"), OpClass::Bucket, Needs::NoGrant),
        ("PUT", "/bkt", "policy", Op::Bucket("policy"), OpClass::Bucket, Needs::NoGrant),
        ("DELETE", "/bkt", "cors", Op::Bucket("cors"), OpClass::Bucket, Needs::NoGrant),
        ("GET", "/bkt", "acl", Op::Bucket("acl"), OpClass::Bucket, Needs::NoGrant),
        ("PUT", "/bkt", "tagging", Op::Bucket("tagging"), OpClass::Bucket, Needs::NoGrant),
        ("POST", "/bkt", "metadataTable", Op::Bucket("metadataTable"), OpClass::Bucket, Needs::NoGrant),
        ("HEAD", "/bkt", "versioning", Op::Bucket("versioning"), OpClass::Bucket, Needs::NoGrant),
        ("GET", o, "", Op::GetObject, OpClass::ObjectRead, obj_r()),
        ("GET", o, "partNumber=2&versionId=v1", Op::GetObject, OpClass::ObjectRead, obj_r()),
        ("HEAD", o, "", Op::HeadObject, OpClass::ObjectRead, obj_r()),
        ("GET", o, "acl", Op::GetObjectAcl, OpClass::ObjectRead, obj_r()),
        ("GET", o, "attributes", Op::GetObjectAttributes, OpClass::ObjectRead, obj_r()),
        ("POST", o, "select&select-type=2", Op::SelectObjectContent, OpClass::ObjectRead, obj_r()),
        ("GET", o, "uploadId=u1", Op::ListParts, OpClass::List, obj_r()),
        ("GET", o, "tagging", Op::GetObjectTagging, OpClass::ObjectRead, Needs::NoGrant),
        ("GET", o, "retention", Op::GetObjectRetention, OpClass::ObjectRead, Needs::NoGrant),
        ("GET", o, "legal-hold", Op::GetObjectLegalHold, OpClass::ObjectRead, Needs::NoGrant),
        ("GET", o, "torrent", Op::GetObjectTorrent, OpClass::ObjectRead, Needs::NoGrant),
        ("PUT", o, "", Op::PutObject, OpClass::ObjectWrite, obj_w()),
        ("PUT", o, "acl", Op::PutObjectAcl, OpClass::ObjectWrite, obj_w()),
        ("DELETE", o, "", Op::DeleteObject, OpClass::ObjectWrite, obj_w()),
        ("DELETE", o, "versionId=v1", Op::DeleteObject, OpClass::ObjectWrite, obj_w()),
        ("POST", o, "uploads", Op::CreateMultipartUpload, OpClass::ObjectWrite, obj_w()),
        ("PUT", o, "partNumber=1&uploadId=u1", Op::UploadPart, OpClass::ObjectWrite, obj_w()),
        ("POST", o, "uploadId=u1", Op::CompleteMultipartUpload, OpClass::ObjectWrite, obj_w()),
        ("DELETE", o, "uploadId=u1", Op::AbortMultipartUpload, OpClass::ObjectWrite, obj_w()),
        ("PUT", o, "tagging", Op::PutObjectTagging, OpClass::ObjectWrite, Needs::NoGrant),
        ("DELETE", o, "tagging", Op::DeleteObjectTagging, OpClass::ObjectWrite, Needs::NoGrant),
        ("PUT", o, "retention", Op::PutObjectRetention, OpClass::ObjectWrite, Needs::NoGrant),
        ("PUT", o, "legal-hold", Op::PutObjectLegalHold, OpClass::ObjectWrite, Needs::NoGrant),
        ("POST", o, "restore", Op::RestoreObject, OpClass::ObjectWrite, Needs::NoGrant),
    ];
    for (method, path, q, op, class, needs) in cases {
        let got = ok(method, path, q, &[]);
        let at = format!("{method} {path}?{q}");
        assert_eq!(got.op, op, "{at}");
        assert_eq!(got.class, class, "{at}");
        assert_eq!(got.class, op.class(), "{at}");
        assert_eq!(got.needs, needs, "{at}");
    }
}

#[test]
fn delete_objects_is_split_by_key_once_the_body_is_read() {
    let got = ok("POST", "/bkt", "delete", &[]);
    assert_eq!(got.op, Op::DeleteObjects);
    assert_eq!(got.class, OpClass::ObjectWrite);
    assert_eq!(
        got.needs,
        Needs::SplitByKey {
            access: Write,
            bucket: "bkt".into()
        }
    );
}

#[test]
fn presigned_and_sdk_parameters_do_not_change_the_operation() {
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Expires=60\
             &X-Amz-SignedHeaders=host&X-Amz-Signature=s&x-id=GetObject&response-content-type=a/b";
    assert_eq!(ok("GET", "/bkt/k", q, &[]).op, Op::GetObject);
    assert_eq!(
        ok("GET", "/bkt", "x-id=ListObjects&unknown=1", &[]).op,
        Op::ListObjects
    );
}

#[test]
fn a_prefix_is_taken_as_decoded_into_the_target() {
    let got = ok("GET", "/bkt", "list-type=2&prefix=a b/ü+x&delimiter=/", &[]);
    assert_eq!(got.needs, grant(Read, "s3://bkt/a b/ü+x*"));
}

#[test]
fn writes_that_set_tags_or_object_lock_need_no_grant() {
    for h in [
        ("x-amz-tagging", "a=b"),
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2030-01-01T00:00:00Z",
        ),
        ("x-amz-object-lock-legal-hold", "ON"),
    ] {
        assert_eq!(ok("PUT", "/bkt/k", "", &[h]).needs, Needs::NoGrant, "{h:?}");
        assert_eq!(
            ok("POST", "/bkt/k", "uploads", &[h]).needs,
            Needs::NoGrant,
            "{h:?}"
        );
        let copy = ok("PUT", "/bkt/k", "", &[h, ("x-amz-copy-source", "bkt/src")]);
        assert_eq!(
            (copy.op, copy.needs),
            (Op::CopyObject, Needs::NoGrant),
            "{h:?}"
        );
    }
    // Ordinary headers change nothing.
    let plain = ok(
        "PUT",
        "/bkt/k",
        "",
        &[("x-amz-acl", "private"), ("content-type", "a/b")],
    );
    assert_eq!(plain.needs, grant(Write, "s3://bkt/k"));
}

#[test]
fn a_known_sub_resource_with_the_wrong_method_is_not_allowed() {
    for (method, path, q) in [
        ("POST", "/bkt/k", "acl"),
        ("DELETE", "/bkt/k", "acl"),
        ("HEAD", "/bkt/k", "tagging"),
        ("GET", "/bkt/k", "uploads"),
        ("PUT", "/bkt/k", "restore"),
        ("POST", "/bkt/k", ""),
        ("PATCH", "/bkt/k", ""),
        ("OPTIONS", "/bkt/k", ""),
        ("GET", "/bkt", "delete"),
        ("PUT", "/bkt", "versions"),
        ("DELETE", "/bkt", "uploads"),
        ("POST", "/bkt", "list-type=2"),
        ("PATCH", "/bkt", ""),
        ("PUT", "/", ""),
        ("DELETE", "/", ""),
    ] {
        let e = err(method, path, q, &[]);
        assert_eq!(e.code(), "MethodNotAllowed", "{method} {path}?{q}: {e}");
        assert_eq!(e.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    }
}

#[test]
fn sub_resources_of_the_other_level_are_not_implemented() {
    for (method, path, q) in [
        ("GET", "/bkt/k", "versioning"),
        ("GET", "/bkt/k", "location"),
        ("POST", "/bkt/k", "delete"),
        ("GET", "/bkt", "attributes"),
        ("GET", "/bkt", "uploadId=u"),
        ("POST", "/bkt", "restore"),
        ("PUT", "/bkt/k", "renameObject"),
        ("POST", "/bkt", ""),
    ] {
        let e = err(method, path, q, &[]);
        assert_eq!(e.code(), "NotImplemented", "{method} {path}?{q}: {e}");
        assert_eq!(e.status(), http::StatusCode::NOT_IMPLEMENTED);
    }
}

#[test]
fn ambiguous_or_incomplete_queries_are_refused() {
    for (method, path, q) in [
        ("GET", "/bkt/k", "acl&tagging"),
        ("GET", "/bkt", "versions&uploads"),
        ("GET", "/bkt", "prefix=a&prefix=b"),
        ("GET", "/bkt/k", "versionId=1&versionId=2"),
        ("GET", "/bkt", "list-type=1"),
        ("GET", "/bkt", "list-type"),
        ("PUT", "/bkt/k", "uploadId=u1"),
        ("PUT", "/bkt/k", "partNumber=1"),
        ("POST", "/bkt/k", "select"),
    ] {
        let e = err(method, path, q, &[]);
        assert_eq!(e.code(), "InvalidArgument", "{method} {path}?{q}: {e}");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }
}

#[test]
fn sub_resource_names_are_case_sensitive_as_in_s3() {
    // `?Uploads` is no sub-resource: an ignored parameter of PutObject.
    assert_eq!(ok("PUT", "/bkt/k", "Uploads", &[]).op, Op::PutObject);
}

#[test]
fn a_key_without_a_bucket_is_refused() {
    let e = classify(&Method::GET, None, Some("k"), &[], &HeaderMap::new()).unwrap_err();
    assert_eq!(e.code(), "InvalidURI");
}

#[test]
fn ops_have_names_and_bucket_catch_all_shows_its_sub_resource() {
    assert_eq!(Op::UploadPartCopy.name(), "UploadPartCopy");
    assert_eq!(Op::Bucket("cors").name(), "Bucket");
    assert_eq!(Op::Bucket("cors").to_string(), "Bucket(cors)");
    assert_eq!(Op::ListObjectsV2.to_string(), "ListObjectsV2");
    assert_eq!(OpClass::ObjectWrite.as_str(), "object_write");
    assert_eq!((Read.as_str(), Write.as_str()), ("READ", "WRITE"));
    assert_eq!(Access::ReadWrite.to_string(), "READWRITE");
}

#[test]
fn messages_echo_only_a_short_prefix_of_client_text() {
    let long = "p".repeat(5000);
    let e = err("GET", "/bkt", &format!("{long}=1&{long}=2"), &[]);
    assert!(e.to_string().len() < 200, "{}", e.to_string().len());
}
