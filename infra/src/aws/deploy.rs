//! The whole deploy and destroy: hosted zone (id, name servers) → bootstrap → packages
//! uploaded → ARC (one stack after another) → cluster endpoints and initial routing-control
//! states → data → app stacks (both Regions at once) → monitoring → manifest; and the reverse.
//! Templates over CloudFormation's inline limit go through the artifacts buckets.
//!
//! A Region-scoped deploy (`--region R`, for when the other Region is down) deploys only R's
//! stacks and calls only R's APIs: values from the other Region's stacks, and those only
//! Route 53's or ARC's control plane would give (the zone, the cluster's endpoints), keep the
//! value the stacks already have, the routing controls are left as they are, and the last
//! manifest (with its name servers) gets R's new Regional URLs.

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_smithy_types::error::display::DisplayErrorContext;
use topology::manifest::{ClusterEndpoint, Manifest};
use topology::{Region, Topology};

use super::cfn::{DeployError, Orchestrator, Outputs, RoleArn, TemplateStore, Timing};
use super::confirm::Confirm;
use super::package::{self, LambdaPackage};
use super::plan::{DeployInputs, PhaseKind, Plan, StackKind, StackNames, StackPrefix};
use super::{arc, bootstrap, guardrails, manifest, truststore};

/// Where the AWS clients get their configuration: the standard chain (environment, profile,
/// SSO, instance role), with an optional profile and endpoint override.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    /// Send every call here instead of AWS (moto, LocalStack).
    pub endpoint_url: Option<String>,
    /// Cap on attempts per call (the SDK retries 500s, which emulators return for what they
    /// do not implement).
    pub max_attempts: Option<u32>,
}

impl AwsSettings {
    /// The shared SDK configuration.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(attempts) = self.max_attempts {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        }
        loader.load().await
    }
}

/// A CloudFormation client for `region`.
pub fn cloudformation(sdk: &SdkConfig, region: &Region) -> aws_sdk_cloudformation::Client {
    let conf = aws_sdk_cloudformation::config::Builder::from(sdk)
        .region(aws_sdk_cloudformation::config::Region::new(
            region.to_string(),
        ))
        .build();
    aws_sdk_cloudformation::Client::from_conf(conf)
}

/// An S3 client for `region`; path-style addressing when an endpoint override is in use.
pub fn s3(sdk: &SdkConfig, region: &Region) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .region(aws_sdk_s3::config::Region::new(region.to_string()))
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// The Regions a plan touches.
pub fn regions(plan: &Plan) -> Vec<Region> {
    let mut regions: Vec<Region> = plan.stacks().map(|s| s.id.region.clone()).collect();
    regions.sort();
    regions.dedup();
    regions
}

/// An orchestrator with a CloudFormation client for each Region of `plan`, which sends
/// templates over the inline limit through the artifacts buckets of the plan's bootstrap
/// stacks.
pub fn orchestrator(
    sdk: &SdkConfig,
    plan: &Plan,
    confirm: Confirm,
    timing: Timing,
) -> Orchestrator {
    let clients = regions(plan)
        .into_iter()
        .map(|r| {
            let client = cloudformation(sdk, &r);
            (r, client)
        })
        .collect();
    let orchestrator = Orchestrator::new(clients, confirm, timing);
    match template_store(sdk, plan) {
        Some(store) => orchestrator.with_template_store(store),
        None => orchestrator,
    }
}

/// The artifacts buckets of `plan`'s bootstrap stacks, as a store for large templates: each
/// Region's bucket for its own stacks, the first bootstrap stack's (the primary's) for stacks
/// in other Regions.
fn template_store(sdk: &SdkConfig, plan: &Plan) -> Option<TemplateStore> {
    let bootstrap = plan.phase(PhaseKind::Bootstrap)?;
    let fallback = bootstrap.stacks.first()?.id.region.clone();
    let buckets = bootstrap
        .stacks
        .iter()
        .map(|spec| {
            let region = spec.id.region.clone();
            let client = s3(sdk, &region);
            (region, (spec.id.clone(), client))
        })
        .collect();
    Some(TemplateStore::new(buckets, fallback))
}

/// What `deploy` needs besides the AWS configuration.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub prefix: StackPrefix,
    /// Deploy only this Region's stacks (`None`: both Regions).
    pub region: Option<Region>,
    pub lambda_dir: std::path::PathBuf,
    pub manifest_path: std::path::PathBuf,
    pub confirm: Confirm,
    pub timing: Timing,
    /// The role CloudFormation acts as (`None`: the caller's own credentials).
    pub execution_role: Option<RoleArn>,
    /// Create an ARC cluster beyond ARC's default quota of 2 per account.
    pub allow_another_cluster: bool,
}

