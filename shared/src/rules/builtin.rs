//! Built-in rule sets, from the published CIS / Security Hub patterns (`data/cis-rules.json`,
//! see `data/PROVENANCE.md`), with severities and advice chosen here.

use serde::Deserialize;

use super::{RuleDef, Severity};

/// Names accepted by [`builtin_set`].
pub const BUILTIN_SET_NAMES: &[&str] = &["security-hub", "cis-1.2.0", "cis-1.4.0", "cis-3.0.0"];

const CIS_RULES_JSON: &str = include_str!("../../data/cis-rules.json");

#[derive(Deserialize)]
struct Published {
    id: String,
    title: String,
    pattern: String,
}

/// The rules of a built-in set, in published order; `None` for an unknown name.
pub fn builtin_set(name: &str) -> Option<Vec<RuleDef>> {
    let prefix = match name {
        "security-hub" => "SecurityHub:CloudWatch.",
        "cis-1.2.0" => "CIS-1.2.0:",
        "cis-1.4.0" => "CIS-1.4.0:",
        "cis-3.0.0" => "CIS-3.0.0:",
        _ => return None,
    };
    let published: Vec<Published> =
        serde_json::from_str(CIS_RULES_JSON).expect("embedded cis-rules.json is valid");
    let rules = published
        .into_iter()
        .filter_map(|p| {
            let number = p.id.strip_prefix(prefix)?.to_owned();
            let area = area(prefix, &number)?;
            let (severity, advice) = area.meta();
            let (enabled, description) = match note(&p.id) {
                Some(note) => (false, format!("{note} {advice}")),
                None => (true, advice.to_owned()),
            };
            Some(RuleDef {
                id: p.id,
                title: p.title,
                pattern: p.pattern,
                severity,
                threshold: 1,
                description: Some(description),
                enabled,
            })
        })
        .collect();
    Some(rules)
}

/// Published rules shipped disabled, and why.
fn note(id: &str) -> Option<&'static str> {
    match id {
        "CIS-1.4.0:4.1" => Some(
            "DISABLED: as published, this pattern ORs `$.sourceIPAddress != \"delivery.logs.amazonaws.com\"`, \
             which holds for almost every record, so it would alert on nearly all API calls; use \
             SecurityHub:CloudWatch.2 or CIS-3.0.0:4.1 instead.",
        ),
        "CIS-1.4.0:4.2-alt" | "CIS-3.0.0:4.2-alt" => Some(
            "DISABLED: CIS's alternative to 4.2 for accounts using SSO (adds IAMUser and successful-login \
             clauses); enable it instead of 4.2, not with it, to avoid duplicate alerts.",
        ),
        _ => None,
    }
}

/// The monitoring area of a published rule; the same area has the same number in CIS v1.2.0
/// (3.x), v1.4.0 and v3.0.0 (4.x), except that Security Hub orders the first three differently.
#[derive(Clone, Copy)]
enum Area {
    Root,
    Unauthorized,
    ConsoleNoMfa,
    IamPolicy,
    CloudTrail,
    ConsoleAuthFailure,
    KmsKey,
    S3BucketPolicy,
    Config,
    SecurityGroup,
    Nacl,
    NetworkGateway,
    RouteTable,
    Vpc,
    Organizations,
}

fn area(prefix: &str, number: &str) -> Option<Area> {
    let n = number.trim_start_matches("3.").trim_start_matches("4.");
    let n = n.strip_suffix("-alt").unwrap_or(n);
    let n: u32 = n.parse().ok()?;
    let security_hub = prefix.starts_with("SecurityHub");
    Some(match n {
        1 if security_hub => Area::Root,
        1 => Area::Unauthorized,
        2 if security_hub => Area::Unauthorized,
        2 => Area::ConsoleNoMfa,
        3 if security_hub => Area::ConsoleNoMfa,
        3 => Area::Root,
        4 => Area::IamPolicy,
        5 => Area::CloudTrail,
        6 => Area::ConsoleAuthFailure,
        7 => Area::KmsKey,
        8 => Area::S3BucketPolicy,
        9 => Area::Config,
        10 => Area::SecurityGroup,
        11 => Area::Nacl,
        12 => Area::NetworkGateway,
        13 => Area::RouteTable,
        14 => Area::Vpc,
        15 => Area::Organizations,
        _ => return None,
    })
}

