//! The app stacks, one per app and Region: the Regional REST API, the Lambda function behind it
//! (services) or the HTTP proxy integrations to the service subdomains (the `api` gateway), the
//! Regional custom domain (TLS 1.2, this Region's certificate), the stage with throttling and
//! access logs, and this Region's half of the app's failover record pair.
//!
//! How the `api` gateway answers its own `/` and `/health`: with MOCK integrations that return
//! `{"service":"api","region":"<Region>"}` (plus `"status":"ok"` on `/health`) and an `x-region`
//! header, so a client sees which Region's gateway served it without any function to run.
//!
//! With `[auth]` on, the gateway's REST API has one native JWT authorizer trusting the
//! topology's issuers, and every route method uses it: `GET` and `HEAD` with the route's read
//! scopes, `ANY` (every other method) with its write scopes. `/` and `/health` stay open. The
//! verified token's `sub` and `iss` reach the service as `x-auth-subject` and `x-auth-issuer`,
//! mapped from `context.authorizer.claims` (JSON text), replacing whatever a client sent.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use topology::auth::{Access, IDENTITY_HEADERS};
use topology::manifest::{
    ClusterEndpoint, FENCE_ACTION, FENCE_CONTROL_ENV, FENCE_ENDPOINTS_ENV, FENCE_FLAG_ACTION,
    FENCE_FLAG_APP_ENV, FENCE_FLAG_NAMESPACE_ENV, FENCE_FLAG_REGIONS_ENV, FENCE_RETRY_AFTER_ENV,
};
use topology::{App, GatewayApp, Mechanism, ServiceApp, Topology};

use super::flags;
use super::names::{RegionRole, StackPrefix};
use super::template::{Template, get_att, if_, pascal, reference, skip_checks, sub};

/// The stage name; it prefixes paths on the execute-api URL, never on the custom domain.
pub const STAGE: &str = "live";
/// The function's timeout, seconds: longer than the DynamoDB client's whole-operation timeout
/// (12 s, retries included, in `kit::dynamo`), so that a slow table ends in the service's own
/// 503 problem rather than in API Gateway's 502 for a function that timed out; shorter than
/// API Gateway's 29 s integration timeout.
pub const FUNCTION_TIMEOUT_SECONDS: u32 = 20;
/// Log retention for function and access logs, days.
const LOG_RETENTION_DAYS: u32 = 30;
/// The TTL of an app's failover records, seconds. They are alias records, which carry no TTL
/// of their own: Route 53 answers an alias to an API Gateway domain with 60 s. A fenced
/// instance sends it as `Retry-After`: by then a retrying client's resolver has the new answer.
pub const FAILOVER_RECORD_TTL_SECONDS: u32 = 60;
/// Stage throttling: steady requests per second and burst, per Region.
const THROTTLE_RATE: f64 = 500.0;
const THROTTLE_BURST: u32 = 1000;

/// Output: the REST API id.
pub const OUTPUT_API_ID: &str = "ApiId";
/// Output: the URL that reaches this Region's instance directly, on its Regional hostname
/// (`https://orders.us-west-2.example.com`): the execute-api endpoint is off.
pub const OUTPUT_REGIONAL_URL: &str = "RegionalUrl";
/// Output: the custom domain's Regional target name (what the failover record aliases).
pub const OUTPUT_REGIONAL_DOMAIN: &str = "RegionalDomainName";

/// What a hosted zone id looks like.
pub const HOSTED_ZONE_PATTERN: &str = "^Z[A-Z0-9]{1,32}$";

/// The name that reaches `app` in `region` alone: `orders.us-west-2.example.com`.
pub fn regional_hostname(topology: &Topology, app: &App, region: &topology::Region) -> String {
    topology
        .domain
        .subdomain(&format!("{}.{region}", app.name()))
}