/// Deploys everything and writes the manifest; returns it.
pub async fn deploy(
    topology: &Topology,
    sdk: &SdkConfig,
    options: &DeployOptions,
) -> anyhow::Result<Manifest> {
    // Everything that can be checked locally is checked before the first AWS call.
    topology.auth.aws_issuers()?;
    let packages = package::find_packages(&options.lambda_dir, topology)?;
    arc::check_names(topology, &options.prefix).map_err(anyhow::Error::msg)?;
    let (hosted_zone_id, name_servers) = match &options.region {
        None => {
            let id = match &topology.hosted_zone_id {
                Some(id) => id.clone(),
                None => hosted_zone_id(sdk, topology).await?,
            };
            let servers = name_servers(sdk, topology, &id).await?;
            println!(
                "hosted zone {id}, name servers {} (for the manifest)",
                servers.join(", ")
            );
            (Some(id), servers)
        }
        // Route 53's API is not this Region's: the app stacks keep the zone they have (unless
        // the topology names it), and the last manifest keeps its name servers.
        Some(_) => (topology.hosted_zone_id.clone(), Vec::new()),
    };
    let scope: Vec<Region> = match &options.region {
        Some(region) => vec![region.clone()],
        None => topology.regions.both().into_iter().cloned().collect(),
    };
    let inputs = DeployInputs {
        hosted_zone_id,
        existing_logging_roles: guardrails::existing_logging_roles(sdk, &scope, &options.prefix)
            .await?,
        code_keys: package::code_keys(&packages),
    };
    let mut plan = Plan::new(topology, &options.prefix, &inputs);
    if let Some(region) = &options.region {
        plan = plan
            .for_region(topology, region)
            .map_err(anyhow::Error::msg)?;
    }
    plan.check_limits().map_err(anyhow::Error::msg)?;
    let names = StackNames::new(topology, &options.prefix);
    let orchestrator = orchestrator(sdk, &plan, options.confirm, options.timing)
        .with_execution_role(options.execution_role.clone())
        .region_scoped(options.region.is_some());
    orchestrator.check_previous_values(plan.stacks()).await?;
    if options.region.is_none() {
        guardrails::check_cluster_quota(
            sdk,
            topology,
            &orchestrator,
            &names,
            options.allow_another_cluster,
        )
        .await?;
        guardrails::check_retained_tables(sdk, topology, &orchestrator, &names, &options.prefix)
            .await?;
    }
    let mut outputs = Outputs::new();
    let mut endpoints = None;
    // By index: once the ARC phase is done, the later phases get the cluster's endpoints.
    for index in 0..plan.phases.len() {
        let kind = plan.phases[index].kind;
        // The ARC stacks have a phase each: the first creates the cluster, and the routing
        // controls are set once the last is done.
        if kind == PhaseKind::Arc && plan.opens_kind(index) {
            warn_about_cluster_cost(topology, &orchestrator, &names).await?;
        }
        orchestrator
            .deploy_phase(&plan.phases[index], &mut outputs)
            .await?;
        match kind {
            PhaseKind::Bootstrap => {
                upload_packages(sdk, &plan, &outputs, &packages).await?;
                // A Region-scoped deploy keeps the certificate and truststore in use: a new
                // truststore would need the other Region's certificates.
                if options.region.is_none() {
                    publish_gateway_identity(sdk, topology, &names, &mut plan, &outputs).await?;
                }
            }
            PhaseKind::Arc if !plan.closes_kind(index) => {}
            PhaseKind::Arc if options.region.is_none() => {
                let found = cluster_endpoints(sdk, &names, &outputs).await?;
                let partial = manifest::build(
                    topology,
                    &names,
                    &outputs,
                    found.clone(),
                    name_servers.clone(),
                )?;
                initialize_routing_controls(&partial, sdk).await?;
                // The app stacks of write-fenced services take them as a parameter.
                plan.resolve_cluster_endpoints(&found);
                endpoints = Some(found);
            }
            PhaseKind::Arc => println!(
                "routing-control states left as they are (setting them calls ARC endpoints in \
                 other Regions); check them with `failover status`"
            ),
            PhaseKind::Apps if topology.aws.gateway_only => {
                for region in regions(&plan) {
                    truststore::report_warnings(sdk, topology, &region).await;
                }
            }
            PhaseKind::Flags | PhaseKind::Data | PhaseKind::Apps | PhaseKind::Monitoring => {}
        }
    }
    if let Some(region) = &options.region {
        return update_manifest(topology, &names, &outputs, region, &options.manifest_path);
    }
    // The `health-check` mechanism has no cluster, so no endpoints.
    let endpoints = endpoints.unwrap_or_default();
    let manifest = manifest::build(topology, &names, &outputs, endpoints, name_servers)?;
    manifest.save(&options.manifest_path)?;
    println!("manifest written to {}", options.manifest_path.display());
    Ok(manifest)
}