impl Area {
    /// Severity (with the reasoning) and advice.
    ///
    /// CRITICAL: an attacker with the highest privilege, or monitoring being switched off.
    /// HIGH: a change that grants access or destroys protection (IAM, KMS, S3 policy, Config,
    /// Organizations) or an unprotected privileged sign-in. MEDIUM: network perimeter changes
    /// (frequent in normal operations, still worth review) and failed/denied attempts, which are
    /// noisy one by one and meaningful in bursts (use `threshold`).
    fn meta(self) -> (Severity, &'static str) {
        match self {
            Area::Root => (
                Severity::Critical,
                "The root user was used. Root bypasses every IAM control and cannot be restricted: confirm \
                 the activity with the account owner, rotate the root password and MFA if unexpected, and \
                 review what it changed.",
            ),
            Area::Unauthorized => (
                Severity::Medium,
                "An API call was denied. Single denials are common; many from one principal suggest \
                 reconnaissance or stolen credentials probing permissions: check the principal, source IP \
                 and the actions attempted.",
            ),
            Area::ConsoleNoMfa => (
                Severity::High,
                "A console sign-in succeeded without MFA. A stolen password alone is enough for this user: \
                 confirm the sign-in with the user and enforce MFA for console access.",
            ),
            Area::IamPolicy => (
                Severity::High,
                "An IAM policy was created, changed or attached. This is how privileges are escalated or \
                 backdoors created: review the policy document and who made the change.",
            ),
            Area::CloudTrail => (
                Severity::Critical,
                "A trail was created, changed, deleted, or logging was started/stopped. Stopping or altering \
                 CloudTrail blinds monitoring and is a classic step before an attack: verify the change and \
                 restore logging immediately if unexpected.",
            ),
            Area::ConsoleAuthFailure => (
                Severity::Medium,
                "A console sign-in failed. Repeated failures suggest password guessing: check the source IPs \
                 and the targeted users, and consider locking or alerting the user.",
            ),
            Area::KmsKey => (
                Severity::High,
                "A customer managed KMS key was disabled or scheduled for deletion. Data encrypted under it \
                 becomes unreadable (possibly for good): verify the intent and cancel the deletion \
                 (CancelKeyDeletion) during the waiting period if unexpected.",
            ),
            Area::S3BucketPolicy => (
                Severity::High,
                "An S3 bucket policy, ACL, CORS, lifecycle or replication setting changed. Such changes can \
                 expose data publicly or copy it elsewhere: review the new settings and the Block Public \
                 Access state.",
            ),
            Area::Config => (
                Severity::High,
                "AWS Config recording or delivery was changed or stopped. This removes the configuration \
                 history and compliance evaluations: verify the change and restart the recorder if \
                 unexpected.",
            ),
            Area::SecurityGroup => (
                Severity::Medium,
                "A security group was created, deleted or its rules changed. Check that no rule opens \
                 sensitive ports to 0.0.0.0/0 or ::/0.",
            ),
            Area::Nacl => (
                Severity::Medium,
                "A network ACL or its entries changed. Check that subnet-level filtering still blocks what \
                 it should.",
            ),
            Area::NetworkGateway => (
                Severity::Medium,
                "An internet or customer gateway was created, attached, detached or deleted. This changes \
                 which networks can reach the VPC: confirm it was planned.",
            ),
            Area::RouteTable => (
                Severity::Medium,
                "A route table or route changed. Traffic may be redirected around inspection or out of the \
                 VPC: confirm it was planned.",
            ),
            Area::Vpc => (
                Severity::Medium,
                "A VPC, VPC peering or ClassicLink setting changed. This changes network reachability \
                 between environments: confirm it was planned.",
            ),
            Area::Organizations => (
                Severity::High,
                "AWS Organizations changed (accounts, OUs, policies or handshakes). This can remove SCP \
                 guardrails or move accounts out of control: verify with the organization's administrators.",
            ),
        }
    }
}
