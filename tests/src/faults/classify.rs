//! Which AWS call a request is, from what the SDK puts on the wire.

/// How a service encodes requests and errors: the fault's response must be in the same shape,
/// or the SDK would report a parse error instead of the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// S3's REST-XML.
    S3,
    /// awsJson 1.0/1.1 (`X-Amz-Target`): CloudWatch Logs, DynamoDB, CloudTrail.
    Json,
    /// awsQuery (form body with `Action=`): SNS.
    Query,
    Unknown,
}

/// A request as the proxy identified it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    /// The SigV4 signing name: `s3`, `logs`, `sns`, `dynamodb`, `cloudtrail`, …
    pub service: String,
    /// The API operation: `GetObject`, `PutLogEvents`, `Publish`, `UpdateItem`, …
    pub operation: String,
    pub protocol: Protocol,
}

/// Identifies a request. `authorization` and `target` are the `Authorization` and `X-Amz-Target`
/// header values; `body` is the request body (only a query-protocol form body is looked at).
pub fn identify(
    method: &str,
    path: &str,
    query: &str,
    authorization: Option<&str>,
    target: Option<&str>,
    body: &[u8],
) -> Call {
    let service = authorization
        .and_then(signing_service)
        .unwrap_or("unknown")
        .to_owned();
    if let Some(target) = target {
        // `Logs_20140328.PutLogEvents`, `DynamoDB_20120810.UpdateItem`,
        // `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys`.
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        return Call {
            service,
            operation,
            protocol: Protocol::Json,
        };
    }
    if service == "s3" {
        return Call {
            operation: s3_operation(method, path, query).to_owned(),
            service,
            protocol: Protocol::S3,
        };
    }
    if let Some(action) = form_action(body) {
        return Call {
            service,
            operation: action,
            protocol: Protocol::Query,
        };
    }
    Call {
        service,
        operation: "Unknown".into(),
        protocol: Protocol::Unknown,
    }
}

/// The service of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=…`.
fn signing_service(authorization: &str) -> Option<&str> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let mut parts = scope.rsplit('/');
    let terminator = parts.next()?;
    (terminator == "aws4_request").then_some(())?;
    parts.next()
}

/// S3 operations from path-style requests (`/bucket` or `/bucket/key`).
fn s3_operation(method: &str, path: &str, query: &str) -> &'static str {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let param = |name: &str| {
        query
            .split('&')
            .any(|p| p == name || p.starts_with(&format!("{name}=")))
    };
    match (method, has_key) {
        ("GET", true) if param("tagging") => "GetObjectTagging",
        ("GET", true) if param("attributes") => "GetObjectAttributes",
        ("GET", true) => "GetObject",
        ("HEAD", true) => "HeadObject",
        ("PUT", true) => "PutObject",
        ("DELETE", true) => "DeleteObject",
        ("GET", false) if param("versions") => "ListObjectVersions",
        ("GET", false) if param("list-type") => "ListObjectsV2",
        ("GET", false) if param("location") => "GetBucketLocation",
        ("GET", false) if param("versioning") => "GetBucketVersioning",
        ("GET", false) => "ListObjects",
        ("HEAD", false) => "HeadBucket",
        ("PUT", false) => "CreateBucket",
        ("POST", false) if param("delete") => "DeleteObjects",
        _ => "Unknown",
    }
}

/// `Action` of an `application/x-www-form-urlencoded` body.
fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    fn auth(service: &str) -> String {
        S3_AUTH.replace("/s3/", &format!("/{service}/"))
    }

    #[test]
    fn s3_calls_are_told_apart_by_method_path_and_query() {
        let s3 = |m, p, q| identify(m, p, q, Some(S3_AUTH), None, b"").operation;
        assert_eq!(s3("GET", "/trail/AWSLogs/1/x.json.gz", ""), "GetObject");
        assert_eq!(
            s3(
                "GET",
                "/trail/AWSLogs/x.json.gz",
                "versionId=abc&x-id=GetObject"
            ),
            "GetObject"
        );
        assert_eq!(
            s3("GET", "/trail", "versions&prefix=AWSLogs%2F"),
            "ListObjectVersions"
        );
        assert_eq!(s3("GET", "/trail", "list-type=2&prefix=a"), "ListObjectsV2");
        assert_eq!(s3("GET", "/trail/", "list-type=2"), "ListObjectsV2");
        assert_eq!(s3("GET", "/trail", ""), "ListObjects");
        assert_eq!(s3("HEAD", "/trail/k", ""), "HeadObject");
        assert_eq!(s3("PUT", "/trail/k", "x-id=PutObject"), "PutObject");
        let call = identify("GET", "/b/k", "", Some(S3_AUTH), None, b"");
        assert_eq!((call.service.as_str(), call.protocol), ("s3", Protocol::S3));
    }

    #[test]
    fn json_calls_are_named_by_their_target_and_service_by_the_scope() {
        let cases = [
            ("logs", "Logs_20140328.PutLogEvents", "PutLogEvents"),
            ("dynamodb", "DynamoDB_20120810.UpdateItem", "UpdateItem"),
            (
                "cloudtrail",
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys",
                "ListPublicKeys",
            ),
        ];
        for (service, target, op) in cases {
            let call = identify("POST", "/", "", Some(&auth(service)), Some(target), b"{}");
            assert_eq!(call.service, service);
            assert_eq!(call.operation, op);
            assert_eq!(call.protocol, Protocol::Json);
        }
    }

    #[test]
    fn query_calls_are_named_by_the_form_action() {
        let body =
            b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At";
        let call = identify("POST", "/", "", Some(&auth("sns")), None, body);
        assert_eq!(call.service, "sns");
        assert_eq!(call.operation, "Publish");
        assert_eq!(call.protocol, Protocol::Query);
    }

    #[test]
    fn an_unsigned_or_unknown_request_is_unknown_not_a_guess() {
        let call = identify("GET", "/moto-api/data.json", "", None, None, b"");
        assert_eq!(call.service, "unknown");
        assert_eq!(call.operation, "Unknown");
        assert_eq!(signing_service("Bearer xyz"), None);
        assert_eq!(
            signing_service("AWS4-HMAC-SHA256 Credential=a/b/c/s3/not_a_scope"),
            None
        );
    }
}