/// After a Region-scoped deploy: the last manifest, with `region`'s Regional URLs from the
/// outputs (everything else in it comes from the full deploy that wrote it).
fn update_manifest(
    topology: &Topology,
    names: &StackNames,
    outputs: &Outputs,
    region: &Region,
    path: &std::path::Path,
) -> anyhow::Result<Manifest> {
    let mut last = Manifest::load(path).with_context(|| {
        format!(
            "the stacks of {region} are deployed, but the manifest at {} could not be updated \
             (a Region-scoped deploy updates the one a full deploy wrote; pass --manifest PATH)",
            path.display()
        )
    })?;
    manifest::update_regional_urls(&mut last, names, outputs, region);
    last.save(path)?;
    println!(
        "manifest {} updated with the Regional URLs of {region} ({} app(s))",
        path.display(),
        topology.apps.len()
    );
    Ok(last)
}

/// Deletes every stack of `topology`, in reverse order; returns the stacks deleted.
pub async fn destroy(
    topology: &Topology,
    sdk: &SdkConfig,
    prefix: &StackPrefix,
    confirm: Confirm,
    timing: Timing,
) -> anyhow::Result<Vec<super::plan::StackId>> {
    let plan = Plan::new(topology, prefix, &DeployInputs::placeholders(topology));
    let orchestrator = orchestrator(sdk, &plan, confirm, timing);
    println!("This deletes, in this order:");
    for spec in plan.phases.iter().rev().flat_map(|p| &p.stacks) {
        println!("  {}", spec.id);
    }
    if topology.aws.protect_data {
        println!(
            "The DynamoDB tables are retained, with their data and deletion protection \
             (aws.protect_data); the ARC cluster is deleted unless it was given by ARN."
        );
    } else {
        println!(
            "including the DynamoDB tables and their data (aws.protect_data = false), and the \
             ARC cluster unless it was given by ARN."
        );
    }
    if !confirm
        .ask("Delete these stacks?")
        .await
        .map_err(DeployError::from)?
    {
        return Err(DeployError::Declined.into());
    }
    let deleted = destroy_plan(sdk, &plan, &orchestrator).await?;
    // The deploy made them outside the stacks; with the stages gone, nothing presents them.
    if topology.aws.gateway_only {
        for region in topology.regions.both() {
            let n = truststore::delete_certificates(sdk, prefix, region).await?;
            println!("[{region}] deleted {n} gateway client certificate(s)");
        }
    }
    Ok(deleted)
}

/// Deletes the stacks of `plan` phase by phase, last phase first, emptying the artifacts
/// buckets before their stacks are deleted.
pub async fn destroy_plan(
    sdk: &SdkConfig,
    plan: &Plan,
    orchestrator: &Orchestrator,
) -> anyhow::Result<Vec<super::plan::StackId>> {
    let mut deleted = Vec::new();
    for phase in plan.phases.iter().rev() {
        println!("== destroy {}", phase.kind);
        for spec in phase
            .stacks
            .iter()
            .filter(|s| s.kind == StackKind::Bootstrap)
        {
            let outputs = orchestrator.outputs_of(&spec.id).await?;
            if let Some(bucket) = outputs.get(bootstrap::OUTPUT_ARTIFACTS_BUCKET) {
                let n = package::empty_bucket(&s3(sdk, &spec.id.region), bucket).await?;
                println!(
                    "[{}] emptied bucket {bucket} ({n} object versions)",
                    spec.id
                );
            }
        }
        deleted.extend(orchestrator.destroy_phase(phase).await?);
    }
    Ok(deleted)
}

