//! The bootstrap stack, one per Region: the artifacts bucket the Lambda packages are uploaded
//! to, and API Gateway's account-level role for writing access logs to CloudWatch Logs.

use serde_json::{Map, Value, json};

use super::template::{Template, get_att, reference, skip_checks, sub};

/// Output: the artifacts bucket's name.
pub const OUTPUT_ARTIFACTS_BUCKET: &str = "ArtifactsBucketName";

/// The bootstrap template (the same for every Region).
pub fn template() -> Template {
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
            "LifecycleConfiguration": { "Rules": [ {
                "Id": "expire-old-packages", "Status": "Enabled",
                "NoncurrentVersionExpiration": { "NoncurrentDays": 30 }
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
    api_gateway_logging_role(&mut t);
    t.output(
        OUTPUT_ARTIFACTS_BUCKET,
        "Where the deploy uploads the Lambda packages",
        reference("ArtifactsBucket"),
    );
    t
}

/// API Gateway writes access logs through one role per account and Region
/// (`AWS::ApiGateway::Account`); without it, a stage with access logging fails to deploy.
///
/// That setting is shared by every API in the account and Region, so both resources are
/// retained: `infra destroy` must not leave other APIs pointing at a deleted role. A later
/// deploy sets the same setting again with a new role, which is harmless.
fn api_gateway_logging_role(t: &mut Template) {
    let role = t.resource(
        "ApiGatewayCloudWatchRole",
        "AWS::IAM::Role",
        json!({
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
    retain(role);
    let account = t.resource(
        "ApiGatewayAccount",
        "AWS::ApiGateway::Account",
        json!({ "CloudWatchRoleArn": get_att("ApiGatewayCloudWatchRole", "Arn") }),
    );
    retain(account);
}

/// Keeps the resource when its stack is deleted or the resource is replaced.
fn retain(resource: &mut Map<String, Value>) {
    resource.insert("DeletionPolicy".into(), "Retain".into());
    resource.insert("UpdateReplacePolicy".into(), "Retain".into());
}
