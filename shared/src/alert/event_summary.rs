//! The few fields of a CloudTrail record that an engineer needs to triage an alert: when, what,
//! who, from where, with which outcome, and the id to look it up.
//!
//! Only matching records that end up in an alert are summarised (at most
//! `MAX_EVENTS_PER_ALERT` per rule and file), so this parses leniently and never fails: a record
//! with odd field types still gives a summary, a broken one gives an empty summary with a note.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest value kept per field; CloudTrail error messages and user agents can be kilobytes.
pub const MAX_FIELD_CHARS: usize = 512;

/// The triage fields of one CloudTrail record. Each is the field's text on one line, at most
/// [`MAX_FIELD_CHARS`] characters; a value of another JSON type is kept as its JSON text; `None`
/// when the record lacks the field or has `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSummary {
    /// `eventTime`: when the API call was made, as CloudTrail writes it (ISO 8601, UTC).
    pub event_time: Option<String>,
    /// `eventSource`: the service called, e.g. `iam.amazonaws.com`.
    pub event_source: Option<String>,
    /// `eventName`: the API action, e.g. `StopLogging`.
    pub event_name: Option<String>,
    /// `awsRegion`: the region the request was made to.
    pub aws_region: Option<String>,
    /// `recipientAccountId`: the account that received the call (differs from the caller's account
    /// for cross-account access).
    pub recipient_account_id: Option<String>,
    /// `userIdentity.type`.
    pub principal_type: Option<String>,
    /// `userIdentity.arn`, else `userName`, else `principalId`.
    pub principal: Option<String>,
    /// `userIdentity.invokedBy`: the AWS service that made the call on the principal's behalf.
    pub invoked_by: Option<String>,
    /// `sourceIPAddress`: the caller's IP address, or a service name for calls made by AWS
    /// services.
    pub source_ip: Option<String>,
    /// `userAgent`: the tool or SDK that made the call (console, CLI, SDK version).
    pub user_agent: Option<String>,
    /// `errorCode`: set when the call failed, e.g. `AccessDenied`.
    pub error_code: Option<String>,
    /// `errorMessage`: the failure's explanation, when the call failed.
    pub error_message: Option<String>,
    /// `eventID`: the record's unique id, to look it up in CloudTrail event history or Athena.
    pub event_id: Option<String>,
    /// Set when the record could not be read as a JSON object.
    pub unreadable: Option<String>,
}

#[derive(Deserialize)]
struct RecordView<'a> {
    #[serde(rename = "eventTime", borrow)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<&'a RawValue>,
    #[serde(rename = "eventName", borrow)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "awsRegion", borrow)]
    aws_region: Option<&'a RawValue>,
    #[serde(rename = "recipientAccountId", borrow)]
    recipient_account_id: Option<&'a RawValue>,
    #[serde(rename = "userIdentity", borrow)]
    user_identity: Option<&'a RawValue>,
    #[serde(rename = "sourceIPAddress", borrow)]
    source_ip: Option<&'a RawValue>,
    #[serde(rename = "userAgent", borrow)]
    user_agent: Option<&'a RawValue>,
    #[serde(rename = "errorCode", borrow)]
    error_code: Option<&'a RawValue>,
    #[serde(rename = "errorMessage", borrow)]
    error_message: Option<&'a RawValue>,
    #[serde(rename = "eventID", borrow)]
    event_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct IdentityView<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    arn: Option<&'a RawValue>,
    #[serde(rename = "userName", borrow)]
    user_name: Option<&'a RawValue>,
    #[serde(rename = "principalId", borrow)]
    principal_id: Option<&'a RawValue>,
    #[serde(rename = "invokedBy", borrow)]
    invoked_by: Option<&'a RawValue>,
}

impl EventSummary {
    /// Summarises one record's JSON text. Never fails.
    pub fn from_record(json: &str) -> Self {
        let view: RecordView<'_> = match serde_json::from_str(json) {
            Ok(v) => v,
            Err(e) => {
                return Self {
                    unreadable: Some(e.to_string()),
                    ..Self::default()
                };
            }
        };
        let mut summary = Self {
            event_time: text(view.event_time),
            event_source: text(view.event_source),
            event_name: text(view.event_name),
            aws_region: text(view.aws_region),
            recipient_account_id: text(view.recipient_account_id),
            source_ip: text(view.source_ip),
            user_agent: text(view.user_agent),
            error_code: text(view.error_code),
            error_message: text(view.error_message),
            event_id: text(view.event_id),
            ..Self::default()
        };
        if let Some(identity) = view.user_identity {
            // A userIdentity that is not an object (never seen, but not ours to trust) is shown raw.
            match serde_json::from_str::<IdentityView<'_>>(identity.get()) {
                Ok(id) => {
                    summary.principal_type = text(id.kind);
                    summary.principal = text(id.arn)
                        .or_else(|| text(id.user_name))
                        .or_else(|| text(id.principal_id));
                    summary.invoked_by = text(id.invoked_by);
                }
                Err(_) => summary.principal = text(Some(identity)),
            }
        }
        summary
    }

    /// `IAMUser arn:aws:iam::1:user/bob (invoked by ec2.amazonaws.com)`, or `None` when unknown.
    pub fn principal_line(&self) -> Option<String> {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(t) = &self.principal_type {
            parts.push(t);
        }
        if let Some(p) = &self.principal {
            parts.push(p);
        }
        let mut line = parts.join(" ");
        if let Some(by) = &self.invoked_by {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str("(invoked by ");
            line.push_str(by);
            line.push(')');
        }
        (!line.is_empty()).then_some(line)
    }

    /// `eventSource eventName`, e.g. `cloudtrail.amazonaws.com StopLogging`.
    pub fn action_line(&self) -> Option<String> {
        match (&self.event_source, &self.event_name) {
            (Some(s), Some(n)) => Some(format!("{s} {n}")),
            (Some(s), None) => Some(s.clone()),
            (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        }
    }

    /// `errorCode: errorMessage`, either alone, or `None` for a successful call.
    pub fn error_line(&self) -> Option<String> {
        match (&self.error_code, &self.error_message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (Some(c), None) => Some(c.clone()),
            (None, Some(m)) => Some(m.clone()),
            (None, None) => None,
        }
    }
}

