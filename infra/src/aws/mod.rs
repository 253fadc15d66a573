//! The AWS target: CloudFormation synthesis from `topology.toml`, and the ordered deploy and
//! destroy of both Regions that writes the deployment manifest.
//!
//! - [`template`]: the template model and CloudFormation's limits; [`names`]: the stack prefix
//!   and the Regions' roles; [`layout`]: the groups of apps the ARC, flags and monitoring stacks
//!   hold; [`bootstrap`], [`arc`], [`flags`], [`data`], [`app`], [`monitoring`]: one builder per
//!   stack; [`plan`]: every stack, its Region, its phase and its parameter wiring;
//! - [`synth`](mod@synth): writes the templates; [`cfn`]: the orchestrator (change sets,
//!   templates over the inline limit through the artifacts bucket, events, outputs);
//!   [`deploy`](mod@deploy): the whole deploy and destroy; [`manifest`]: the manifest from the
//!   outputs; [`package`]: the Lambda packages and the uploads to the artifacts buckets;
//!   [`routing`]: the initial routing-control states; [`truststore`]: the gateway's client
//!   certificates and the services' mutual TLS truststore.

pub mod app;
pub mod arc;
pub mod bootstrap;
pub mod cfn;
pub mod confirm;
pub mod data;
pub mod deploy;
pub mod flags;
pub mod guardrails;
pub mod layout;
pub mod manifest;
pub mod monitoring;
pub mod names;
pub mod package;
pub mod pipeline;
pub mod plan;
pub mod routing;
pub mod synth;
pub mod template;
pub mod truststore;

use std::path::PathBuf;

use topology::{Region, Topology};

use self::cfn::{RoleArn, Timing};
use self::confirm::Confirm;
use self::deploy::{AwsSettings, DeployOptions};
use self::plan::StackPrefix;

/// Options shared by `infra deploy` and `infra destroy`.
#[derive(clap::Args, Debug, Clone)]
pub struct AwsArgs {
    /// The topology file.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
    /// Apply without asking (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// The AWS profile to use (default: the standard chain: environment, default profile, SSO…).
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint instead (e.g. moto's server, for rehearsals).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Prefix of every stack and ARC resource name.
    #[arg(long, default_value_t = StackPrefix::default())]
    pub stack_prefix: StackPrefix,
}

impl AwsArgs {
    fn settings(&self) -> AwsSettings {
        AwsSettings {
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: None,
        }
    }
}

/// `infra synth`: write the CloudFormation templates.
#[derive(clap::Args, Debug, Clone)]
pub struct SynthArgs {
    /// The topology file.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
    /// Where to write the templates (`<stack>.<region>.template.json`, one per stack) and plan.json.
    #[arg(long, default_value = "target/cfn")]
    pub out: PathBuf,
    /// Prefix of every stack and ARC resource name.
    #[arg(long, default_value_t = StackPrefix::default())]
    pub stack_prefix: StackPrefix,
    /// Only the stacks of this Region: what `infra deploy --region` deploys.
    #[arg(long)]
    pub region: Option<Region>,
}

/// `infra deploy`: deploy every stack, in order, and write the manifest.
#[derive(clap::Args, Debug, Clone)]
pub struct DeployArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Deploy only this Region's stacks, calling no other Region's API (for when the other
    /// Region is down); updates the Regional URLs in the existing manifest.
    #[arg(long)]
    pub region: Option<Region>,
    /// Where to write the deployment manifest that `failover` and `loadtest` read.
    #[arg(long, default_value = "deployment.json")]
    pub manifest: PathBuf,
    /// Where `just build-lambdas` left the packages (`<app>-<hash>.zip`).
    #[arg(long, default_value = "target/lambda")]
    pub lambda_dir: PathBuf,
    /// The role CloudFormation acts as for every stack (its service role), e.g. the pipeline
    /// stack's ExecutionRoleArn; then the caller needs only to pass it, not to create the
    /// resources. Default: CloudFormation acts with the caller's own credentials.
    #[arg(long, env = "INFRA_EXECUTION_ROLE_ARN")]
    pub execution_role_arn: Option<RoleArn>,
    /// Create an ARC cluster even though the account already has two (ARC's default quota):
    /// only for an account whose quota was raised. Better: reuse a cluster with
    /// `arc.existing_cluster_arn`.
    #[arg(long)]
    pub allow_another_cluster: bool,
}

/// `infra pipeline-template`: the one-time stack of a GitHub Actions pipeline.
#[derive(clap::Args, Debug, Clone)]
pub struct PipelineArgs {
    /// The topology file (the roles are scoped to its stacks, Regions and hostnames).
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
    /// Prefix of the stacks the roles may deploy: one pipeline stack per prefix (environment).
    #[arg(long, default_value_t = StackPrefix::default())]
    pub stack_prefix: StackPrefix,
    /// The GitHub repository whose workflows may assume the roles, as owner/name.
    #[arg(long)]
    pub repo: pipeline::GithubRepo,
    /// The GitHub environment whose jobs may assume the roles (e.g. production); which
    /// branches may deploy to it is the environment's own rule in GitHub.
    #[arg(long, value_parser = pipeline::RefName::environment, conflicts_with = "branch")]
    pub environment: Option<pipeline::RefName>,
    /// Without --environment: the branch whose pushes may assume the roles (default: main).
    #[arg(long, value_parser = pipeline::RefName::branch)]
    pub branch: Option<pipeline::RefName>,
    /// Where to write `<stack-prefix>-pipeline.template.json`.
    #[arg(long, default_value = "target/pipeline")]
    pub out: PathBuf,
}

/// `infra destroy`: delete every stack, in reverse order.
#[derive(clap::Args, Debug, Clone)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Writes the templates of every stack of the topology.
pub async fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.config)?;
    let written = synth::write(
        &topology,
        &args.stack_prefix,
        args.region.as_ref(),
        &args.out,
    )?;
    for path in &written {
        println!("{}", path.display());
    }
    println!(
        "{} templates written to {}",
        written.len() - 1,
        args.out.display()
    );
    Ok(())
}