/// Parameters every app stack takes.
pub const PARAM_HOSTED_ZONE: &str = "HostedZoneId";
pub const PARAM_CERTIFICATE: &str = "CertificateArn";
pub const PARAM_HEALTH_CHECK: &str = "HealthCheckId";
/// Parameters only service stacks take.
pub const PARAM_BUCKET: &str = "ArtifactsBucket";
pub const PARAM_CODE_KEY: &str = "CodeKey";
pub const PARAM_TABLE: &str = "TableName";
/// Parameters only write-fenced service stacks take: this Region's routing control of the
/// app (an ARC stack output) and the cluster's endpoints (read by the deploy after the ARC
/// phase), as [`fence_endpoints`] writes them.
pub const PARAM_ROUTING_CONTROL: &str = "RoutingControlArn";
pub const PARAM_CLUSTER_ENDPOINTS: &str = "ClusterEndpoints";
/// With `aws.gateway_only`: the gateway's client certificate in this Region (the `api` stacks)
/// and the S3 version of the truststore the services' domains verify it with (service stacks);
/// both chosen and written by the deploy ([`super::truststore`]).
pub const PARAM_CLIENT_CERTIFICATE: &str = "GatewayClientCertificateId";
pub const PARAM_TRUSTSTORE_VERSION: &str = "TruststoreVersion";

/// The cluster's endpoints as a fenced instance reads them ([`FENCE_ENDPOINTS_ENV`]):
/// `region=url`, separated by commas, in the cluster's order.
pub fn fence_endpoints(endpoints: &[ClusterEndpoint]) -> String {
    endpoints
        .iter()
        .map(|e| format!("{}={}", e.region, e.url))
        .collect::<Vec<_>>()
        .join(",")
}

/// The template of `app` in the Region that plays `role`.
pub fn template(
    topology: &Topology,
    prefix: &StackPrefix,
    app: &App,
    role: RegionRole,
) -> Template {
    let region = role.of(&topology.regions);
    let mut t = Template::new(format!(
        "App {} in {region} ({}): Regional REST API, custom domain and failover record",
        app.name(),
        role.failover()
    ));
    parameters(&mut t, topology, app);
    t.resource(
        "Api",
        "AWS::ApiGateway::RestApi",
        json!({
            "Name": super::monitoring::api_name(prefix, app),
            "Description": format!("{} in {region}", app.name()),
            "EndpointConfiguration": { "Types": ["REGIONAL"] },
            // Only the custom domains (TLS 1.2) reach the API; the default execute-api
            // endpoint would accept TLS 1.0 and bypass them.
            "DisableExecuteApiEndpoint": true,
        }),
    );
    let methods = match app {
        App::Service(service) => {
            function(&mut t, topology, prefix, service);
            lambda_proxy(&mut t)
        }
        App::Gateway(gateway) => gateway_routes(&mut t, topology, gateway),
    };
    stage(&mut t, &methods);
    if app.as_gateway().is_some() && topology.aws.gateway_only {
        // Presented on every HTTP proxy integration: the services' domains require it.
        let stage = t.get_resource_mut("Stage").expect("the stage exists");
        stage["Properties"]["ClientCertificateId"] = reference(PARAM_CLIENT_CERTIFICATE);
    }
    // After the deployment's hash: a changed reason is no reason to redeploy the API.
    let open = match (app.as_service().is_some(), topology.aws.gateway_only) {
        (false, _) => gateway_open_reason(topology),
        (true, true) => {
            "reachable only through the api gateway: its custom domains require the gateway's client certificate (mutual TLS) and its execute-api endpoint is off (aws.gateway_only)"
        }
        (true, false) => "open by the topology's choice (aws.gateway_only = false)",
    };
    for id in &methods {
        if let Some(method) = t.get_resource_mut(id)
            && method["Properties"]["AuthorizationType"] == "NONE"
        {
            skip_checks(method, &[("CKV_AWS_59", open)]);
        }
    }
    custom_domain(&mut t, topology, app, role);
    super::monitoring::app_alarms(&mut t, topology, prefix, app, role);
    t.output(OUTPUT_API_ID, "The REST API", reference("Api"));
    t.output(
        OUTPUT_REGIONAL_URL,
        "This Region's instance, bypassing failover (its Regional hostname)",
        format!("https://{}", regional_hostname(topology, app, region)).into(),
    );
    t.output(
        OUTPUT_REGIONAL_DOMAIN,
        "The custom domain's Regional target",
        get_att("CustomDomain", "RegionalDomainName"),
    );
    t
}