/// A field's display text: strings unquoted, `null` as absent, anything else as compact JSON;
/// one line, at most [`MAX_FIELD_CHARS`] characters.
fn text(raw: Option<&RawValue>) -> Option<String> {
    let raw = raw?.get();
    let value = if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned())
    } else if raw == "null" {
        return None;
    } else {
        raw.to_owned()
    };
    Some(one_line_capped(&value, MAX_FIELD_CHARS))
}

/// `value` on one line (control characters as spaces), cut to `max` characters with `...`.
pub fn one_line_capped(value: &str, max: usize) -> String {
    let mut out = String::with_capacity(value.len().min(max + 3));
    for (n, c) in value.chars().enumerate() {
        if n == max {
            out.push_str("...");
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOP_LOGGING: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"},"eventTime":"2023-07-10T12:00:42Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"192.168.10.20","userAgent":"stratus-red-team_1e5be608-6e03-4283-8d27-d37452a50f25","errorCode":"TrailNotFoundException","errorMessage":"Unknown trail: arn:aws:cloudtrail:us-east-1:123837392027:trail/stratus-red-team-ct-stop-trail-qzbgnfqisx for the user: 123837392027","requestParameters":{"name":"stratus-red-team-ct-stop-trail-qzbgnfqisx"},"responseElements":null,"requestID":"7c6cea2f-13c4-4048-8781-4589b8a2ee46","eventID":"9790ee84-ed2b-4866-83d1-f32af0dd4cd2","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123837392027","eventCategory":"Management"}"#;

    #[test]
    fn summarises_a_real_record() {
        let s = EventSummary::from_record(STOP_LOGGING);
        assert_eq!(s.event_time.as_deref(), Some("2023-07-10T12:00:42Z"));
        assert_eq!(
            s.action_line().as_deref(),
            Some("cloudtrail.amazonaws.com StopLogging")
        );
        assert_eq!(
            s.principal_line().as_deref(),
            Some("IAMUser arn:aws:iam::123837392027:user/bert-jan")
        );
        assert_eq!(s.source_ip.as_deref(), Some("192.168.10.20"));
        assert!(
            s.error_line()
                .unwrap()
                .starts_with("TrailNotFoundException: Unknown trail: arn:aws:cloudtrail")
        );
        assert_eq!(
            s.event_id.as_deref(),
            Some("9790ee84-ed2b-4866-83d1-f32af0dd4cd2")
        );
        assert_eq!(s.recipient_account_id.as_deref(), Some("123837392027"));
        assert_eq!(s.unreadable, None);
    }

    #[test]
    fn principal_falls_back_to_user_name_then_principal_id_and_shows_invoked_by() {
        let s = EventSummary::from_record(
            r#"{"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com","principalId":"P1"}}"#,
        );
        assert_eq!(
            s.principal_line().as_deref(),
            Some("AWSService P1 (invoked by ec2.amazonaws.com)")
        );
        let s =
            EventSummary::from_record(r#"{"userIdentity":{"type":"IAMUser","userName":"bob"}}"#);
        assert_eq!(s.principal_line().as_deref(), Some("IAMUser bob"));
        let s = EventSummary::from_record(r#"{"eventName":"X"}"#);
        assert_eq!(s.principal_line(), None);
        assert_eq!(s.action_line().as_deref(), Some("X"));
    }

    #[test]
    fn odd_types_are_shown_as_json_and_null_as_absent() {
        let s = EventSummary::from_record(
            r#"{"errorCode":404,"errorMessage":null,"userIdentity":"weird","userAgent":{"a":1}}"#,
        );
        assert_eq!(s.error_line().as_deref(), Some("404"));
        assert_eq!(s.principal.as_deref(), Some("weird"));
        assert_eq!(s.user_agent.as_deref(), Some(r#"{"a":1}"#));
    }

    #[test]
    fn long_and_multiline_values_are_capped_on_one_line() {
        let long = format!(r#"{{"errorMessage":"line1\nline2 {}"}}"#, "é".repeat(2000));
        let s = EventSummary::from_record(&long);
        let m = s.error_message.unwrap();
        assert!(!m.contains('\n'));
        assert!(m.ends_with("..."));
        assert_eq!(m.chars().count(), MAX_FIELD_CHARS + 3);
    }

    #[test]
    fn unreadable_records_give_an_empty_summary_with_the_reason() {
        let s = EventSummary::from_record("{not json");
        assert!(s.unreadable.is_some());
        assert_eq!(s.action_line(), None);
        let s = EventSummary::from_record(r#"{"eventName":"A","eventName":"B"}"#);
        assert!(s.unreadable.unwrap().contains("duplicate"));
    }
}
