//! The saved Logs Insights queries of `template.yaml` (`AWS::Logs::QueryDefinition`) ask about
//! fields CloudTrail really writes: every field a query names (in `fields`, `filter`, `stats`,
//! `sort`) occurs in at least one real CloudTrail record of `shared/tests/data/cloudtrail`
//! (fields that are optional in CloudTrail, like `errorCode` or `additionalEventData.MFAUsed`,
//! still occur in some record there). A misspelt field would make a query silently return
//! nothing in the middle of an investigation.

#[path = "insights/query_fields.rs"]
mod query_fields;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use query_fields::query_fields;
use serde_json::Value;
use trailwatch_e2e::template::parse_template;
use trailwatch_e2e::workspace_root;

/// The questions the queries must answer: logical id -> what must be in its filter.
const EXPECTED_QUERIES: &[(&str, &[&str])] = &[
    (
        "PrincipalActivityQuery",
        &["userIdentity.arn", "userIdentity.accessKeyId"],
    ),
    (
        "ConsoleSignInWithoutMfaQuery",
        &["eventName", "additionalEventData.MFAUsed"],
    ),
    (
        "DeniedCallsQuery",
        &["errorCode", "userIdentity.arn", "eventName"],
    ),
    ("TrailChangesQuery", &["eventSource", "eventName"]),
    ("IamPolicyChangesQuery", &["eventSource", "eventName"]),
    ("BucketPolicyChangesQuery", &["eventSource", "eventName"]),
    ("IpAddressActivityQuery", &["sourceIPAddress"]),
];

/// One saved query: its logical id, the log groups it runs on (as written), its text.
struct SavedQuery {
    id: String,
    log_groups: Value,
    text: String,
}

fn saved_queries(template: &Value) -> Result<Vec<SavedQuery>> {
    let resources = template["Resources"]
        .as_object()
        .ok_or_else(|| anyhow!("no Resources"))?;
    let mut out = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Logs::QueryDefinition" {
            continue;
        }
        let properties = &resource["Properties"];
        let text = properties["QueryString"]
            .as_str()
            .ok_or_else(|| anyhow!("{id}: QueryString is not a plain string"))?;
        out.push(SavedQuery {
            id: id.clone(),
            log_groups: properties["LogGroupNames"].clone(),
            text: text.to_owned(),
        });
    }
    Ok(out)
}

/// Every field path of every record (`userIdentity.arn`, `resources.0.ARN`) in the CloudTrail
/// files under `dir` (plain or gzipped `{"Records": [...]}` files, or a JSON array of records),
/// and the number of records read.
fn cloudtrail_field_paths(dir: &Path) -> Result<(BTreeSet<String>, usize)> {
    let mut paths = BTreeSet::new();
    let mut records = 0;
    for file in files_under(dir)? {
        let name = file.to_string_lossy();
        if !(name.ends_with(".json") || name.ends_with(".json.gz")) {
            continue;
        }
        let bytes = std::fs::read(&file)?;
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut s)?;
            s
        } else {
            String::from_utf8(bytes)?
        };
        let doc: Value =
            serde_json::from_str(&text).with_context(|| format!("{}", file.display()))?;
        let list = match &doc {
            Value::Object(o) if o.contains_key("Records") => doc["Records"].as_array(),
            Value::Array(_) => doc.as_array(),
            _ => None,
        }
        .ok_or_else(|| anyhow!("{}: not a CloudTrail file", file.display()))?;
        for record in list {
            records += 1;
            collect_paths(record, "", &mut paths);
        }
    }
    Ok((paths, records))
}

fn files_under(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    Ok(out)
}

/// The paths as Logs Insights names the fields of a JSON event (dots; array items by index).
fn collect_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = join(k);
                out.insert(path.clone());
                collect_paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let path = join(&i.to_string());
                out.insert(path.clone());
                collect_paths(v, &path, out);
            }
        }
        _ => {}
    }
}

/// The fields `query` names that no record has, or why the query cannot be read.
fn unknown_fields(query: &str, known: &BTreeSet<String>) -> Result<Vec<String>> {
    let read = query_fields(query)?;
    if read.fields.is_empty() {
        bail!("the query names no field at all");
    }
    Ok(read
        .fields
        .into_iter()
        .filter(|f| !known.contains(f))
        .collect())
}

fn real_cloudtrail_fields() -> BTreeSet<String> {
    let dir = workspace_root().join("shared/tests/data/cloudtrail");
    let (paths, records) = cloudtrail_field_paths(&dir).expect("read the CloudTrail corpus");
    assert!(
        records > 1000 && paths.len() > 100,
        "the corpus in {} is smaller than expected: {records} records, {} paths",
        dir.display(),
        paths.len()
    );
    paths
}

#[test]
fn every_field_of_every_saved_query_occurs_in_real_cloudtrail_records() {
    let template_text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template = parse_template(&template_text).unwrap();
    let queries = saved_queries(&template).unwrap();
    let known = real_cloudtrail_fields();

    let ids: BTreeSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
    let expected: BTreeSet<&str> = EXPECTED_QUERIES.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, expected, "the saved queries of the template");

    let mut problems = BTreeMap::new();
    for q in &queries {
        assert_eq!(
            q.log_groups,
            serde_json::json!([{"Ref": "CloudTrailLogGroup"}]),
            "{} runs on the forwarded events' log group only",
            q.id
        );
        let fields = query_fields(&q.text).unwrap_or_else(|e| panic!("{}: {e:#}", q.id));
        let must: &[&str] = EXPECTED_QUERIES
            .iter()
            .find(|(id, _)| *id == q.id)
            .map(|(_, m)| *m)
            .unwrap();
        for field in must {
            assert!(
                fields.fields.contains(*field),
                "{} must read {field}: it reads {:?}",
                q.id,
                fields.fields
            );
        }
        let unknown = unknown_fields(&q.text, &known).unwrap();
        if !unknown.is_empty() {
            problems.insert(q.id.clone(), unknown);
        }
    }
    assert!(
        problems.is_empty(),
        "fields no real CloudTrail record has: {problems:#?}"
    );
}

/// Negative control: the same check finds a misspelt field, in any clause.
#[test]
fn a_misspelt_field_is_found() {
    let known = real_cloudtrail_fields();
    let good = "fields eventName | filter sourceIPAddress = \"203.0.113.10\" | stats count(*) as n by userIdentity.arn | sort n desc";
    assert_eq!(unknown_fields(good, &known).unwrap(), Vec::<String>::new());
    for (bad, misspelt) in [
        (
            good.replace("sourceIPAddress", "sourceIpAddress"),
            "sourceIpAddress",
        ),
        (
            good.replace("userIdentity.arn", "userIdentity.ARN"),
            "userIdentity.ARN",
        ),
        (
            good.replace("fields eventName", "fields eventname"),
            "eventname",
        ),
    ] {
        assert_eq!(unknown_fields(&bad, &known).unwrap(), [misspelt], "{bad}");
    }
    assert!(
        unknown_fields("limit 10", &known).is_err(),
        "a query naming no field cannot pass"
    );
}