fn parameters(t: &mut Template, topology: &Topology, app: &App) {
    // A plain string, not `AWS::Route53::HostedZone::Id`: CloudFormation checks that type
    // through Route 53's API, which a Region-scoped deploy during an outage must not need.
    t.parameter(
        PARAM_HOSTED_ZONE,
        "The Route 53 hosted zone of the domain",
        None,
    );
    t.constrain(
        PARAM_HOSTED_ZONE,
        HOSTED_ZONE_PATTERN,
        "a Route 53 hosted zone id, such as Z0123456789ABCDEFGHIJ",
    );
    t.parameter(
        PARAM_CERTIFICATE,
        "An ACM certificate in this Region for the app's hostname; empty: create one, DNS-validated in the hosted zone",
        Some(""),
    );
    t.parameter(
        PARAM_HEALTH_CHECK,
        match topology.failover.mechanism {
            Mechanism::Arc => {
                "The RECOVERY_CONTROL health check of this Region's routing control (ARC stack)"
            }
            Mechanism::HealthCheck => {
                "The CLOUDWATCH_METRIC health check on the flag that takes this Region out (the other Region's flags stack)"
            }
        },
        None,
    );
    t.condition(
        "CreateCertificate",
        json!({ "Fn::Equals": [reference(PARAM_CERTIFICATE), ""] }),
    );
    if app.as_service().is_some() {
        t.parameter(
            PARAM_BUCKET,
            "This Region's artifacts bucket (bootstrap stack)",
            None,
        );
        t.parameter(
            PARAM_CODE_KEY,
            "The Lambda package's key in the bucket",
            None,
        );
        t.parameter(PARAM_TABLE, "The service's global table (data stack)", None);
    }
    if topology.aws.gateway_only {
        match app {
            App::Gateway(_) => t.parameter(
                PARAM_CLIENT_CERTIFICATE,
                "The API Gateway client certificate this Region's gateway presents to the services (chosen by the deploy)",
                None,
            ),
            App::Service(_) => t.parameter(
                PARAM_TRUSTSTORE_VERSION,
                "The S3 version of the truststore (the gateway's client certificates) in the artifacts bucket (written by the deploy)",
                None,
            ),
        }
    }
    if app.as_service().is_some_and(ServiceApp::fence_writes)
        && topology.failover.mechanism == Mechanism::Arc
    {
        t.parameter(
            PARAM_ROUTING_CONTROL,
            "This Region's routing control of the app (ARC stack): write fencing reads its state",
            None,
        );
        t.parameter(
            PARAM_CLUSTER_ENDPOINTS,
            "The ARC cluster's endpoints, region=url separated by commas (read by the deploy)",
            None,
        );
    }
}

