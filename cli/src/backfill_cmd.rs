//! `trailwatch backfill`: runs a function over a trail's history on S3 Batch Operations.
//!
//! `start` creates a `LambdaInvoke` job (invocation schema 2.0) over the objects of a range,
//! with the operator's credentials: `s3control:CreateJob` (and `iam:PassRole` on the stack's
//! Batch Operations role), plus, for a listed manifest, `s3:ListBucket` on the trail bucket and
//! `s3:PutObject` on the report prefix. `status` and `report` read the job back
//! (`s3control:DescribeJob`, `s3:GetObject` on the report). See README "Backfilling history".

mod job;
mod manifest;
mod plan;
mod report;
mod status;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use time::OffsetDateTime;

use crate::verify_cmd::parse_time;
use job::{JobSpec, ObjectSource};
use plan::{Layout, PlanError, TargetFunction};

#[derive(clap::Args)]
pub(crate) struct BackfillArgs {
    #[command(subcommand)]
    command: BackfillCommand,
}

#[derive(clap::Subcommand)]
enum BackfillCommand {
    /// Create the job (it waits for confirmation unless --confirm).
    Start(Box<StartArgs>),
    /// Show a job's progress: tasks succeeded / failed / total.
    Status(JobArgs),
    /// Summarise a finished job's completion report: failures by cause.
    Report(JobArgs),
}

/// How the job finds its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ManifestChoice {
    /// The job's generator when one key prefix is exactly the range (a day, a whole month, a
    /// whole year of one account and region); a listed CSV manifest otherwise.
    Auto,
    /// Always the generator: the range's common prefix, trimmed by object creation time (only
    /// right when the objects' creation time is their delivery time: not for copied objects).
    Generator,
    /// Always a CSV manifest listed now and written under the report prefix.
    Listing,
}

#[derive(clap::Args)]
struct StartArgs {
    /// The function the job invokes.
    #[arg(long, value_enum)]
    function: TargetFunction,
    /// ARN of that function (stack outputs AlerterFunctionArn, DigestVerifierFunctionArn,
    /// ForwarderFunctionArn).
    #[arg(long = "function-arn")]
    function_arn: String,
    /// The Batch Operations role (stack output BatchOperationsRoleArn).
    #[arg(long = "role-arn")]
    role_arn: String,
    /// The account that owns the job (S3 Control's AccountId): the stack's account.
    #[arg(long)]
    account: String,
    /// Bucket the trail delivers to.
    #[arg(long)]
    bucket: String,
    /// The trail's S3 key prefix.
    #[arg(long)]
    prefix: Option<String>,
    /// Organization id, for organization trails (`AWSLogs/<o-id>/<account>/…`).
    #[arg(long = "organization-id")]
    organization_id: Option<String>,
    /// Only this account's files (default: every account under AWSLogs/, listed).
    #[arg(long = "account-id")]
    account_id: Option<String>,
    /// Only this region's files (default: every region, listed).
    #[arg(long)]
    region: Option<String>,
    /// Start of the range (whole UTC days): RFC 3339, a date, or Unix seconds.
    #[arg(long = "start-time", value_parser = parse_time)]
    start_time: i64,
    /// End of the range (exclusive), same formats.
    #[arg(long = "end-time", value_parser = parse_time)]
    end_time: i64,
    /// Bucket of the completion report and of a listed manifest (stack output
    /// BatchOperationsReportBucket).
    #[arg(long = "report-bucket")]
    report_bucket: String,
    /// Key prefix of the report and manifests (stack output BatchOperationsReportPrefix).
    #[arg(long = "report-prefix", default_value = "trailwatch-backfill")]
    report_prefix: String,
    /// Job priority (higher runs first).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..))]
    priority: i32,
    /// Run the job as soon as it is ready instead of waiting for confirmation.
    #[arg(long)]
    confirm: bool,
    #[arg(long, value_enum, default_value_t = ManifestChoice::Auto)]
    manifest: ManifestChoice,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct JobArgs {
    /// The job id `backfill start` printed.
    job_id: String,
    /// The account that owns the job.
    #[arg(long)]
    account: String,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match args.command {
            BackfillCommand::Start(a) => start(*a).await,
            BackfillCommand::Status(a) => show_status(a).await,
            BackfillCommand::Report(a) => show_report(a).await,
        }
    })
}

struct Clients {
    s3: aws_sdk_s3::Client,
    control: aws_sdk_s3control::Client,
}

async fn clients() -> Clients {
    let sdk = trailwatch_lambda_common::load_sdk_config().await;
    Clients {
        s3: trailwatch_lambda_common::s3_client(&sdk),
        control: aws_sdk_s3control::Client::new(&sdk),
    }
}

