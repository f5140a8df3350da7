//! The data-signing string (`docs/specs/digest-validation.md` §4): the exact bytes the digest
//! signature covers.

use super::model::DigestDocument;

/// `digestEndTime \n digestS3Bucket/digestS3Object \n hex(sha256(content)) \n previousSignature`,
/// with the literal `null` for a starting digest, LF separators and no trailing newline. All
/// values are taken verbatim from the JSON, never from where the object was read.
pub fn signing_string(doc: &DigestDocument, content_sha256: &[u8; 32]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        doc.end_time,
        doc.s3_bucket,
        doc.s3_object,
        hex::encode(content_sha256),
        doc.previous_signature.as_deref().unwrap_or("null")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(prev_sig: Option<&str>) -> DigestDocument {
        DigestDocument {
            account_id: "123456789012".into(),
            start_time: "2026-03-14T08:12:09Z".into(),
            start: 0,
            end_time: "2026-03-14T09:12:09Z".into(),
            end: 0,
            s3_bucket: "bkt".into(),
            s3_object: "AWSLogs/x.json.gz".into(),
            public_key_fingerprint: String::new(),
            signature_algorithm: "SHA256withRSA".into(),
            previous_signature: prev_sig.map(str::to_owned),
            previous: None,
            log_files: vec![],
        }
    }

    #[test]
    fn exact_bytes_with_and_without_previous_signature() {
        let hash = [0xabu8; 32];
        let hex = "ab".repeat(32);
        assert_eq!(
            signing_string(&doc(Some("27783d")), &hash),
            format!("2026-03-14T09:12:09Z\nbkt/AWSLogs/x.json.gz\n{hex}\n27783d")
        );
        let start = signing_string(&doc(None), &hash);
        assert!(start.ends_with(&format!("{hex}\nnull")));
        assert!(!start.contains('\r') && !start.ends_with('\n'));
        // An empty previous signature is not "null" (ctl_first_prev_sig_empty).
        assert!(signing_string(&doc(Some("")), &hash).ends_with(&format!("{hex}\n")));
    }
}