/// The function, its log group and its least-privilege role: its own table and its GSIs only.
/// With write fencing, its own
/// Region's routing control, the cluster's endpoints and the `Retry-After` to send, and the
/// right to read that one routing control's state (nothing else of ARC).
fn function(t: &mut Template, topology: &Topology, prefix: &StackPrefix, app: &ServiceApp) {
    let table_arn =
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}";
    let mut data_resources = vec![sub(table_arn)];
    let mut environment = json!({
        "STORE": "dynamodb",
        "TABLE_NAME": reference(PARAM_TABLE),
        // lambda_http re-adds the stage to REST event paths unless told not to; without
        // the stage, `/orders/1` routes the same on the execute-api URL and on the
        // custom domain (whose base path mapping adds no prefix).
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
        "RUST_LOG": "info"
    });
    for index in &app.table().indexes {
        data_resources.push(sub(&format!("{table_arn}/index/{}", index.name)));
    }
    let mut statements = vec![
        json!({
            "Sid": "OwnLogs", "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att("FunctionLogGroup", "Arn")
        }),
        json!({
            "Sid": "OwnTable", "Effect": "Allow",
            "Action": topology::manifest::SERVICE_TABLE_ACTIONS,
            "Resource": data_resources
        }),
        json!({
            // X-Ray's write actions support no resource-level permissions.
            "Sid": "Tracing", "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*"
        }),
    ];
    if app.fence_writes() {
        environment[FENCE_RETRY_AFTER_ENV] = FAILOVER_RECORD_TTL_SECONDS.to_string().into();
        statements.push(fence(topology, prefix, app, &mut environment));
    }
    log_group(t, "FunctionLogGroup");
    t.resource(
        "FunctionRole",
        "AWS::IAM::Role",
        json!({
            "Path": prefix.iam_path(),
            "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                "Effect": "Allow",
                "Principal": { "Service": "lambda.amazonaws.com" },
                "Action": "sts:AssumeRole"
            } ] },
            "Policies": [ {
                "PolicyName": format!("{}-least-privilege", app.name()),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": statements }
            } ]
        }),
    );
    let no_vpc = if app.fence_writes() && topology.failover.mechanism == Mechanism::Arc {
        "reaches only DynamoDB, CloudWatch and the ARC cluster's endpoints (write fencing), all over IAM-authenticated public endpoints; a VPC would need NAT or endpoints in each Region"
    } else if app.fence_writes() {
        "reaches only DynamoDB and CloudWatch (both Regions' for write fencing) over their IAM-authenticated public endpoints; a VPC would need NAT or endpoints in each Region"
    } else {
        "reaches only DynamoDB and CloudWatch over their IAM-authenticated public endpoints; a VPC would need NAT or endpoints in each Region"
    };
    let function = t.resource(
        "Function",
        "AWS::Lambda::Function",
        json!({
            "Description": format!("The {} service", app.name()),
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "MemorySize": 256,
            "Timeout": FUNCTION_TIMEOUT_SECONDS,
            "Code": { "S3Bucket": reference(PARAM_BUCKET), "S3Key": reference(PARAM_CODE_KEY) },
            "Role": get_att("FunctionRole", "Arn"),
            "LoggingConfig": { "LogGroup": reference("FunctionLogGroup"), "LogFormat": "JSON" },
            // One request followed from the gateway's stage into the function that served it.
            "TracingConfig": { "Mode": "Active" },
            "Environment": { "Variables": environment }
        }),
    );
    skip_checks(
        function,
        &[
            (
                "CKV_AWS_115",
                "no reserved concurrency: the stage's throttling bounds the load, and a cap would limit the surviving Region after a failover",
            ),
            (
                "CKV_AWS_116",
                "invoked synchronously by API Gateway; a dead-letter queue only applies to asynchronous invocations",
            ),
            ("CKV_AWS_117", no_vpc),
            (
                "CKV_AWS_173",
                "environment variables are encrypted at rest with Lambda's AWS managed key; none is a credential",
            ),
        ],
    );
    t.resource(
        "FunctionInvokePermission",
        "AWS::Lambda::Permission",
        json!({
            "FunctionName": get_att("Function", "Arn"),
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*")
        }),
    );
}

/// Write fencing's settings and its one permission. With ARC: this Region's routing control, the
/// cluster's endpoints, and the right to read that one control's state (the instance asks
/// whether *it* may take writes). With the `health-check` mechanism: the flags' namespace and
/// the app, and `GetMetricData` to read its two flags in both Regions.
fn fence(
    topology: &Topology,
    prefix: &StackPrefix,
    app: &ServiceApp,
    environment: &mut Value,
) -> Value {
    match topology.failover.mechanism {
        Mechanism::Arc => {
            environment[FENCE_CONTROL_ENV] = reference(PARAM_ROUTING_CONTROL);
            environment[FENCE_ENDPOINTS_ENV] = reference(PARAM_CLUSTER_ENDPOINTS);
            json!({
                "Sid": "OwnRoutingControlState", "Effect": "Allow",
                "Action": FENCE_ACTION,
                "Resource": reference(PARAM_ROUTING_CONTROL)
            })
        }
        Mechanism::HealthCheck => {
            environment[FENCE_FLAG_NAMESPACE_ENV] = flags::namespace(prefix).into();
            environment[FENCE_FLAG_APP_ENV] = app.name().as_str().into();
            environment[FENCE_FLAG_REGIONS_ENV] = format!(
                "{},{}",
                topology.regions.primary, topology.regions.secondary
            )
            .into();
            json!({
                // GetMetricData supports no resource-level permissions; it only reads.
                "Sid": "FlagReads", "Effect": "Allow",
                "Action": FENCE_FLAG_ACTION,
                "Resource": "*"
            })
        }
    }
}

