//! IAM enforced by moto: the functions run with a role built from the template's own policies.
//!
//! moto evaluates IAM only once its "initial no-auth" allowance is used up; the harness sets
//! the world up without enforcement, creates the function's role from the policy documents it
//! is given, assumes it through moto's STS, and then switches enforcement on
//! (`/moto-api/reset-auth` with 0), so that every call the function makes is signed with the
//! role's temporary credentials and authorized against its policies. From then on moto answers
//! AccessDenied exactly where a real account would — for the parts moto evaluates (see
//! [`for_moto`]).

use serde_json::{Value, json};

use crate::Moto;

/// Temporary credentials of an assumed role.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl RoleCredentials {
    /// `env` (from [`Moto::env`]) with the static test keys replaced by these credentials.
    pub fn apply_to(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && k != "AWS_SECRET_ACCESS_KEY")
            .cloned()
            .collect();
        out.push(("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()));
        out.push((
            "AWS_SECRET_ACCESS_KEY".into(),
            self.secret_access_key.clone(),
        ));
        out.push(("AWS_SESSION_TOKEN".into(), self.session_token.clone()));
        out
    }
}

/// The trust policy of a Lambda execution role.
fn lambda_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Creates role `name` with `policies` as its inline policies and assumes it. Must run while
/// IAM is not enforced (the harness's own calls carry the static test keys).
pub async fn role_with_policies(moto: &Moto, name: &str, policies: &[Value]) -> RoleCredentials {
    let cfg = moto.sdk_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let role = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(lambda_trust_policy().to_string())
        .send()
        .await
        .expect("iam:CreateRole in moto");
    let role_arn = role.role().map(|r| r.arn().to_owned()).expect("role ARN");
    for (i, policy) in policies.iter().enumerate() {
        iam.put_role_policy()
            .role_name(name)
            .policy_name(format!("template-{i}"))
            .policy_document(policy.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("iam:PutRolePolicy {policy}: {e:?}"));
    }
    let sts = aws_sdk_sts::Client::new(&cfg);
    let assumed = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("trailwatch-e2e")
        .send()
        .await
        .expect("sts:AssumeRole in moto");
    let c = assumed.credentials().expect("credentials");
    RoleCredentials {
        role_arn,
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: c.secret_access_key().to_owned(),
        session_token: c.session_token().to_owned(),
    }
}

impl Moto {
    /// Switches IAM enforcement on (every later request must be signed by a known identity and
    /// allowed by its policies) or off again.
    pub fn enforce_iam(&self, on: bool) {
        let count = if on { "0" } else { "inf" };
        crate::moto::http_post(&self.endpoint(), "/moto-api/reset-auth", count);
    }
}

/// How a template policy is handed to moto, which evaluates less than IAM does (moto 5.2.1,
/// `moto/iam/access_control.py`):
/// - it matches `Resource` ARNs only for S3 (and SQS, IAM, STS); for other services it authorizes
///   against `*`, so a statement of theirs matches only with `Resource: "*"`. Their resources are
///   widened to `*`, their actions kept: which actions a role has is still enforced; which log
///   group or topic they apply to is checked by the permission table test instead.
/// - it has no request context for condition keys (`s3:prefix`, `kms:ViaService`) and treats a
///   statement whose condition it cannot evaluate as an explicit Deny. Conditions are dropped;
///   the table test evaluates them.
///
/// S3 statements keep their actions and resources exactly as the template writes them: that is
/// what moto can enforce, and where the defects were.
pub fn for_moto(policy: &Value) -> Value {
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let statements: Vec<Value> = statements
        .into_iter()
        .map(|mut s| {
            if let Some(map) = s.as_object_mut() {
                map.remove("Condition");
                if !actions(&Value::Object(map.clone()))
                    .iter()
                    .all(|a| a.starts_with("s3:"))
                {
                    map.insert("Resource".into(), json!("*"));
                }
            }
            s
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The actions of a statement (`Action` as a string or a list).
pub fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => vec![],
    }
}

/// `policies` with `action` removed from every statement (a statement left with no action is
/// dropped): the negative control that proves a permission is needed.
pub fn without_action(policies: &[Value], action: &str) -> Vec<Value> {
    policies
        .iter()
        .map(|p| {
            let statements: Vec<Value> = p["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    let kept: Vec<String> =
                        actions(s).into_iter().filter(|a| a != action).collect();
                    if kept.is_empty() {
                        return None;
                    }
                    let mut s = s.clone();
                    s["Action"] = json!(kept);
                    Some(s)
                })
                .collect();
            json!({"Version": "2012-10-17", "Statement": statements})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": "arn:aws:s3:::b/*AWSLogs/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
             "Condition": {"StringLike": {"s3:prefix": ["AWSLogs/*"]}}},
            {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "arn:aws:logs:r:1:log-group:g:*"}
        ]})
    }

    #[test]
    fn s3_statements_are_kept_others_widened_conditions_dropped() {
        let m = for_moto(&policy());
        let s = m["Statement"].as_array().unwrap();
        assert_eq!(s[0]["Resource"], "arn:aws:s3:::b/*AWSLogs/*");
        assert_eq!(s[1]["Resource"], "arn:aws:s3:::b");
        assert!(s[1].get("Condition").is_none());
        assert_eq!(s[2]["Resource"], "*");
        assert_eq!(s[2]["Action"], json!(["logs:PutLogEvents"]));
    }

    #[test]
    fn dropping_an_action_keeps_the_rest_of_its_statement() {
        let p = without_action(&[policy()], "s3:GetObjectVersion");
        let s = p[0]["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["Action"], json!(["s3:GetObject"]));
        let p = without_action(&[policy()], "s3:ListBucket");
        assert_eq!(p[0]["Statement"].as_array().unwrap().len(), 2);
    }
}
