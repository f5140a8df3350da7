//! Where CloudTrail's public keys come from: `ListPublicKeys` in the digest's own region (cached
//! per region and fingerprint for the life of the process), or a `ListPublicKeys` response body
//! saved to a file (`PUBLIC_KEYS_FILE`, `--public-keys`; tests and air-gapped use).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudtrail::primitives::DateTime;
use trailwatch_shared::digest::{
    KeySourceError, PublicKeyRecord, PublicKeySource, StaticKeySource, parse_list_public_keys,
};

/// How far around a digest's end time keys are looked up (validity windows overlap by days).
const LOOKUP_MARGIN_SECS: i64 = 2 * 3600;

/// `cloudtrail:ListPublicKeys`, one client per region, with a cache that outlives invocations.
#[derive(Debug)]
pub struct CloudTrailKeySource {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, aws_sdk_cloudtrail::Client>>,
    cache: Mutex<HashMap<(String, String), PublicKeyRecord>>,
}

impl CloudTrailKeySource {
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            clients: Mutex::default(),
            cache: Mutex::default(),
        }
    }

    fn client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let config = aws_sdk_cloudtrail::config::Builder::from(&self.sdk)
                    .region(Region::new(region.to_owned()))
                    .build();
                aws_sdk_cloudtrail::Client::from_conf(config)
            })
            .clone()
    }

    fn cached(&self, region: &str, fingerprint: &str) -> Option<PublicKeyRecord> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&(region.to_owned(), fingerprint.to_ascii_lowercase()))
            .cloned()
    }

    async fn fetch(&self, region: &str, at: i64) -> Result<Vec<PublicKeyRecord>, KeySourceError> {
        let client = self.client(region);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = client
                .list_public_keys()
                .start_time(DateTime::from_secs(at - LOOKUP_MARGIN_SECS))
                .end_time(DateTime::from_secs(at + LOOKUP_MARGIN_SECS))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    KeySourceError(format!(
                        "ListPublicKeys in {region}: {}",
                        aws_sdk_cloudtrail::error::DisplayErrorContext(&e)
                    ))
                })?;
            keys.extend(out.public_key_list().iter().filter_map(|k| {
                Some(PublicKeyRecord {
                    fingerprint: k.fingerprint()?.to_owned(),
                    // The SDK already base64-decoded the blob: this is the DER.
                    der: k.value()?.as_ref().to_vec(),
                    validity_start: k.validity_start_time().map(|t| t.secs()),
                    validity_end: k.validity_end_time().map(|t| t.secs()),
                })
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(keys)
    }
}

impl PublicKeySource for CloudTrailKeySource {
    fn public_keys(
        &self,
        region: &str,
        fingerprint: &str,
        at: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyRecord>, KeySourceError>> + Send {
        let (region, fingerprint) = (region.to_owned(), fingerprint.to_owned());
        async move {
            if let Some(hit) = self.cached(&region, &fingerprint) {
                return Ok(vec![hit]);
            }
            let keys = self.fetch(&region, at).await?;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for k in &keys {
                cache.insert(
                    (region.clone(), k.fingerprint.to_ascii_lowercase()),
                    k.clone(),
                );
            }
            Ok(keys)
        }
    }
}

/// Either key source, chosen at start-up.
#[derive(Debug)]
pub enum KeySource {
    Api(Box<CloudTrailKeySource>),
    File(StaticKeySource),
}

impl KeySource {
    /// Keys from a `ListPublicKeys` response body saved as JSON (served for every region).
    pub fn from_file(path: &str) -> Result<KeySource, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let keys = parse_list_public_keys(&text).map_err(|e| format!("{path}: {e}"))?;
        Ok(KeySource::File(StaticKeySource::for_every_region(keys)))
    }
}

impl PublicKeySource for KeySource {
    fn public_keys(
        &self,
        region: &str,
        fingerprint: &str,
        at: i64,
    ) -> impl Future<Output = Result<Vec<PublicKeyRecord>, KeySourceError>> + Send {
        let (region, fingerprint) = (region.to_owned(), fingerprint.to_owned());
        async move {
            match self {
                KeySource::Api(api) => api.public_keys(&region, &fingerprint, at).await,
                KeySource::File(file) => file.public_keys(&region, &fingerprint, at).await,
            }
        }
    }
}