/// `ANY /` and `ANY /{proxy+}` to the function (Lambda proxy integration, REST v1 events).
fn lambda_proxy(t: &mut Template) -> Vec<String> {
    let integration = json!({
        "Type": "AWS_PROXY",
        "IntegrationHttpMethod": "POST",
        "Uri": sub("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Function.Arn}/invocations"),
    });
    t.resource(
        "ProxyResource",
        "AWS::ApiGateway::Resource",
        json!({ "RestApiId": reference("Api"), "ParentId": get_att("Api", "RootResourceId"), "PathPart": "{proxy+}" }),
    );
    method(
        t,
        "RootMethod",
        get_att("Api", "RootResourceId"),
        "ANY",
        integration.clone(),
        None,
    );
    method(
        t,
        "ProxyMethod",
        reference("ProxyResource"),
        "ANY",
        integration,
        None,
    );
    vec!["RootMethod".into(), "ProxyMethod".into()]
}

/// The gateway: MOCK `/` and `/health`, and an HTTP proxy per route to the service subdomain.
fn gateway_routes(t: &mut Template, topology: &Topology, app: &GatewayApp) -> Vec<String> {
    t.resource(
        "HealthResource",
        "AWS::ApiGateway::Resource",
        json!({ "RestApiId": reference("Api"), "ParentId": get_att("Api", "RootResourceId"), "PathPart": "health" }),
    );
    let mut methods = vec!["RootMethod".to_owned(), "HealthMethod".to_owned()];
    mock_method(
        t,
        "RootMethod",
        get_att("Api", "RootResourceId"),
        app.name().as_str(),
        false,
    );
    mock_method(
        t,
        "HealthMethod",
        reference("HealthResource"),
        app.name().as_str(),
        true,
    );
    let mut created: Map<String, Value> = Map::new();
    let authorized = topology.auth.enabled;
    if authorized {
        authorizer(t, topology);
    }
    for (prefix, target) in app.routes() {
        let base = format!(
            "https://{}{prefix}",
            topology.domain.subdomain(target.as_str())
        );
        let parent = resource_chain(t, &mut created, prefix);
        let id = format!("Route{}", pascal(prefix));
        let route = RouteMethods {
            topology,
            prefix,
            authorized,
        };
        methods.extend(route.add(
            t,
            &format!("{id}Method"),
            parent.clone(),
            http_proxy(&base, false),
            None,
        ));
        let proxy = format!("{id}ProxyResource");
        t.resource(
            &proxy,
            "AWS::ApiGateway::Resource",
            json!({ "RestApiId": reference("Api"), "ParentId": parent, "PathPart": "{proxy+}" }),
        );
        methods.extend(route.add(
            t,
            &format!("{id}ProxyMethod"),
            reference(&proxy),
            http_proxy(&format!("{base}/{{proxy}}"), true),
            Some(json!({ "method.request.path.proxy": true })),
        ));
    }
    methods
}

/// The logical id of the gateway's JWT authorizer.
const AUTHORIZER: &str = "Authorizer";

/// The request header API Gateway reads tokens from.
const TOKEN_SOURCE: &str = "method.request.header.Authorization";

/// Why a method of the gateway has no authorizer (checkov CKV_AWS_59).
fn gateway_open_reason(topology: &Topology) -> &'static str {
    if topology.auth.enabled {
        "the gateway's own probe (/ or /health): no data, open by design; every route needs a token ([auth])"
    } else {
        "the public API, open by the topology's choice ([auth] enabled = false)"
    }
}

/// The native JWT authorizer of the gateway's API: the topology's issuers (each with its
/// audiences) and algorithms. The synth and the deploy refuse a topology with auth on and no
/// issuer before this is rendered (`topology::auth::AuthSettings::aws_issuers`).
fn authorizer(t: &mut Template, topology: &Topology) {
    let auth = &topology.auth;
    let issuers: Vec<Value> = auth
        .issuers
        .iter()
        .map(|issuer| {
            json!({
                "Issuer": issuer.url.as_str(),
                "Audiences": auth.audiences_of(issuer),
            })
        })
        .collect();
    let algorithms: Vec<&str> = auth.algorithms.iter().map(|a| a.as_str()).collect();
    t.resource(
        AUTHORIZER,
        "AWS::ApiGateway::Authorizer",
        json!({
            "RestApiId": reference("Api"),
            "Name": "jwt",
            "Type": "JWT",
            "IdentitySource": TOKEN_SOURCE,
            "JwtConfiguration": { "Issuers": issuers, "DefaultAlgorithms": algorithms }
        }),
    );
}

