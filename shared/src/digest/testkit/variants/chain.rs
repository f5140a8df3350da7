//! Variants about the chain and the layout: deletions, moves, links, restarts, keys, prefixes, regions, backfill.

use super::*;

pub(super) const VARIANTS: &[(&str, Builder)] = &[
    ("digest_deleted_middle", |k, mut c| {
        c.digests[3].stored = false;
        single(
            "empty digest #3 removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_and_logs_deleted_middle", |k, mut c| {
        c.digests[2].stored = false;
        for l in c.logs_of(2) {
            c.logs[l].stored = false;
        }
        single(
            "digest #2 and its logs removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_deleted_first", |k, mut c| {
        c.digests[0].stored = false;
        single(
            "starting digest removed",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing],
        )
    }),
    ("digest_deleted_head", |k, mut c| {
        let request = c.default_request();
        c.digests[5].stored = false;
        for l in c.logs_of(5) {
            c.logs[l].stored = false;
        }
        one_run(
            "newest digest and its logs removed",
            k,
            c,
            request,
            Verdict::Fail,
            &[ChainHeadStale],
        )
    }),
    ("digest_prev_signature_mismatch", |k, mut c| {
        c.digests[3].doc["previousDigestSignature"] = json!("ab".repeat(256));
        c.seal(3);
        c.relink_after(3);
        single(
            "signed with a wrong previousDigestSignature",
            k,
            c,
            Verdict::Fail,
            &[ChainPrevSignatureMismatch],
        )
    }),
    ("digest_prev_hash_mismatch", |k, mut c| {
        c.digests[3].doc["previousDigestHashValue"] = json!("00".repeat(32));
        c.seal(3);
        c.relink_after(3);
        single(
            "signed with a wrong previousDigestHashValue",
            k,
            c,
            Verdict::Fail,
            &[ChainPrevHashMismatch],
        )
    }),
    ("digest_moved_key", |k, mut c| {
        let end = c.span().0 + 3 * 3600 - 1;
        c.digests[2].key = c.layout.digest_key(end, false);
        single(
            "digest #2 renamed one second earlier",
            k,
            c,
            Verdict::Fail,
            &[DigestMissing, DigestMoved],
        )
    }),
    ("digest_copied_other_key", |k, mut c| {
        let head = c.digests[5].clone();
        let end = c.span().1 + 60;
        c.extra.push(TestObject {
            bucket: head.bucket,
            key: c.layout.digest_key(end, false),
            bytes: head.object,
            metadata: head.metadata,
        });
        single(
            "head copied to a newer key",
            k,
            c,
            Verdict::Fail,
            &[DigestMoved],
        )
    }),
    ("digest_other_bucket", |k, mut c| {
        let other = "copied-trail-bucket".to_owned();
        for d in &mut c.digests {
            d.bucket = other.clone();
        }
        for l in &mut c.logs {
            l.bucket = other.clone();
        }
        let mut request = c.default_request();
        request.bucket = other;
        one_run(
            "whole tree copied to another bucket",
            k,
            c,
            request,
            Verdict::Fail,
            &[DigestMoved],
        )
    }),
    ("gap_restart", |k, _| {
        let options = ChainOptions {
            logs_per_digest: vec![3, 2, 4],
            ..ChainOptions::default()
        };
        let mut c = TestChain::build(TrailLayout::default(), k.genuine.clone(), &options);
        let restart = c.span().1 + 5 * 3600 + 13 * 60 + 26;
        for i in 0..3 {
            let start = restart + i * 3600;
            c.push_digest(start, start + 3600, 2, 4_000, i == 0);
        }
        single(
            "StopLogging, restart 5h13m later with a new chain",
            k,
            c,
            Verdict::Pass,
            &[ChainRestart],
        )
    }),
    ("key_rotation", |k, mut c| {
        c.keys.push(k.rotated.clone());
        c.digests[4].signer = 1;
        c.digests[5].signer = 1;
        c.seal(4);
        c.relink_after(4);
        single(
            "#4 and #5 signed by a second published key",
            k,
            c,
            Verdict::Pass,
            &[],
        )
    }),
    ("pubkey_spki", |k, _| {
        let mut spki = k.genuine.clone();
        spki.publish_spki = true;
        let c = TestChain::build(
            TrailLayout::default(),
            spki.clone(),
            &ChainOptions::default(),
        );
        let request = c.default_request();
        let mut case = one_run(
            "key published as SPKI DER",
            k,
            c,
            request,
            Verdict::Pass,
            &[KeySpkiEncoding],
        );
        case.published = vec![("us-east-1".into(), spki)];
        case
    }),
    ("time_window_partial", |k, c| {
        let (start, _) = c.span();
        let request = c
            .layout
            .request(start + 2 * 3600 + 60, start + 4 * 3600 + 300);
        one_run(
            "window covers #2..#3 (#4 by the +1 h rule)",
            k,
            c,
            request,
            Verdict::Pass,
            &[],
        )
    }),
    ("prefixed", |k, _| {
        let layout = TrailLayout {
            prefix: Some("security/cloudtrail".into()),
            ..TrailLayout::default()
        };
        let c = TestChain::build(layout, k.genuine.clone(), &ChainOptions::default());
        single("S3KeyPrefix security/cloudtrail", k, c, Verdict::Pass, &[])
    }),
    ("org_trail", |k, _| {
        let layout = TrailLayout {
            organization_id: Some("o-exampleorgid".into()),
            account: "210987654321".into(),
            trail_name: "org-trail".into(),
            ..TrailLayout::default()
        };
        let c = TestChain::build(layout, k.genuine.clone(), &ChainOptions::default());
        single(
            "organization trail, member account",
            k,
            c,
            Verdict::Pass,
            &[],
        )
    }),
    ("backfill", |k, mut c| {
        let (start, end) = c.span();
        // It re-covers digest #1's window and lists the same logs (not duplicates: another chain).
        let i = c.push_backfill(start + 3600, start + 2 * 3600, end + 60);
        c.digests[i].doc["logFiles"] = c.digests[1].doc["logFiles"].clone();
        c.seal(i);
        single(
            "plus one _backfill digest re-listing #1's logs",
            k,
            c,
            Verdict::Pass,
            &[],
        )
    }),
    ("backfill_missing_generation_ts", |k, mut c| {
        let (start, end) = c.span();
        let i = c.push_backfill(start + 3600, start + 2 * 3600, end + 60);
        c.digests[i].metadata.remove(META_BACKFILL_TIMESTAMP);
        single(
            "backfill digest without its generation timestamp",
            k,
            c,
            Verdict::Fail,
            &[DigestBackfillMetadata],
        )
    }),
    ("time_discontinuity", |k, mut c| {
        let shifted = c.digests[4].doc["digestStartTime"]
            .as_str()
            .map(str::to_owned)
            .unwrap();
        let t =
            time::OffsetDateTime::parse(&shifted, &time::format_description::well_known::Rfc3339)
                .unwrap();
        c.digests[4].doc["digestStartTime"] = json!(iso(t.unix_timestamp() + 600));
        c.seal(4);
        c.relink_after(4);
        single(
            "signed digest starts 10 min after its predecessor ends",
            k,
            c,
            Verdict::Warn,
            &[ChainTimeDiscontinuity],
        )
    }),
    ("multi_region", |k, c| {
        let eu_layout = TrailLayout {
            region: "eu-west-1".into(),
            ..TrailLayout::default()
        };
        let eu = TestChain::build(eu_layout, k.eu.clone(), &ChainOptions::default());
        multi_region(
            "us-east-1 and eu-west-1 chains, each with its own key",
            k,
            c,
            eu,
            &[],
        )
    }),
    ("multi_region_wrong_region_key", |k, c| {
        let eu_layout = TrailLayout {
            region: "eu-west-1".into(),
            ..TrailLayout::default()
        };
        let eu = TestChain::build(eu_layout, k.genuine.clone(), &ChainOptions::default());
        multi_region(
            "eu-west-1 signed with the us-east-1 key",
            k,
            c,
            eu,
            &[DigestKeyNotFound],
        )
    }),
];