/// Uploads each package to the artifacts bucket of each Region (skipping those already there).
pub async fn upload_packages(
    sdk: &SdkConfig,
    plan: &Plan,
    outputs: &Outputs,
    packages: &[LambdaPackage],
) -> anyhow::Result<()> {
    let Some(phase) = plan.phase(PhaseKind::Bootstrap) else {
        return Ok(());
    };
    for spec in &phase.stacks {
        let bucket = outputs
            .get(&spec.id)
            .and_then(|o| o.get(bootstrap::OUTPUT_ARTIFACTS_BUCKET))
            .with_context(|| {
                format!(
                    "stack {} has no output {}",
                    spec.id,
                    bootstrap::OUTPUT_ARTIFACTS_BUCKET
                )
            })?;
        let client = s3(sdk, &spec.id.region);
        for pkg in packages {
            let uploaded = package::upload(&client, bucket, pkg).await?;
            let verb = if uploaded { "uploaded" } else { "already in" };
            println!("[{}] {} {verb} s3://{bucket}", spec.id, pkg.key);
        }
    }
    Ok(())
}

/// With `aws.gateway_only`: the gateway's client certificates of both Regions (one generated
/// where there is none), then [`publish_truststores`].
pub async fn publish_gateway_identity(
    sdk: &SdkConfig,
    topology: &Topology,
    names: &StackNames,
    plan: &mut Plan,
    outputs: &Outputs,
) -> anyhow::Result<()> {
    if !topology.aws.gateway_only {
        return Ok(());
    }
    let mut certificates = Vec::new();
    for region in topology.regions.both() {
        let found = truststore::ensure_certificates(sdk, names.prefix(), region).await?;
        certificates.push((region.clone(), found));
    }
    publish_truststores(sdk, names, plan, outputs, &certificates).await
}

/// The truststore with all of `certificates` (every Region's) written to each Region's
/// artifacts bucket, and each Region's stage given the newest of its own certificates that its
/// services already trusted ([`truststore::choose_active`]); the app stacks get both.
pub async fn publish_truststores(
    sdk: &SdkConfig,
    names: &StackNames,
    plan: &mut Plan,
    outputs: &Outputs,
    certificates: &[(Region, Vec<truststore::GatewayCertificate>)],
) -> anyhow::Result<()> {
    let bundle = truststore::bundle(certificates.iter().flat_map(|(_, c)| c));
    for (region, own) in certificates {
        let bucket = artifacts_bucket(outputs, &names.bootstrap(region))?;
        let client = s3(sdk, region);
        let before = truststore::current(&client, bucket).await?;
        let active = truststore::choose_active(own, before.as_deref()).with_context(|| {
            format!(
                "none of the gateway's client certificates in {region} is in the truststore at \
                 s3://{bucket}/{}, so a stage presenting one would be refused by every service: \
                 delete that object (the next deploy writes it again) or restore its last version",
                truststore::TRUSTSTORE_KEY
            )
        })?;
        let version = truststore::publish(&client, bucket, &bundle).await?;
        println!(
            "[{region}] gateway presents client certificate {}; services trust {} certificate(s) \
             (truststore version {version})",
            active.id,
            bundle.matches("BEGIN CERTIFICATE").count()
        );
        plan.resolve_gateway_identity(region, &active.id, &version);
    }
    Ok(())
}

/// The artifacts bucket `bootstrap` created.
fn artifacts_bucket<'o>(
    outputs: &'o Outputs,
    bootstrap: &super::plan::StackId,
) -> anyhow::Result<&'o String> {
    outputs
        .get(bootstrap)
        .and_then(|o| o.get(bootstrap::OUTPUT_ARTIFACTS_BUCKET))
        .with_context(|| {
            format!(
                "stack {bootstrap} has no output {}",
                bootstrap::OUTPUT_ARTIFACTS_BUCKET
            )
        })
}

async fn warn_about_cluster_cost(
    topology: &Topology,
    orchestrator: &Orchestrator,
    names: &StackNames,
) -> anyhow::Result<()> {
    if topology.arc.existing_cluster_arn.is_none()
        && orchestrator.describe(&names.arc()).await?.is_none()
    {
        println!(
            "COST WARNING: this deploy creates a Route 53 ARC cluster, billed by the hour (about \
             $2.50/hour, $1,800/month) until `infra destroy`. To reuse a cluster you already pay \
             for, set arc.existing_cluster_arn in topology.toml. See docs/deploy.md."
        );
    }
    Ok(())
}