/// The methods of one route resource: `ANY` alone while auth is off; with auth, `GET` and
/// `HEAD` with the route's read scopes and `ANY` (every other method: API Gateway picks a
/// resource's own method before `ANY`) with its write scopes, all through the authorizer.
struct RouteMethods<'a> {
    topology: &'a Topology,
    prefix: &'a str,
    authorized: bool,
}

impl RouteMethods<'_> {
    /// Adds the methods under `id` (`id` for `ANY`, `id` with `Get`/`Head` inserted before
    /// `Method` for the reads); returns their ids.
    fn add(
        &self,
        t: &mut Template,
        id: &str,
        resource: Value,
        integration: Value,
        request_parameters: Option<Value>,
    ) -> Vec<String> {
        if !self.authorized {
            method(t, id, resource, "ANY", integration, request_parameters);
            return vec![id.to_owned()];
        }
        let integration = with_identity(integration);
        let stem = id.trim_end_matches("Method");
        let mut ids = Vec::new();
        for (verb, access) in [
            ("GET", Access::Read),
            ("HEAD", Access::Read),
            ("ANY", Access::Write),
        ] {
            let id = match verb {
                "ANY" => id.to_owned(),
                _ => format!("{stem}{}Method", pascal(&verb.to_ascii_lowercase())),
            };
            let m = method(
                t,
                &id,
                resource.clone(),
                verb,
                integration.clone(),
                request_parameters.clone(),
            );
            authorize(m, self.topology.auth.scopes(self.prefix, access));
            ids.push(id);
        }
        ids
    }
}

/// Puts a method behind the gateway's authorizer, asking for any one of `scopes`.
fn authorize(method: &mut Map<String, Value>, scopes: &[topology::auth::Scope]) {
    let properties = method
        .get_mut("Properties")
        .and_then(Value::as_object_mut)
        .expect("a method has properties");
    properties.insert("AuthorizationType".into(), "JWT".into());
    properties.insert("AuthorizerId".into(), reference(AUTHORIZER));
    if !scopes.is_empty() {
        let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        properties.insert("AuthorizationScopes".into(), json!(scopes));
    }
}

/// `integration` sending the verified token's claims to the service in the identity headers
/// ([`IDENTITY_HEADERS`]), replacing any a client sent.
fn with_identity(mut integration: Value) -> Value {
    let Some(fields) = integration.as_object_mut() else {
        return integration;
    };
    let parameters = fields
        .entry("RequestParameters")
        .or_insert_with(|| json!({}));
    if let Some(parameters) = parameters.as_object_mut() {
        for (header, claim) in IDENTITY_HEADERS {
            parameters.insert(
                format!("integration.request.header.{header}"),
                format!("context.authorizer.claims.{claim}").into(),
            );
        }
    }
    integration
}

/// Creates (once) the API resources for each segment of `path`; returns the last one's id.
fn resource_chain(t: &mut Template, created: &mut Map<String, Value>, path: &str) -> Value {
    let mut parent = get_att("Api", "RootResourceId");
    let mut so_far = String::new();
    for segment in path.trim_start_matches('/').split('/') {
        so_far.push('/');
        so_far.push_str(segment);
        let id = format!("Route{}Resource", pascal(&so_far));
        if !created.contains_key(&so_far) {
            t.resource(
                &id,
                "AWS::ApiGateway::Resource",
                json!({ "RestApiId": reference("Api"), "ParentId": parent, "PathPart": segment }),
            );
            created.insert(so_far.clone(), Value::Null);
        }
        parent = reference(&id);
    }
    parent
}

/// An HTTP proxy integration to `uri` (the stage presents its client certificate on it).
fn http_proxy(uri: &str, with_proxy_path: bool) -> Value {
    let mut integration = json!({
        "Type": "HTTP_PROXY",
        "IntegrationHttpMethod": "ANY",
        "Uri": uri,
        "TimeoutInMillis": 29000,
    });
    let mut parameters = serde_json::Map::new();
    if with_proxy_path {
        parameters.insert(
            "integration.request.path.proxy".into(),
            "method.request.path.proxy".into(),
        );
    }
    if !parameters.is_empty() {
        integration["RequestParameters"] = Value::Object(parameters);
    }
    integration
}

