//! The SNS alert for a digest that failed (or warned): an ASCII subject, a body an on-call engineer
//! can act on, a machine-readable JSON for queue/Lambda/HTTP(S) subscribers, and filterable
//! attributes.

use std::borrow::Cow;

use serde_json::json;

use super::message::{
    AlertAttributes, AlertKind, AlertMessage, MachineBody, SCHEMA_VERSION, assemble,
    json_string_len,
};
use super::subject::clean_subject;
use crate::digest::{Finding, FindingCode, FindingSeverity, Verdict, VerificationReport};

/// Findings listed in one message; the rest are counted (SNS messages are limited to 256 KiB).
const MAX_LISTED_FINDINGS: usize = 50;

/// Longest object URI or detail copied into an alert, in bytes. Real ones are a few hundred; the
/// fields of a forged digest (a 1 MB bucket name, fingerprint or hash) end up in details, and are
/// cut here so that the findings, not only their count, still fit the publish.
pub const MAX_FIELD_BYTES: usize = 2048;

/// `text` cut to at most [`MAX_FIELD_BYTES`] bytes (on a character boundary), with a note of the
/// full length when it was cut.
pub fn clip_field(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_FIELD_BYTES {
        return Cow::Borrowed(text);
    }
    let note = format!("... [cut, {} bytes in all]", text.len());
    let mut end = MAX_FIELD_BYTES - note.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{note}", &text[..end]))
}

/// The report with every finding's object and detail clipped by [`clip_field`].
fn clipped(report: &VerificationReport) -> VerificationReport {
    let findings = report
        .findings
        .iter()
        .map(|f| Finding {
            object: clip_field(&f.object).into_owned(),
            detail: clip_field(&f.detail).into_owned(),
            ..f.clone()
        })
        .collect();
    VerificationReport {
        findings,
        ..report.clone()
    }
}

/// What was verified, for the message.
#[derive(Debug, Clone)]
pub struct AlertContext<'a> {
    /// `s3://bucket/key` of the digest that was verified.
    pub digest: &'a str,
    /// The account the digest covers (from its key).
    pub account: &'a str,
    /// The region that delivered the digest (its `CloudTrail-Digest/<region>/` folder).
    pub region: &'a str,
    /// The trail name from the digest's file name.
    pub trail: &'a str,
}

/// The alert severity: CRITICAL for a failed verification, MEDIUM for warnings only.
pub fn alert_severity(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Fail => "CRITICAL",
        _ => "MEDIUM",
    }
}

/// What an engineer should do about a finding.
pub fn next_step(code: FindingCode) -> &'static str {
    use FindingCode::*;
    match code {
        DigestSignatureInvalid
        | DigestSignatureAlgorithm
        | DigestTrailingData
        | DigestFormat
        | DigestTooLarge
        | DigestClaimMismatch
        | DigestRegionUnknown
        | DigestTimeImplausible => {
            "Treat the digest and the logs it covers as untrusted: check who wrote the object (S3 server access logs / CloudTrail data events, object versions) and preserve the bucket state."
        }
        DigestSignatureMissing => {
            "Check whether the object was overwritten (object versions, PutObject/CopyObject events); CloudTrail always writes the signature metadata."
        }
        DigestKeyNotFound => {
            "Compare the fingerprint with `aws cloudtrail list-public-keys` in this region; an unknown key means the digest was not signed by CloudTrail."
        }
        DigestMissing => {
            "Look for DeleteObject events on the trail bucket and restore the digest from an earlier object version if versioning is enabled."
        }
        DigestMoved => {
            "Find who copied or renamed the digest (CopyObject/PutObject events); the original location should hold the genuine digest."
        }
        DigestBackfillMetadata => {
            "Check the object's metadata history; CloudTrail writes backfill-generation-timestamp on every backfill digest."
        }
        ChainPrevSignatureMismatch | ChainPrevHashMismatch => {
            "The previous digest was altered or replaced after delivery: verify the range with `trailwatch verify` and inspect its object versions."
        }
        ChainHeadStale => {
            "Check that the trail is logging (`aws cloudtrail get-trail-status`) and look for deleted recent digests."
        }
        LogHashMismatch | LogFormat | LogTrailingData => {
            "The log file content changed after delivery: do not trust its events; inspect its object versions and who wrote it."
        }
        LogMissing => {
            "Look for DeleteObject events on the log file and restore it from an earlier object version if possible."
        }
        LogHashAlgorithm => "CloudTrail always lists SHA-256; inspect the digest and its signer.",
        LogUnreadable => {
            "Inspect the log file's encryption, KMS key and storage class (head-object) and who last wrote it: SSE-C, a foreign KMS key or an archive tier means it was altered after delivery; otherwise grant the verifier s3:GetObject and kms:Decrypt on it."
        }
        LogUnreferenced => {
            "A log file that no digest lists may have been planted: inspect who wrote it."
        }
        LogDuplicateReference => "Inspect the digests that list the log file.",
        ChainTimeDiscontinuity => {
            "Check for StopLogging/StartLogging events and missing digests around this time."
        }
        ChainRestart => "Confirm the restart with StopLogging/StartLogging or trail update events.",
        KeySpkiEncoding => "No action needed.",
    }
}