async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let (first, last) = plan::day_span(args.start_time, args.end_time)?;
    if args.function == TargetFunction::Forwarder {
        // The job covers whole day folders: its oldest file can be as old as the first
        // day's midnight, not only the start time.
        let oldest = plan::created_window(first, last).0;
        plan::check_forwarder_window(oldest, OffsetDateTime::now_utc().unix_timestamp())?;
    }
    let report_prefix = args.report_prefix.trim_matches('/').to_owned();
    let layout = Layout {
        prefix: args.prefix.clone(),
        organization_id: args.organization_id.clone(),
    };
    let folder = args.function.folder();
    let single_root = match (&args.account_id, &args.region) {
        (Some(a), Some(r)) => Some(layout.region_root(a, folder, r)),
        _ => None,
    };
    let use_generator = match (args.manifest, &single_root) {
        (ManifestChoice::Listing, _) => false,
        (ManifestChoice::Generator, None) => return Err(PlanError::GeneratorNeedsLayout.into()),
        (ManifestChoice::Generator, Some(_)) => true,
        (ManifestChoice::Auto, root) => root.is_some() && plan::exact_folder(first, last).is_some(),
    };
    let token = plan::request_token(&[
        ("account", &args.account),
        ("function", args.function.name()),
        ("function-arn", &args.function_arn),
        ("role-arn", &args.role_arn),
        ("bucket", &args.bucket),
        ("prefix", args.prefix.as_deref().unwrap_or("")),
        (
            "organization-id",
            args.organization_id.as_deref().unwrap_or(""),
        ),
        ("account-id", args.account_id.as_deref().unwrap_or("")),
        ("region", args.region.as_deref().unwrap_or("")),
        ("start", &args.start_time.to_string()),
        ("end", &args.end_time.to_string()),
        ("report-bucket", &args.report_bucket),
        ("report-prefix", &report_prefix),
        ("priority", &args.priority.to_string()),
        ("confirm", &args.confirm.to_string()),
        ("generator", &use_generator.to_string()),
    ]);
    let aws = clients().await;
    let (source, prefixes) = if use_generator {
        let root = single_root.expect("the generator is chosen only with a single root");
        match plan::exact_folder(first, last) {
            Some(exact) => {
                let prefix = format!("{root}{exact}");
                (
                    ObjectSource::Generator {
                        prefix: prefix.clone(),
                        created: None,
                    },
                    vec![prefix],
                )
            }
            None => {
                let prefix = format!("{root}{}", plan::common_folder(first, last));
                (
                    ObjectSource::Generator {
                        prefix: prefix.clone(),
                        created: Some(plan::created_window(first, last)),
                    },
                    vec![prefix],
                )
            }
        }
    } else {
        let roots = region_roots(&aws.s3, &args, &layout, folder).await?;
        let prefixes: Vec<String> = roots
            .iter()
            .flat_map(|root| plan::day_prefixes(root, first, last))
            .collect();
        // The token names the manifest: a repeated command finds the one it wrote and sends the
        // same request (S3 then returns the job it created) without rewriting it under its job.
        let key = format!("{report_prefix}/manifests/{token}.csv");
        let written = match manifest::existing(&aws.s3, &args.report_bucket, &key).await? {
            Some(earlier) => earlier,
            None => {
                let keys = manifest::list_keys(&aws.s3, &args.bucket, &prefixes).await?;
                anyhow::ensure!(
                    !keys.is_empty(),
                    "no objects under the {} prefix(es) of the range (first: {}): nothing to run",
                    prefixes.len(),
                    prefixes.first().map(String::as_str).unwrap_or("none")
                );
                manifest::write(
                    &aws.s3,
                    &args.report_bucket,
                    &key,
                    manifest::csv(&args.bucket, &keys),
                    keys.len(),
                )
                .await?
            }
        };
        (ObjectSource::Listed(written), prefixes)
    };
    let user_argument = json!({
        "function": args.function.name(),
        "start": plan::iso(args.start_time),
        "end": plan::iso(args.end_time),
        "token": token,
    })
    .to_string();
    let spec = JobSpec {
        account: args.account.clone(),
        function_arn: args.function_arn.clone(),
        role_arn: args.role_arn.clone(),
        trail_bucket: args.bucket.clone(),
        source: source.clone(),
        report_bucket: args.report_bucket.clone(),
        report_prefix: report_prefix.clone(),
        token: token.clone(),
        priority: args.priority,
        confirmation_required: !args.confirm,
        description: format!(
            "trailwatch backfill {} {}..{}",
            args.function.name(),
            plan::iso(args.start_time),
            plan::iso(args.end_time)
        ),
        user_argument,
    };
    let job_id = job::create(&aws.control, &spec).await?;
    let manifest_json = match &source {
        ObjectSource::Generator { prefix, created } => json!({
            "kind": "generator",
            "prefix": prefix,
            "createdAfter": created.map(|c| plan::iso(c.0)),
            "createdBefore": created.map(|c| plan::iso(c.1)),
        }),
        ObjectSource::Listed(m) => json!({
            "kind": "listing",
            "location": format!("s3://{}/{}", m.bucket, m.key),
            "etag": m.etag,
            "objects": m.objects,
            "prefixes": prefixes.len(),
        }),
    };
    if args.json {
        println!(
            "{}",
            json!({
                "jobId": job_id,
                "clientRequestToken": token,
                "function": args.function.name(),
                "manifest": manifest_json,
                "confirmationRequired": !args.confirm,
                "report": format!("s3://{}/{report_prefix}/job-{job_id}/", args.report_bucket),
            })
        );
    } else {
        println!("job {job_id} created ({} backfill)", args.function.name());
        match &source {
            ObjectSource::Generator { prefix, created } => {
                println!(
                    "objects: listed by the job under s3://{}/{prefix}",
                    args.bucket
                );
                if let Some((after, before)) = created {
                    println!(
                        "         created in [{}, {})",
                        plan::iso(*after),
                        plan::iso(*before)
                    );
                }
            }
            ObjectSource::Listed(m) => println!(
                "objects: {} from {} day folder(s), manifest s3://{}/{}",
                m.objects,
                prefixes.len(),
                m.bucket,
                m.key
            ),
        }
        println!("request token {token} (running this command again returns this job)");
        if !args.confirm {
            println!(
                "the job waits for confirmation: aws s3control update-job-status --account-id {} \
                 --job-id {job_id} --requested-job-status Ready",
                args.account
            );
        }
        println!(
            "progress: trailwatch backfill status {job_id} --account {}",
            args.account
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The `ACCOUNT/FOLDER/REGION/` roots a listing covers: the given account and region, or every
/// one found under `AWSLogs/`.
async fn region_roots(
    s3: &aws_sdk_s3::Client,
    args: &StartArgs,
    layout: &Layout,
    folder: &str,
) -> anyhow::Result<Vec<String>> {
    let accounts = match &args.account_id {
        Some(a) => vec![a.clone()],
        None => {
            let children = manifest::child_folders(s3, &args.bucket, &layout.logs_root()).await?;
            let (accounts, others): (Vec<String>, Vec<String>) = children
                .into_iter()
                .partition(|name| name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()));
            // An organization trail writes AWSLogs/o-…/ACCOUNT/: its folders are not accounts.
            if let Some(org) = others.iter().find(|n| n.starts_with("o-")) {
                anyhow::ensure!(
                    !accounts.is_empty() || args.organization_id.is_some(),
                    "s3://{}/{} holds an organization trail's folder {org}/: add \
                     --organization-id {org}",
                    args.bucket,
                    layout.logs_root()
                );
            }
            accounts
        }
    };
    let mut roots = Vec::new();
    for account in accounts {
        let regions = match &args.region {
            Some(r) => vec![r.clone()],
            None => {
                let base = format!("{}{account}/{folder}/", layout.logs_root());
                manifest::child_folders(s3, &args.bucket, &base).await?
            }
        };
        roots.extend(
            regions
                .iter()
                .map(|r| layout.region_root(&account, folder, r)),
        );
    }
    Ok(roots)
}

async fn show_status(args: JobArgs) -> anyhow::Result<ExitCode> {
    let aws = clients().await;
    let job = job::describe(&aws.control, &args.account, &args.job_id).await?;
    let progress = status::Progress::from_job(&job);
    if args.json {
        println!("{}", progress.json());
    } else {
        print!("{}", progress.render(std::io::stdout().is_terminal()));
    }
    Ok(ExitCode::SUCCESS)
}

async fn show_report(args: JobArgs) -> anyhow::Result<ExitCode> {
    let aws = clients().await;
    let job = job::describe(&aws.control, &args.account, &args.job_id).await?;
    let report = job
        .report()
        .filter(|r| r.enabled())
        .ok_or(report::ReportError::NoReport)?;
    let bucket_arn = report.bucket().unwrap_or_default();
    let bucket = bucket_arn.rsplit(':').next().unwrap_or(bucket_arn);
    let prefix = report.prefix().unwrap_or_default().trim_end_matches('/');
    let manifest_key = if prefix.is_empty() {
        format!("job-{}/manifest.json", args.job_id)
    } else {
        format!("{prefix}/job-{}/manifest.json", args.job_id)
    };
    let summary = report::summarise(&aws.s3, bucket, &manifest_key)
        .await
        .with_context(|| format!("job {} ({:?})", args.job_id, job.status()))?;
    let location = format!("s3://{bucket}/{manifest_key}");
    if args.json {
        println!("{}", summary.json(&args.job_id, &location));
    } else {
        print!("{}", summary.render(&args.job_id, &location));
    }
    // A report with failures is a finding for the operator, not a tool error.
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