fn mock_method(t: &mut Template, id: &str, resource: Value, service: &str, health: bool) {
    let status = if health { r#","status":"ok""# } else { "" };
    let body = format!(r#"{{"service":"{service}","region":"${{AWS::Region}}"{status}}}"#);
    let integration = json!({
        "Type": "MOCK",
        "RequestTemplates": { "application/json": "{\"statusCode\": 200}" },
        "IntegrationResponses": [ {
            "StatusCode": "200",
            "ResponseTemplates": { "application/json": sub(&body) },
            "ResponseParameters": { "method.response.header.x-region": sub("'${AWS::Region}'") }
        } ]
    });
    let m = method(t, id, resource, "GET", integration, None);
    m.get_mut("Properties")
        .and_then(Value::as_object_mut)
        .expect("a method has properties")
        .insert(
            "MethodResponses".into(),
            json!([ { "StatusCode": "200", "ResponseParameters": { "method.response.header.x-region": true } } ]),
        );
}

fn method<'t>(
    t: &'t mut Template,
    id: &str,
    resource: Value,
    verb: &str,
    integration: Value,
    request_parameters: Option<Value>,
) -> &'t mut Map<String, Value> {
    let mut properties = json!({
        "RestApiId": reference("Api"),
        "ResourceId": resource,
        "HttpMethod": verb,
        "AuthorizationType": "NONE",
        "Integration": integration,
    });
    if let Some(parameters) = request_parameters {
        properties["RequestParameters"] = parameters;
    }
    t.resource(id, "AWS::ApiGateway::Method", properties)
}

/// A log group kept [`LOG_RETENTION_DAYS`].
fn log_group(t: &mut Template, id: &str) {
    let group = t.resource(
        id,
        "AWS::Logs::LogGroup",
        json!({ "RetentionInDays": LOG_RETENTION_DAYS }),
    );
    skip_checks(
        group,
        &[(
            "CKV_AWS_158",
            "request metadata only, no payloads; encrypted at rest by CloudWatch Logs; add a customer-managed KMS key where policy requires one",
        )],
    );
}

/// The deployment (named by a hash of the methods, so a changed API is redeployed), the
/// stage with throttling and JSON access logs, and their log group.
fn stage(t: &mut Template, methods: &[String]) {
    let mut hasher = Sha256::new();
    for id in methods {
        hasher.update(id.as_bytes());
        hasher.update(t.get_resource(id).map(Value::to_string).unwrap_or_default());
    }
    let deployment = format!("Deployment{}", &hex::encode(hasher.finalize())[..10]);
    let resource = t.resource(
        &deployment,
        "AWS::ApiGateway::Deployment",
        json!({ "RestApiId": reference("Api"), "Description": "Deployed by infra" }),
    );
    resource.insert("DependsOn".into(), json!(methods));
    log_group(t, "AccessLogGroup");
    let format = json!({
        "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime", "httpMethod": "$context.httpMethod",
        "domainName": "$context.domainName", "path": "$context.path",
        "status": "$context.status", "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency"
    });
    let stage = t.resource(
        "Stage",
        "AWS::ApiGateway::Stage",
        json!({
            "RestApiId": reference("Api"),
            "DeploymentId": reference(&deployment),
            "StageName": STAGE,
            "TracingEnabled": true,
            "AccessLogSetting": {
                "DestinationArn": get_att("AccessLogGroup", "Arn"),
                "Format": format.to_string()
            },
            "MethodSettings": [ {
                "ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": true,
                "ThrottlingRateLimit": THROTTLE_RATE, "ThrottlingBurstLimit": THROTTLE_BURST
            } ]
        }),
    );
    skip_checks(
        stage,
        &[(
            "CKV_AWS_120",
            "no response cache: answers are per request and must reflect the latest write, also right after a failover",
        )],
    );
}