/// `[CRITICAL] CloudTrail tampering suspected: 2 findings, 123456789012 us-east-1`.
pub fn subject(report: &VerificationReport, ctx: &AlertContext<'_>) -> String {
    let counted = report
        .findings
        .iter()
        .filter(|f| f.severity >= FindingSeverity::Warning)
        .count();
    let what = match report.verdict {
        Verdict::Fail => "CloudTrail tampering suspected",
        _ => "CloudTrail integrity warning",
    };
    let plural = if counted == 1 { "" } else { "s" };
    let text = format!(
        "[{}] {what}: {counted} finding{plural}, {} {}",
        alert_severity(report.verdict),
        ctx.account,
        ctx.region
    );
    clean_subject(&text)
}

fn ordered(report: &VerificationReport) -> Vec<&Finding> {
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));
    findings
}

/// The text e-mail readers see.
pub fn body(report: &VerificationReport, ctx: &AlertContext<'_>) -> String {
    let findings = ordered(report);
    let mut out = format!(
        "trailwatch verified a CloudTrail digest file and the verdict is {}.\n\n\
         Digest:  {}\nAccount: {}\nRegion:  {}\nTrail:   {}\nLog files checked: {}\n\n\
         Findings ({}):\n",
        report.verdict,
        ctx.digest,
        ctx.account,
        ctx.region,
        ctx.trail,
        report.logs_checked,
        findings.len()
    );
    for (i, f) in findings.iter().take(MAX_LISTED_FINDINGS).enumerate() {
        out.push_str(&format!(
            "\n{}. [{}] {}: {}\n   Object: {}\n   Detail: {}\n   Next:   {}\n",
            i + 1,
            f.severity.as_str(),
            f.code,
            f.code.meaning(),
            f.object,
            f.detail,
            next_step(f.code)
        ));
    }
    if findings.len() > MAX_LISTED_FINDINGS {
        out.push_str(&format!(
            "\n... and {} more findings (run `trailwatch verify` for the full list).\n",
            findings.len() - MAX_LISTED_FINDINGS
        ));
    }
    out.push_str(
        "\nVerify the surrounding history with:\n  trailwatch verify --bucket <bucket> --account-id <account> --region <region> --start-time <T> --end-time <T>\n\
         Infrastructure errors (throttling, access) never produce this alert; it means the stored data does not match what CloudTrail signed.\n",
    );
    out
}

/// The whole SNS message. Every finding's object and detail is clipped to [`MAX_FIELD_BYTES`],
/// and the message as a whole always fits SNS's publish limit.
pub fn build(report: &VerificationReport, ctx: &AlertContext<'_>) -> AlertMessage {
    let report = &clipped(report);
    let findings = ordered(report);
    let primary = findings.first().map(|f| f.code.as_str()).unwrap_or("NONE");
    let mut codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let attributes = AlertAttributes {
        rule_id: primary.into(),
        severity: alert_severity(report.verdict).into(),
        account: ctx.account.into(),
        region: ctx.region.into(),
        finding_codes: Some(codes.join(",")),
    };
    let machine = VerdictJson {
        report,
        ctx,
        findings: &findings,
    };
    assemble(
        AlertKind::DigestVerdict,
        subject(report, ctx),
        &body(report, ctx),
        &machine,
        attributes,
    )
}

/// The machine-readable document for queue, Lambda and HTTP(S) subscribers.
struct VerdictJson<'a> {
    report: &'a VerificationReport,
    ctx: &'a AlertContext<'a>,
    /// Most severe first.
    findings: &'a [&'a Finding],
}

impl VerdictJson<'_> {
    fn render_listing(&self, listed: usize) -> String {
        json!({
            "schema": SCHEMA_VERSION,
            "source": "trailwatch.digest-verifier",
            "verdict": self.report.verdict,
            "digest": self.ctx.digest,
            "account": self.ctx.account,
            "region": self.ctx.region,
            "trail": self.ctx.trail,
            "logs_checked": self.report.logs_checked,
            "findings_total": self.findings.len(),
            "findings": &self.findings[..listed],
        })
        .to_string()
    }
}

