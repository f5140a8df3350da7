//! The S3 Batch Operations job itself: the CreateJob request a backfill sends, and DescribeJob.
//!
//! Field names and limits are the S3 Control API reference's (CreateJob, JobManifestGenerator,
//! S3JobManifestGenerator, JobManifestGeneratorFilter, KeyNameConstraint, JobReport,
//! LambdaInvokeOperation).

use std::collections::HashMap;

use aws_sdk_s3control::primitives::DateTime;
use aws_sdk_s3control::types::{
    GeneratedManifestFormat, JobManifest, JobManifestFieldName, JobManifestFormat,
    JobManifestGenerator, JobManifestGeneratorFilter, JobManifestLocation, JobManifestSpec,
    JobOperation, JobReport, JobReportFormat, JobReportScope, KeyNameConstraint,
    LambdaInvokeOperation, S3JobManifestGenerator, S3ManifestOutputLocation,
};

use super::manifest::WrittenManifest;

/// The key of the job's user arguments (`job.userArguments` in each schema 2.0 invocation).
pub(crate) const USER_ARGUMENT: &str = "trailwatchBackfill";

#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    #[error("building the CreateJob request: {0}")]
    Build(String),
    #[error("s3control:CreateJob: {0}")]
    Create(String),
    #[error("s3control:CreateJob answered without a job id")]
    NoJobId,
    #[error("s3control:DescribeJob {job}: {detail}")]
    Describe { job: String, detail: String },
}

/// Which objects the job runs over.
#[derive(Debug, Clone)]
pub(crate) enum ObjectSource {
    /// The job lists the bucket itself: one key prefix, optionally trimmed by creation time.
    Generator {
        prefix: String,
        created: Option<(i64, i64)>,
    },
    /// A CSV manifest written from a listing.
    Listed(WrittenManifest),
}

/// Everything a CreateJob request is made of.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub(crate) account: String,
    pub(crate) function_arn: String,
    pub(crate) role_arn: String,
    pub(crate) trail_bucket: String,
    pub(crate) source: ObjectSource,
    pub(crate) report_bucket: String,
    pub(crate) report_prefix: String,
    pub(crate) token: String,
    pub(crate) priority: i32,
    pub(crate) confirmation_required: bool,
    pub(crate) description: String,
    /// The JSON text passed as the `trailwatchBackfill` user argument.
    pub(crate) user_argument: String,
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn build_error(e: impl std::fmt::Display) -> JobError {
    JobError::Build(e.to_string())
}

pub(crate) async fn create(
    client: &aws_sdk_s3control::Client,
    spec: &JobSpec,
) -> Result<String, JobError> {
    let operation = JobOperation::builder()
        .lambda_invoke(
            LambdaInvokeOperation::builder()
                .function_arn(&spec.function_arn)
                // 2.0: the bucket by name and our user arguments (1.0 has neither).
                .invocation_schema_version("2.0")
                .set_user_arguments(Some(HashMap::from([(
                    USER_ARGUMENT.to_owned(),
                    spec.user_argument.clone(),
                )])))
                .build(),
        )
        .build();
    // Every task, not only the failed ones: a succeeded task's result string says what the
    // function did with the object (records, alerts, the digest's verdict), and `backfill
    // report` reconciles those rows with the job's counters. One row is ~300 bytes.
    let report = JobReport::builder()
        .enabled(true)
        .bucket(bucket_arn(&spec.report_bucket))
        .format(JobReportFormat::ReportCsv20180820)
        .prefix(&spec.report_prefix)
        .report_scope(JobReportScope::AllTasks)
        .build();
    let mut request = client
        .create_job()
        .account_id(&spec.account)
        .operation(operation)
        .report(report)
        .client_request_token(&spec.token)
        .priority(spec.priority)
        .role_arn(&spec.role_arn)
        .confirmation_required(spec.confirmation_required)
        .description(&spec.description);
    request = match &spec.source {
        ObjectSource::Generator { prefix, created } => {
            let mut filter = JobManifestGeneratorFilter::builder().key_name_constraint(
                KeyNameConstraint::builder()
                    .match_any_prefix(prefix)
                    .build(),
            );
            if let Some((after, before)) = created {
                filter = filter
                    .created_after(DateTime::from_secs(*after))
                    .created_before(DateTime::from_secs(*before));
            }
            let output = S3ManifestOutputLocation::builder()
                .bucket(bucket_arn(&spec.report_bucket))
                .manifest_prefix(format!("{}/manifests", spec.report_prefix))
                .manifest_format(GeneratedManifestFormat::S3InventoryReportCsv20211130)
                .build()
                .map_err(build_error)?;
            let generator = S3JobManifestGenerator::builder()
                .source_bucket(bucket_arn(&spec.trail_bucket))
                // The generated manifest is kept next to the report: what the job ran over.
                .enable_manifest_output(true)
                .manifest_output_location(output)
                .filter(filter.build())
                .build()
                .map_err(build_error)?;
            request.manifest_generator(JobManifestGenerator::S3JobManifestGenerator(generator))
        }
        ObjectSource::Listed(m) => {
            let manifest = JobManifest::builder()
                .spec(
                    JobManifestSpec::builder()
                        .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                        .fields(JobManifestFieldName::Bucket)
                        .fields(JobManifestFieldName::Key)
                        .build()
                        .map_err(build_error)?,
                )
                .location(
                    JobManifestLocation::builder()
                        .object_arn(format!("arn:aws:s3:::{}/{}", m.bucket, m.key))
                        .e_tag(&m.etag)
                        .build()
                        .map_err(build_error)?,
                )
                .build();
            request.manifest(manifest)
        }
    };
    let out = request.send().await.map_err(|e| {
        JobError::Create(aws_sdk_s3control::error::DisplayErrorContext(&e).to_string())
    })?;
    out.job_id().map(str::to_owned).ok_or(JobError::NoJobId)
}

pub(crate) async fn describe(
    client: &aws_sdk_s3control::Client,
    account: &str,
    job: &str,
) -> Result<aws_sdk_s3control::types::JobDescriptor, JobError> {
    let out = client
        .describe_job()
        .account_id(account)
        .job_id(job)
        .send()
        .await
        .map_err(|e| JobError::Describe {
            job: job.to_owned(),
            detail: aws_sdk_s3control::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.job.ok_or_else(|| JobError::Describe {
        job: job.to_owned(),
        detail: "no Job in the answer".into(),
    })
}