/// The Regional custom domain, its certificate, the base path mapping and the failover record.
fn custom_domain(t: &mut Template, topology: &Topology, app: &App, role: RegionRole) {
    let hostname = topology.domain.subdomain(app.name().as_str());
    let region = role.of(&topology.regions);
    let regional = regional_hostname(topology, app, region);
    let certificate = t.resource(
        "Certificate",
        "AWS::CertificateManager::Certificate",
        json!({
            "DomainName": hostname,
            "SubjectAlternativeNames": [regional],
            "ValidationMethod": "DNS",
            "DomainValidationOptions": [
                { "DomainName": hostname, "HostedZoneId": reference(PARAM_HOSTED_ZONE) },
                { "DomainName": regional, "HostedZoneId": reference(PARAM_HOSTED_ZONE) }
            ]
        }),
    );
    certificate.insert("Condition".into(), "CreateCertificate".into());
    let certificate = if_(
        "CreateCertificate",
        reference("Certificate"),
        reference(PARAM_CERTIFICATE),
    );
    // A service's domains, both of them, admit only the gateway: mutual TLS with the gateway's
    // client certificates as the truststore, checked in the handshake.
    let mutual_tls = (app.as_service().is_some() && topology.aws.gateway_only).then(|| {
        json!({
            "TruststoreUri": sub(&format!("s3://${{{PARAM_BUCKET}}}/{}", super::truststore::TRUSTSTORE_KEY)),
            "TruststoreVersion": reference(PARAM_TRUSTSTORE_VERSION)
        })
    });
    for (id, name) in [
        ("CustomDomain", &hostname),
        ("RegionalCustomDomain", &regional),
    ] {
        let domain = t.resource(
            id,
            "AWS::ApiGateway::DomainName",
            json!({
                "DomainName": name,
                "RegionalCertificateArn": certificate,
                "EndpointConfiguration": { "Types": ["REGIONAL"] },
                "SecurityPolicy": "TLS_1_2"
            }),
        );
        if let Some(mutual_tls) = &mutual_tls {
            domain["Properties"]["MutualTlsAuthentication"] = mutual_tls.clone();
        }
    }
    for (id, domain) in [
        ("BasePathMapping", "CustomDomain"),
        ("RegionalBasePathMapping", "RegionalCustomDomain"),
    ] {
        t.resource(
            id,
            "AWS::ApiGateway::BasePathMapping",
            json!({ "DomainName": reference(domain), "RestApiId": reference("Api"), "Stage": reference("Stage") }),
        );
    }
    // The Region's own name: what warm-ups, verification and on-call checks call to reach
    // this Region whatever the failover records answer.
    t.resource(
        "RegionalRecord",
        "AWS::Route53::RecordSet",
        json!({
            "HostedZoneId": reference(PARAM_HOSTED_ZONE),
            "Name": format!("{regional}."),
            "Type": "A",
            "AliasTarget": {
                "DNSName": get_att("RegionalCustomDomain", "RegionalDomainName"),
                "HostedZoneId": get_att("RegionalCustomDomain", "RegionalHostedZoneId"),
                "EvaluateTargetHealth": false
            }
        }),
    );
    t.resource(
        "FailoverRecord",
        "AWS::Route53::RecordSet",
        json!({
            "HostedZoneId": reference(PARAM_HOSTED_ZONE),
            "Name": format!("{hostname}."),
            "Type": "A",
            "SetIdentifier": format!("{}-{region}", app.name()),
            "Failover": role.failover(),
            "HealthCheckId": reference(PARAM_HEALTH_CHECK),
            "AliasTarget": {
                "DNSName": get_att("CustomDomain", "RegionalDomainName"),
                "HostedZoneId": get_att("CustomDomain", "RegionalHostedZoneId"),
                "EvaluateTargetHealth": true
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_endpoints_are_region_equals_url_separated_by_commas() {
        let endpoints: Vec<ClusterEndpoint> = [
            ("us-east-1", "https://host1.example.com/v1"),
            ("us-west-2", "https://host2.example.com/v1"),
        ]
        .iter()
        .map(|(region, url)| ClusterEndpoint {
            region: region.parse().unwrap(),
            url: (*url).into(),
        })
        .collect();
        assert_eq!(
            fence_endpoints(&endpoints),
            "us-east-1=https://host1.example.com/v1,us-west-2=https://host2.example.com/v1"
        );
        assert_eq!(fence_endpoints(&[]), "");
    }
}