impl MachineBody for VerdictJson<'_> {
    fn render(&self, max_escaped_bytes: usize) -> String {
        // At most MAX_LISTED_FINDINGS always fit for real findings (short objects and details);
        // should they not, the most severe are kept and `findings_total` still counts them all.
        let mut listed = self.findings.len().min(MAX_LISTED_FINDINGS);
        loop {
            let doc = self.render_listing(listed);
            if listed == 0 || json_string_len(&doc) <= max_escaped_bytes {
                return doc;
            }
            listed /= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(codes: &[FindingCode]) -> VerificationReport {
        let findings = codes
            .iter()
            .map(|c| Finding::new(*c, "s3://b/AWSLogs/k.json.gz", "détail with ünïcode"))
            .collect();
        VerificationReport::new(findings, 1, 3)
    }

    fn ctx() -> AlertContext<'static> {
        AlertContext {
            digest: "s3://b/d.json.gz",
            account: "123456789012",
            region: "us-east-1",
            trail: "t",
        }
    }

    #[test]
    fn subject_matches_the_documented_shape_and_limits() {
        let r = report(&[
            FindingCode::LogMissing,
            FindingCode::ChainPrevHashMismatch,
            FindingCode::ChainRestart,
        ]);
        assert_eq!(
            subject(&r, &ctx()),
            "[CRITICAL] CloudTrail tampering suspected: 2 findings, 123456789012 us-east-1"
        );
        let long = AlertContext {
            region: "é".repeat(200).leak(),
            ..ctx()
        };
        let s = subject(&r, &long);
        assert!(s.len() <= 99 && s.is_ascii() && !s.contains('\n'), "{s}");
        let w = report(&[FindingCode::LogDuplicateReference]);
        assert_eq!(
            subject(&w, &ctx()),
            "[MEDIUM] CloudTrail integrity warning: 1 finding, 123456789012 us-east-1"
        );
    }

    #[test]
    fn message_lists_each_finding_with_next_steps_and_attributes() {
        let r = report(&[FindingCode::LogHashMismatch, FindingCode::DigestMissing]);
        let m = build(&r, &ctx());
        let doc: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let email = doc["email"].as_str().unwrap();
        assert!(email.contains("LOG_HASH_MISMATCH") && email.contains("DIGEST_MISSING"));
        assert!(email.contains("Next:") && email.contains("s3://b/AWSLogs/k.json.gz"));
        let machine: serde_json::Value =
            serde_json::from_str(doc["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["verdict"], "FAIL");
        assert_eq!(machine["schema"], 1);
        assert_eq!(doc["http"], doc["sqs"]);
        assert_eq!(machine["findings"].as_array().unwrap().len(), 2);
        let pairs = m.attributes.pairs();
        let attr = |n: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(attr("rule_id").as_deref(), Some("DIGEST_MISSING"));
        assert_eq!(attr("severity").as_deref(), Some("CRITICAL"));
        assert_eq!(attr("account").as_deref(), Some("123456789012"));
        assert_eq!(
            attr("finding_codes").as_deref(),
            Some("DIGEST_MISSING,LOG_HASH_MISMATCH")
        );
    }

    #[test]
    fn huge_finding_lists_stay_under_the_sns_limit() {
        let codes = vec![FindingCode::LogHashMismatch; 5_000];
        let findings: Vec<Finding> = codes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Finding::new(
                    *c,
                    format!("s3://b/{}/{i}", "x".repeat(200)),
                    "d".repeat(300),
                )
            })
            .collect();
        let m = build(&VerificationReport::new(findings, 1, 5_000), &ctx());
        assert!(m.message.len() < 200 * 1024, "{}", m.message.len());
        assert!(m.message.contains("4950 more findings"));
    }

    #[test]
    fn a_forged_megabyte_field_is_cut_and_the_finding_still_listed() {
        let forged = "A".repeat(1 << 20);
        let findings = vec![
            Finding::new(
                FindingCode::DigestMoved,
                format!("s3://b/{forged}"),
                format!("signed for s3://{forged}/k but stored here"),
            ),
            Finding::new(FindingCode::LogMissing, "s3://b/l", "é".repeat(600_000)),
        ];
        let raw = VerificationReport::new(findings, 1, 1);
        let m = build(&raw, &ctx());
        assert!(
            m.publish_bytes() <= crate::alert::message::SNS_MAX_PUBLISH_BYTES,
            "{}",
            m.publish_bytes()
        );
        let machine: serde_json::Value = serde_json::from_str(&m.machine_json).unwrap();
        let listed = machine["findings"].as_array().unwrap();
        assert_eq!(
            listed.len(),
            2,
            "both findings are listed, not only counted"
        );
        for f in listed {
            let detail = f["detail"].as_str().unwrap();
            assert!(detail.len() <= MAX_FIELD_BYTES && detail.contains("bytes in all]"));
            assert!(f["object"].as_str().unwrap().len() <= MAX_FIELD_BYTES);
        }
        assert!(m.text.contains("DIGEST_MOVED") && m.text.contains("LOG_MISSING"));
        // Negative control: unclipped, the same findings do not fit a machine body's budget and
        // none would be listed.
        let raw_findings = ordered(&raw);
        let unclipped = VerdictJson {
            report: &raw,
            ctx: &ctx(),
            findings: &raw_findings,
        }
        .render(60 * 1024);
        let doc: serde_json::Value = serde_json::from_str(&unclipped).unwrap();
        assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
        assert_eq!(clip_field("short"), "short");
    }
}