/// A Route 53 client. Route 53 is global, but the SDK still needs a Region to resolve the
/// endpoint and sign; every other client of the deploy names its Region, so this one does too
/// (the primary, which also picks the partition) rather than depend on a default Region being
/// configured.
pub fn route53(sdk: &SdkConfig, topology: &Topology) -> aws_sdk_route53::Client {
    let conf = aws_sdk_route53::config::Builder::from(sdk)
        .region(aws_sdk_route53::config::Region::new(
            topology.regions.primary.to_string(),
        ))
        .build();
    aws_sdk_route53::Client::from_conf(conf)
}

/// The Route 53 hosted zone of the topology's domain (a public zone named exactly so).
pub async fn hosted_zone_id(sdk: &SdkConfig, topology: &Topology) -> anyhow::Result<String> {
    let client = route53(sdk, topology);
    let wanted = format!("{}.", topology.domain);
    let out = client
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .max_items(5)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot list Route 53 hosted zones: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let zone = out
        .hosted_zones()
        .iter()
        .find(|z| z.name() == wanted && !z.config().is_some_and(|c| c.private_zone()));
    match zone {
        Some(zone) => Ok(zone.id().trim_start_matches("/hostedzone/").to_owned()),
        None => bail!(
            "no public Route 53 hosted zone named {wanted}: create it (and delegate the domain to it), \
             or set hosted_zone_id in topology.toml"
        ),
    }
}

/// The hosted zone's own name servers (its delegation set, e.g. `ns-123.awsdns-45.com`), which
/// the manifest lists for `failover --verify` to ask for the authoritative answer.
pub async fn name_servers(
    sdk: &SdkConfig,
    topology: &Topology,
    zone_id: &str,
) -> anyhow::Result<Vec<String>> {
    let out = route53(sdk, topology)
        .get_hosted_zone()
        .id(zone_id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read Route 53 hosted zone {zone_id} (route53:GetHostedZone, for its name \
                 servers): {}",
                DisplayErrorContext(&e)
            )
        })?;
    let servers: Vec<String> = out
        .delegation_set()
        .map(|d| d.name_servers())
        .unwrap_or_default()
        .iter()
        .map(|ns| ns.trim_end_matches('.').to_owned())
        .collect();
    if servers.is_empty() {
        bail!(
            "Route 53 hosted zone {zone_id} has no name servers (a private zone?): the apps need \
             the domain's public zone; set hosted_zone_id in topology.toml to it"
        );
    }
    Ok(servers)
}

/// The cluster's Regional endpoints, from ARC's control-plane API.
pub async fn cluster_endpoints(
    sdk: &SdkConfig,
    names: &StackNames,
    outputs: &Outputs,
) -> anyhow::Result<Vec<ClusterEndpoint>> {
    let arn = outputs
        .get(&names.arc())
        .and_then(|o| o.get(arc::OUTPUT_CLUSTER_ARN))
        .context("the ARC stack has no ClusterArn output")?;
    let conf = aws_sdk_route53recoverycontrolconfig::config::Builder::from(sdk)
        .region(aws_sdk_route53recoverycontrolconfig::config::Region::new(
            arc::CONTROL_PLANE_REGION,
        ))
        .build();
    let client = aws_sdk_route53recoverycontrolconfig::Client::from_conf(conf);
    let out = client
        .describe_cluster()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot describe ARC cluster {arn}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let endpoints: Vec<ClusterEndpoint> = out
        .cluster()
        .map(|c| c.cluster_endpoints())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some(ClusterEndpoint {
                region: e.region()?.parse().ok()?,
                url: e.endpoint()?.to_owned(),
            })
        })
        .collect();
    if endpoints.is_empty() {
        bail!(
            "ARC cluster {arn} lists no endpoints yet; wait until it is DEPLOYED, then deploy again"
        );
    }
    Ok(endpoints)
}

/// Sets each app's initial routing-control states (primary ON, secondary OFF) through the ARC
/// data plane, from the partial manifest built right after the ARC stack. Routing controls are
/// created OFF and CloudFormation cannot set them; with both OFF Route 53 fails open to the
/// primary and the safety rule would be unmet. Only apps whose two controls are both still OFF
/// are touched, so a re-run never undoes a state an operator has set. The calls go through the
/// failover crate's client, signed with the deploy's credentials (`--profile` included), to the
/// cluster endpoints themselves: `--endpoint-url` does not apply to them.
pub async fn initialize_routing_controls(
    manifest: &Manifest,
    sdk: &SdkConfig,
) -> anyhow::Result<()> {
    super::routing::initialize(manifest, failover::ClientConfig::default(), Some(sdk)).await
}
