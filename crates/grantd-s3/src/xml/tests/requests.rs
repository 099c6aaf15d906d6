//! The client's `<Delete>` and the subsets rendered for upstream.

use super::*;

fn parse(body: &str) -> DeleteRequest {
    parse_delete(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn keys(request: &DeleteRequest) -> Vec<&str> {
    request.objects.iter().map(|o| o.key.as_str()).collect()
}

fn delete_of(objects: &str) -> String {
    format!("<Delete>{objects}</Delete>")
}

#[test]
fn a_delete_as_the_sdks_send_it_is_read() {
    let request = parse(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Object><Key>sample1.txt</Key></Object>
  <Object><Key>sample2.txt</Key><VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId></Object>
  <Quiet>true</Quiet>
</Delete>"#,
    );
    assert!(request.quiet);
    assert_eq!(keys(&request), ["sample1.txt", "sample2.txt"]);
    assert_eq!(request.objects[0].version_id, None);
    assert_eq!(
        request.objects[1].version_id.as_deref(),
        Some("OYcLXagmS.WaD..oyH4KRguB95_YhLs7")
    );
}

#[test]
fn quiet_defaults_to_false_and_reads_true_or_false() {
    assert!(!parse(&delete_of("<Object><Key>k</Key></Object>")).quiet);
    for (text, quiet) in [
        ("true", true),
        ("TRUE", true),
        (" false ", false),
        ("False", false),
    ] {
        let body = delete_of(&format!(
            "<Quiet>{text}</Quiet><Object><Key>k</Key></Object>"
        ));
        assert_eq!(parse(&body).quiet, quiet, "{text}");
    }
}

#[test]
fn keys_are_read_exactly() {
    let request = parse(&delete_of(
        "<Object><Key> lead and trail </Key></Object>\
         <Object><Key>a&amp;b&lt;c&gt;d&quot;e&apos;f</Key></Object>\
         <Object><Key>cr&#13;lf&#x0A;tab&#9;</Key></Object>\
         <Object><Key>raw\r\nline\rend</Key></Object>\
         <Object><Key><![CDATA[<cdata & more>]]></Key></Object>\
         <Object><Key>split<!-- c -->text<![CDATA[+cd]]></Key></Object>\
         <Object><Key>ü/€/😀</Key></Object>\
         <Object><Key>dir/</Key></Object>",
    ));
    assert_eq!(
        keys(&request),
        [
            " lead and trail ",
            "a&b<c>d\"e'f",
            "cr\rlf\ntab\t",
            "raw\nline\nend",
            "<cdata & more>",
            "splittext+cd",
            "ü/€/😀",
            "dir/",
        ]
    );
}

#[test]
fn namespaces_prefixes_comments_and_a_bom_do_not_matter() {
    let request = parse(
        "\u{feff}<?xml version=\"1.0\"?><!-- hi --><s3:Delete xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete><!-- bye -->",
    );
    assert_eq!(keys(&request), ["k"]);
}

#[test]
fn conditions_are_kept_to_be_sent_on() {
    let request = parse(&delete_of(
        "<Object><Key>k</Key><ETag>\"abc\"</ETag><LastModifiedTime>2024-01-01T00:00:00Z</LastModifiedTime>\
         <Size>42</Size></Object>",
    ));
    let object = &request.objects[0];
    assert_eq!(object.etag.as_deref(), Some("\"abc\""));
    assert_eq!(
        object.last_modified_time.as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert_eq!(object.size, Some(42));
    assert_eq!(
        parse_delete(render_delete(&request).as_bytes()).unwrap(),
        request
    );
}

#[test]
fn render_then_parse_gives_the_same_request() {
    let odd = [
        "<&>\"'",
        "cr\r",
        "crlf\r\n",
        "lf\n",
        "\ttab",
        " spaced ",
        "]]>",
        "ü€😀",
        "a/b/",
        "ctl\u{1}\u{1f}",
        "%2F+",
    ];
    let request = DeleteRequest {
        quiet: true,
        objects: odd
            .iter()
            .enumerate()
            .map(|(i, key)| ObjectId {
                version_id: (i % 2 == 0).then(|| format!("v{i}&<")),
                ..ObjectId::new(*key)
            })
            .collect(),
    };
    let body = render_delete(&request);
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns="),
        "{body}"
    );
    assert_eq!(parse_delete(body.as_bytes()).unwrap(), request);
    let loud = DeleteRequest {
        quiet: false,
        ..request
    };
    let body = render_delete(&loud);
    assert!(!body.contains("Quiet"), "{body}");
    assert_eq!(parse_delete(body.as_bytes()).unwrap(), loud);
}

#[test]
fn a_subset_renders_exactly() {
    let subset = DeleteRequest {
        quiet: false,
        objects: vec![ObjectId {
            version_id: Some("v1".into()),
            ..ObjectId::new("a&b")
        }],
    };
    assert_eq!(
        render_delete(&subset),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Object><Key>a&amp;b</Key><VersionId>v1</VersionId></Object></Delete>"
    );
}

#[test]
fn at_most_1000_objects_are_accepted() {
    let objects = |n: usize| {
        (0..n)
            .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
            .collect::<String>()
    };
    assert_eq!(parse(&delete_of(&objects(1000))).objects.len(), 1000);
    let e = parse_delete(delete_of(&objects(1001)).as_bytes()).unwrap_err();
    assert_eq!(e, XmlError::TooManyObjects(1001));
    assert_eq!((e.code(), e.status().as_u16()), ("MalformedXML", 400));
}

#[test]
fn malformed_documents_are_refused_as_malformed_xml() {
    let o = "<Object><Key>k</Key></Object>";
    let cases = [
        String::new(),
        "not xml".into(),
        "<Delete>".into(),
        format!("<Delete>{o}"),
        format!("<Delete>{o}</Delet>"),
        "<Delete><Object><Key>k</Object></Key></Delete>".into(),
        format!("<Delete>{o}</Delete><Delete>{o}</Delete>"),
        format!("<Delete>{o}</Delete>trailing"),
        format!("<Other>{o}</Other>"),
        "<Delete></Delete>".into(),
        "<Delete><Quiet>true</Quiet></Delete>".into(),
        format!("<Delete>{o}<Quiet>yes</Quiet></Delete>"),
        format!("<Delete>{o}<Quiet>true</Quiet><Quiet>true</Quiet></Delete>"),
        format!("<Delete>{o}<Bogus/></Delete>"),
        format!("<Delete>text{o}</Delete>"),
        "<Delete><Object></Object></Delete>".into(),
        "<Delete><Object><Key></Key></Object></Delete>".into(),
        "<Delete><Object><Key/></Object></Delete>".into(),
        "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId></Object></Delete>".into(),
        "<Delete><Object><Key>a</Key><Size>-1</Size></Object></Delete>".into(),
        "<Delete><Object><Key>a</Key><Size>1</Size><Size>1</Size></Object></Delete>".into(),
        "<Delete><Object><Key>a</Key><Tagging>x</Tagging></Object></Delete>".into(),
        "<Delete><Object><Key><b>x</b></Key></Object></Delete>".into(),
        "<Delete><Object>junk<Key>a</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a&b</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a&bogus;</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a&#0;</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a&#xD800;</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a&#x;</Key></Object></Delete>".into(),
        "<Delete><Object><Key>a\u{1}</Key></Object></Delete>".into(),
        format!("<!DOCTYPE d [<!ENTITY e \"x\">]><Delete>{o}</Delete>"),
        format!("<Delete><a>{o}</a></Delete>"),
        format!("{}{}", "<a>".repeat(20), "</a>".repeat(20)),
    ];
    for body in cases {
        match parse_delete(body.as_bytes()) {
            Err(e @ XmlError::Malformed(_)) => {
                assert_eq!((e.code(), e.status().as_u16()), ("MalformedXML", 400));
            }
            other => panic!("{body:?} should be malformed, got {other:?}"),
        }
    }
    assert!(matches!(
        parse_delete(b"<Delete>\xff</Delete>"),
        Err(XmlError::Malformed(_))
    ));
}

#[test]
fn a_flood_of_elements_is_refused_before_it_is_all_kept() {
    let body = format!("<Delete>{}</Delete>", "<x/>".repeat(20_000));
    assert!(
        matches!(parse_delete(body.as_bytes()), Err(XmlError::Malformed(m)) if m.contains("too"))
    );
}

#[test]
fn refusals_echo_only_a_short_prefix_of_the_document() {
    let name = "n".repeat(10_000);
    let e = parse_delete(format!("<Delete><{name}/></Delete>").as_bytes()).unwrap_err();
    assert!(e.to_string().len() < 300, "{}", e.to_string().len());
}
