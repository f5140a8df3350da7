//! Composition root: configuration, rules and clients once, then the Lambda runtime loop.
#![forbid(unsafe_code)]

use std::sync::Arc;

use alerter::config::AlerterConfig;
use alerter::handler::Alerter;
use anyhow::Context as _;
use trailwatch_lambda_common::security_hub::{SecurityHubPublisher, WithSecurityHub};
use trailwatch_lambda_common::sns::SnsPublisher;
use trailwatch_lambda_common::sns::once::AlertLedger;
use trailwatch_lambda_common::state::{Store, record_ttl_secs};
use trailwatch_lambda_common::{init_tracing, load_sdk_config, s3_client};
use trailwatch_shared::records::ReaderLimits;
use trailwatch_shared::rules::config::{load_rules, parse_rules};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let config = AlerterConfig::from_env()?;
    let sdk = load_sdk_config().await;
    let s3 = s3_client(&sdk);
    // The state table (STATE_TABLE), once: which alerts of which file version are out.
    let ledger = AlertLedger::new(Store::from_env(&sdk)?, record_ttl_secs()?);

    // Rules are validated as a whole before the first event: a bad rule fails cold start.
    let mut custom = Vec::new();
    if let Some(text) = &config.custom_rules_inline {
        custom.push((
            "CUSTOM_RULES".to_owned(),
            parse_rules("CUSTOM_RULES", text)?,
        ));
    }
    if let Some(location) = &config.custom_rules_s3 {
        let text = alerter::rules_source::read_rules_object(&s3, location)
            .await
            .with_context(|| format!("CUSTOM_RULES_S3_URI: cannot read {location}"))?;
        let name = location.to_string();
        custom.push((name.clone(), parse_rules(&name, &text)?));
    }
    let rules = load_rules(&config.rule_sets, &custom)?;
    alerter::window::require_state_table(&rules, matches!(ledger.store, Store::Dynamo(_)))?;
    tracing::info!(rules = ?rules.rules().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), "rules loaded");
    if !rules.compiled.has_prefilter() {
        // Not an error, but every record now costs a full scan (about twice the CPU).
        tracing::warn!(
            "a rule requires no fixed string (NOT EXISTS, !=, a numeric comparison, a regex): \
             the raw-text prefilter is off and every record is scanned; README \"Performance\""
        );
    }

    // SNS, and each alert as a Security Hub finding too when SECURITY_HUB_FINDINGS=true.
    let publisher = WithSecurityHub::new(
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone()),
        SecurityHubPublisher::from_env(&sdk, "alerter")?,
    );
    let state = Arc::new(Alerter {
        s3,
        publisher: Arc::new(publisher),
        rules: Arc::new(rules),
        limits: ReaderLimits::default(),
        ledger: Arc::new(ledger),
        config,
    });
    trailwatch_lambda_common::runtime::serve(state, |state, payload| async move {
        state.handle(payload).await
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