/// Deploys every stack and writes the manifest.
pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.aws.config)?;
    let sdk = args.aws.settings().load().await;
    failover::require_credentials(&sdk).await?;
    let options = DeployOptions {
        prefix: args.aws.stack_prefix.clone(),
        region: args.region,
        lambda_dir: args.lambda_dir,
        manifest_path: args.manifest,
        confirm: Confirm::new(args.aws.yes),
        timing: Timing::default(),
        execution_role: args.execution_role_arn,
        allow_another_cluster: args.allow_another_cluster,
    };
    deploy::deploy(&topology, &sdk, &options).await?;
    Ok(())
}

/// Deletes every stack, in reverse order.
pub async fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.aws.config)?;
    let sdk = args.aws.settings().load().await;
    failover::require_credentials(&sdk).await?;
    let deleted = deploy::destroy(
        &topology,
        &sdk,
        &args.aws.stack_prefix,
        Confirm::new(args.aws.yes),
        Timing::default(),
    )
    .await?;
    println!("{} stack(s) deleted", deleted.len());
    Ok(())
}

/// Writes the pipeline template and says how to deploy it.
pub fn pipeline_template(args: PipelineArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.config)?;
    let trusted = match (args.environment, args.branch) {
        (Some(environment), _) => pipeline::Trusted::Environment(environment),
        (None, Some(branch)) => pipeline::Trusted::Branch(branch),
        (None, None) => pipeline::Trusted::Branch(pipeline::RefName::branch("main")?),
    };
    if let pipeline::Trusted::Branch(branch) = &trusted {
        // A job that names a GitHub environment gets a token for the environment, not the
        // branch: the shipped workflows' jobs all do.
        eprintln!(
            "note: the roles trust pushes to `{branch}` of {} without an environment; the shipped \
             workflows run each job in a GitHub environment, whose tokens these roles refuse: \
             pass --environment NAME for them",
            args.repo
        );
    }
    let spec = pipeline::PipelineSpec {
        repo: args.repo,
        trusted,
    };
    let path = pipeline::write(&topology, &args.stack_prefix, &spec, &args.out)?;
    println!("{}", path.display());
    // The AWS CLI sends the file as it is, inline, unless given a bucket to upload it to.
    let bytes = std::fs::metadata(&path)?.len();
    let s3_bucket = if bytes > template::MAX_BODY_BYTES as u64 {
        format!(
            " \\\n    --s3-bucket <a bucket of yours in {}: the template is {bytes} bytes, over \
             the {} CloudFormation takes inline>",
            topology.regions.primary,
            template::MAX_BODY_BYTES
        )
    } else {
        String::new()
    };
    println!(
        "Deploy it once, with administrator rights, in {region}:\n  aws cloudformation deploy \\\n    \
         --region {region} --stack-name {prefix}-pipeline --template-file {file} \
         --capabilities CAPABILITY_IAM{s3_bucket} \\\n    \
         --parameter-overrides {zone}=<zone id> [{provider}=<arn, if the account has GitHub's OIDC provider>]\n\
         Its outputs are the GitHub environment's variables (docs/deploy.md, \"Deploying from a pipeline\").",
        region = topology.regions.primary,
        prefix = args.stack_prefix,
        file = path.display(),
        zone = pipeline::PARAM_HOSTED_ZONE,
        provider = pipeline::PARAM_EXISTING_PROVIDER,
    );
    Ok(())
}
