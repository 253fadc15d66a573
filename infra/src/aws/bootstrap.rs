//! The bootstrap stack, one per Region: the artifacts bucket the Lambda packages (and the
//! templates over CloudFormation's inline limit) are uploaded to, and API Gateway's
//! account-level role for writing access logs to CloudWatch Logs. With `aws.gateway_only`, the
//! deploy also writes the truststore of the services' mutual TLS to the bucket
//! ([`super::truststore`]).

use serde_json::{Map, Value, json};
use topology::Topology;

use super::names::StackPrefix;

use super::template::{Template, get_att, reference, skip_checks, sub};

/// Output: the artifacts bucket's name.
pub const OUTPUT_ARTIFACTS_BUCKET: &str = "ArtifactsBucketName";

/// The bootstrap template (the same in each Region).
pub fn template(topology: &Topology, prefix: &StackPrefix) -> Template {
    let mut t = Template::new(
        "Bootstrap: the artifacts bucket for Lambda packages and API Gateway's CloudWatch Logs role",
    );
    let bucket = t.resource(
        "ArtifactsBucket",
        "AWS::S3::Bucket",
        json!({
            "BucketEncryption": { "ServerSideEncryptionConfiguration": [
                { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
            ]},
            "VersioningConfiguration": { "Status": "Enabled" },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true, "BlockPublicPolicy": true,
                "IgnorePublicAcls": true, "RestrictPublicBuckets": true
            },
            "OwnershipControls": { "Rules": [ { "ObjectOwnership": "BucketOwnerEnforced" } ] },
            // Old package versions are only needed for a rollback; keep a month of them.
            // CloudFormation keeps its own copy of a template from S3 once a change set is
            // made: the uploaded ones go after a month (a deploy uploads them again).
            "LifecycleConfiguration": { "Rules": [ {
                "Id": "expire-old-packages", "Status": "Enabled",
                "NoncurrentVersionExpiration": { "NoncurrentDays": 30 }
            }, {
                "Id": "expire-uploaded-templates", "Status": "Enabled",
                "Prefix": "templates/",
                "ExpirationInDays": 30
            } ] }
        }),
    );
    skip_checks(
        bucket,
        &[(
            "CKV_AWS_18",
            "holds only the Lambda packages the deploy writes; CloudTrail records who changes them",
        )],
    );
    t.resource(
        "ArtifactsBucketPolicy",
        "AWS::S3::BucketPolicy",
        json!({
            "Bucket": reference("ArtifactsBucket"),
            "PolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                "Action": "s3:*",
                "Resource": [ get_att("ArtifactsBucket", "Arn"), sub("${ArtifactsBucket.Arn}/*") ],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            } ] }
        }),
    );
    api_gateway_logging_role(&mut t, prefix);
    super::monitoring::alarm_topic(&mut t, topology, prefix);
    t.output(
        OUTPUT_ARTIFACTS_BUCKET,
        "Where the deploy uploads the Lambda packages",
        reference("ArtifactsBucket"),
    );
    t
}

/// The parameter naming the account's API Gateway CloudWatch Logs role when one is already
/// set (`GetAccount`): empty, the stack creates the role and the setting.
pub const PARAM_EXISTING_LOGGING_ROLE: &str = "ExistingApiGatewayCloudWatchRoleArn";

/// API Gateway writes access logs through one role per account and Region
/// (`AWS::ApiGateway::Account`); without it, a stage with access logging fails to deploy.
///
/// That setting is shared by every API in the account and Region. When the account already has
/// a role set (another team's, found by the deploy with `GetAccount`), the stack reuses it and
/// creates neither: overwriting the setting would point every other API at this deployment's
/// role. When it creates them, both are retained: `infra destroy` must not leave other APIs
/// pointing at a deleted role.
fn api_gateway_logging_role(t: &mut Template, prefix: &StackPrefix) {
    t.parameter(
        PARAM_EXISTING_LOGGING_ROLE,
        "The account's API Gateway CloudWatch Logs role in this Region, when one is already set; empty: create one",
        Some(""),
    );
    t.condition(
        "CreateLoggingRole",
        json!({ "Fn::Equals": [reference(PARAM_EXISTING_LOGGING_ROLE), ""] }),
    );
    let role = t.resource(
        "ApiGatewayCloudWatchRole",
        "AWS::IAM::Role",
        json!({
            "Path": prefix.iam_path(),
            "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                "Effect": "Allow",
                "Principal": { "Service": "apigateway.amazonaws.com" },
                "Action": "sts:AssumeRole"
            } ] },
            "Policies": [ {
                "PolicyName": "write-api-logs",
                "PolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                        "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents",
                        "logs:FilterLogEvents"
                    ],
                    // API Gateway names its execution log groups itself, so the resource is
                    // this account's log groups in this Region, not one ARN.
                    "Resource": sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*")
                } ] }
            } ]
        }),
    );
    role.insert("Condition".into(), "CreateLoggingRole".into());
    retain(role);
    let account = t.resource(
        "ApiGatewayAccount",
        "AWS::ApiGateway::Account",
        json!({ "CloudWatchRoleArn": get_att("ApiGatewayCloudWatchRole", "Arn") }),
    );
    account.insert("Condition".into(), "CreateLoggingRole".into());
    retain(account);
}

/// Keeps the resource when its stack is deleted or the resource is replaced.
fn retain(resource: &mut Map<String, Value>) {
    resource.insert("DeletionPolicy".into(), "Retain".into());
    resource.insert("UpdateReplacePolicy".into(), "Retain".into());
}
