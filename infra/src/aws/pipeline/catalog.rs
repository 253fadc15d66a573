//! What the CloudFormation execution role may do, per resource type the templates create:
//! the calls CloudFormation's handler for that type makes to create, read, update and delete
//! it, on this deployment's resources only.
//!
//! The execution role's policy is built from the resource types of the synthesized templates
//! (see [`super::template`]): a type missing here stops `infra pipeline-template` with its
//! name, so a new kind of resource cannot reach a pipeline without its permissions, and a type
//! the templates stop using takes its permissions with it.
//!
//! Resource patterns are filled in per deployment: `{prefix}` the stack prefix, `{iam_path}`
//! the roles' IAM path (`/<prefix>/`), `{region}` each Region the plan deploys to,
//! `{hostname}` each app's hostname, `{zone}` the hosted zone (a template parameter).
//! `${AWS::Partition}` and `${AWS::AccountId}` are left to CloudFormation.

/// Where a grant's actions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resources {
    /// ARN patterns of this deployment's resources.
    Scoped(&'static [&'static str]),
    /// `*`: AWS supports no resource-level permission for these actions. The reason goes in
    /// the statement's comment; its `Sid` ends in `NoResourceScope`.
    Unscoped,
}

/// A condition that narrows a grant further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `iam:PassedToService`: the role may be handed only to these services.
    PassedToService(&'static [&'static str]),
    /// `iam:AWSServiceName`: only this service's service-linked role.
    ServiceLinkedRoleFor(&'static str),
    /// Record changes only to the apps' hostnames and their certificates' validation records.
    AppRecordNames,
}

/// One statement of the execution role's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The statement's `Sid`, unique in the catalog.
    pub sid: &'static str,
    pub actions: &'static [&'static str],
    pub resources: Resources,
    pub condition: Option<Condition>,
}

const BUCKETS: &[&str] = &["arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*"];

const ARTIFACTS_BUCKETS: Grant = Grant {
    sid: "ArtifactsBuckets",
    actions: &[
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:GetBucketAcl",
        "s3:PutBucketTagging",
        "s3:GetBucketTagging",
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutBucketVersioning",
        "s3:GetBucketVersioning",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        "s3:PutLifecycleConfiguration",
        "s3:GetLifecycleConfiguration",
        // What CloudFormation's handler reads back of every bucket, set or not.
        "s3:GetAccelerateConfiguration",
        "s3:GetAnalyticsConfiguration",
        "s3:GetBucketCORS",
        "s3:GetInventoryConfiguration",
        "s3:GetBucketLogging",
        "s3:GetMetricsConfiguration",
        "s3:GetBucketNotification",
        "s3:GetReplicationConfiguration",
        "s3:GetBucketWebsite",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetIntelligentTieringConfiguration",
    ],
    resources: Resources::Scoped(BUCKETS),
    condition: None,
};

const ARTIFACTS_BUCKET_POLICIES: Grant = Grant {
    sid: "ArtifactsBucketPolicies",
    actions: &[
        "s3:PutBucketPolicy",
        "s3:GetBucketPolicy",
        "s3:DeleteBucketPolicy",
    ],
    resources: Resources::Scoped(BUCKETS),
    condition: None,
};

const ROLES: &[&str] = &["arn:${AWS::Partition}:iam::${AWS::AccountId}:role{iam_path}*"];

const STACK_ROLES: Grant = Grant {
    sid: "RolesUnderThisDeploymentsPath",
    actions: &[
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:ListRoleTags",
    ],
    resources: Resources::Scoped(ROLES),
    condition: None,
};

const PASS_STACK_ROLES: Grant = Grant {
    sid: "PassRolesToTheirServicesOnly",
    actions: &["iam:PassRole"],
    resources: Resources::Scoped(ROLES),
    condition: Some(Condition::PassedToService(&[
        "lambda.amazonaws.com",
        "apigateway.amazonaws.com",
    ])),
};

const API_GATEWAY_ACCOUNT: Grant = Grant {
    sid: "ApiGatewayAccountSetting",
    actions: &["apigateway:GET", "apigateway:PATCH"],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:apigateway:{region}::/account"]),
    condition: None,
};

const TRUSTSTORE: Grant = Grant {
    sid: "ReadTheServicesTruststore",
    // API Gateway reads a mutual TLS domain's truststore with the caller's rights.
    actions: &["s3:GetObject", "s3:GetObjectVersion"],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*/truststore/*"]),
    condition: None,
};

const ARC_RESOURCES: &[&str] = &[
    "arn:${AWS::Partition}:route53-recovery-control::${AWS::AccountId}:cluster/*",
    "arn:${AWS::Partition}:route53-recovery-control::${AWS::AccountId}:controlpanel/*",
];

const ARC_CONFIG: Grant = Grant {
    sid: "ArcClusterControlPanelsRoutingControlsSafetyRules",
    actions: &[
        "route53-recovery-control-config:DescribeCluster",
        "route53-recovery-control-config:DeleteCluster",
        "route53-recovery-control-config:CreateControlPanel",
        "route53-recovery-control-config:DescribeControlPanel",
        "route53-recovery-control-config:UpdateControlPanel",
        "route53-recovery-control-config:DeleteControlPanel",
        "route53-recovery-control-config:CreateRoutingControl",
        "route53-recovery-control-config:DescribeRoutingControl",
        "route53-recovery-control-config:UpdateRoutingControl",
        "route53-recovery-control-config:DeleteRoutingControl",
        "route53-recovery-control-config:ListAssociatedRoute53HealthChecks",
        "route53-recovery-control-config:CreateSafetyRule",
        "route53-recovery-control-config:DescribeSafetyRule",
        "route53-recovery-control-config:UpdateSafetyRule",
        "route53-recovery-control-config:DeleteSafetyRule",
        "route53-recovery-control-config:ListTagsForResource",
        "route53-recovery-control-config:TagResource",
        "route53-recovery-control-config:UntagResource",
    ],
    resources: Resources::Scoped(ARC_RESOURCES),
    condition: None,
};

const CREATE_CLUSTER: Grant = Grant {
    sid: "CreateClusterNoResourceScope",
    actions: &["route53-recovery-control-config:CreateCluster"],
    resources: Resources::Unscoped,
    condition: None,
};

const HEALTH_CHECKS: Grant = Grant {
    sid: "HealthChecks",
    actions: &[
        "route53:GetHealthCheck",
        "route53:UpdateHealthCheck",
        "route53:DeleteHealthCheck",
        "route53:ChangeTagsForResource",
        "route53:ListTagsForResource",
    ],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:route53:::healthcheck/*"]),
    condition: None,
};

const CREATE_HEALTH_CHECKS: Grant = Grant {
    sid: "CreateHealthChecksNoResourceScope",
    actions: &["route53:CreateHealthCheck"],
    resources: Resources::Unscoped,
    condition: None,
};

const ALARMS: Grant = Grant {
    sid: "AlarmsOfThisDeployment",
    actions: &[
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:TagResource",
        "cloudwatch:UntagResource",
        "cloudwatch:ListTagsForResource",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:cloudwatch:{region}:${AWS::AccountId}:alarm:{prefix}-*",
    ]),
    condition: None,
};

const ALARM_TOPICS: Grant = Grant {
    sid: "AlarmTopicsOfThisDeployment",
    actions: &[
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:TagResource",
        "sns:UntagResource",
        "sns:ListTagsForResource",
        "sns:Subscribe",
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:ListSubscriptionsByTopic",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:sns:{region}:${AWS::AccountId}:{prefix}-alarms",
    ]),
    condition: None,
};

const DASHBOARDS: Grant = Grant {
    sid: "DashboardsOfThisDeployment",
    actions: &[
        "cloudwatch:PutDashboard",
        "cloudwatch:GetDashboard",
        "cloudwatch:DeleteDashboards",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:cloudwatch::${AWS::AccountId}:dashboard/{prefix}-*",
    ]),
    condition: None,
};

const TABLES: Grant = Grant {
    sid: "GlobalTablesOfThisDeployment",
    actions: &[
        "dynamodb:CreateTable",
        "dynamodb:CreateTableReplica",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DeleteTableReplica",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:DescribeContributorInsights",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:DescribeKinesisStreamingDestination",
        "dynamodb:DescribeTableReplicaAutoScaling",
        "dynamodb:DescribeStream",
        "dynamodb:ListTagsOfResource",
        "dynamodb:TagResource",
        "dynamodb:UntagResource",
        // Adding a replica copies the table's items: DynamoDB requires these of whoever
        // creates one.
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:dynamodb:{region}:${AWS::AccountId}:table/{prefix}-*",
    ]),
    condition: None,
};

const REPLICATION_ROLE: Grant = Grant {
    sid: "GlobalTablesReplicationServiceLinkedRole",
    actions: &["iam:CreateServiceLinkedRole"],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication",
    ]),
    condition: Some(Condition::ServiceLinkedRoleFor(
        "replication.dynamodb.amazonaws.com",
    )),
};

const REST_APIS: Grant = Grant {
    sid: "RestApisStagesAndTheAppsDomainNames",
    actions: &[
        "apigateway:GET",
        "apigateway:POST",
        "apigateway:PUT",
        "apigateway:PATCH",
        "apigateway:DELETE",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:apigateway:{region}::/restapis",
        "arn:${AWS::Partition}:apigateway:{region}::/restapis/*",
        "arn:${AWS::Partition}:apigateway:{region}::/domainnames",
        "arn:${AWS::Partition}:apigateway:{region}::/domainnames/{hostname}",
        "arn:${AWS::Partition}:apigateway:{region}::/domainnames/{hostname}/*",
        "arn:${AWS::Partition}:apigateway:{region}::/tags/*",
        // The gateway's stage names its client certificate.
        "arn:${AWS::Partition}:apigateway:{region}::/clientcertificates/*",
    ]),
    condition: None,
};

const LOG_GROUPS: Grant = Grant {
    sid: "LogGroupsOfThisDeployment",
    actions: &[
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:TagResource",
        "logs:UntagResource",
        "logs:ListTagsForResource",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:logs:{region}:${AWS::AccountId}:log-group:{prefix}-*",
    ]),
    condition: None,
};

const LOG_GROUP_LISTING: Grant = Grant {
    sid: "DescribeLogGroupsNoResourceScope",
    actions: &["logs:DescribeLogGroups"],
    resources: Resources::Unscoped,
    condition: None,
};

const FUNCTIONS_ARN: &[&str] =
    &["arn:${AWS::Partition}:lambda:{region}:${AWS::AccountId}:function:{prefix}-*"];

const FUNCTIONS: Grant = Grant {
    sid: "FunctionsOfThisDeployment",
    actions: &[
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:ListVersionsByFunction",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetRuntimeManagementConfig",
        "lambda:GetFunctionRecursionConfig",
        "lambda:TagResource",
        "lambda:UntagResource",
        "lambda:ListTags",
    ],
    resources: Resources::Scoped(FUNCTIONS_ARN),
    condition: None,
};

const FUNCTION_PACKAGES: Grant = Grant {
    sid: "FunctionPackagesFromTheArtifactsBuckets",
    actions: &["s3:GetObject", "s3:GetObjectVersion"],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:s3:::{prefix}-bootstrap-*/lambda/*"]),
    condition: None,
};

const FUNCTION_PERMISSIONS: Grant = Grant {
    sid: "FunctionInvokePermissions",
    actions: &[
        "lambda:AddPermission",
        "lambda:RemovePermission",
        "lambda:GetPolicy",
    ],
    resources: Resources::Scoped(FUNCTIONS_ARN),
    condition: None,
};

const CERTIFICATES: Grant = Grant {
    sid: "Certificates",
    actions: &[
        "acm:DescribeCertificate",
        "acm:DeleteCertificate",
        "acm:AddTagsToCertificate",
        "acm:RemoveTagsFromCertificate",
        "acm:ListTagsForCertificate",
    ],
    resources: Resources::Scoped(&[
        "arn:${AWS::Partition}:acm:{region}:${AWS::AccountId}:certificate/*",
    ]),
    condition: None,
};

const REQUEST_CERTIFICATES: Grant = Grant {
    sid: "RequestCertificatesNoResourceScope",
    actions: &["acm:RequestCertificate"],
    resources: Resources::Unscoped,
    condition: None,
};

const APP_RECORDS: Grant = Grant {
    sid: "AppRecordsAndCertificateValidationRecords",
    actions: &[
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:GetHostedZone",
    ],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:route53:::hostedzone/{zone}"]),
    condition: Some(Condition::AppRecordNames),
};

const RECORD_CHANGES: Grant = Grant {
    sid: "RecordChangeStatus",
    actions: &["route53:GetChange"],
    resources: Resources::Scoped(&["arn:${AWS::Partition}:route53:::change/*"]),
    condition: None,
};

/// Every resource type the templates may create, with the grants CloudFormation needs for it.
pub const CATALOG: &[(&str, &[Grant])] = &[
    ("AWS::S3::Bucket", &[ARTIFACTS_BUCKETS]),
    ("AWS::S3::BucketPolicy", &[ARTIFACTS_BUCKET_POLICIES]),
    ("AWS::IAM::Role", &[STACK_ROLES, PASS_STACK_ROLES]),
    (
        "AWS::ApiGateway::Account",
        &[API_GATEWAY_ACCOUNT, STACK_ROLES, PASS_STACK_ROLES],
    ),
    (
        "AWS::Route53RecoveryControl::Cluster",
        &[CREATE_CLUSTER, ARC_CONFIG],
    ),
    ("AWS::Route53RecoveryControl::ControlPanel", &[ARC_CONFIG]),
    ("AWS::Route53RecoveryControl::RoutingControl", &[ARC_CONFIG]),
    ("AWS::Route53RecoveryControl::SafetyRule", &[ARC_CONFIG]),
    (
        "AWS::Route53::HealthCheck",
        // A RECOVERY_CONTROL health check names a routing control, a CLOUDWATCH_METRIC one
        // an alarm: Route 53 checks that it exists.
        &[CREATE_HEALTH_CHECKS, HEALTH_CHECKS],
    ),
    ("AWS::CloudWatch::Alarm", &[ALARMS]),
    ("AWS::CloudWatch::Dashboard", &[DASHBOARDS]),
    ("AWS::SNS::Topic", &[ALARM_TOPICS]),
    ("AWS::SNS::TopicPolicy", &[ALARM_TOPICS]),
    ("AWS::SNS::Subscription", &[ALARM_TOPICS]),
    ("AWS::DynamoDB::GlobalTable", &[TABLES, REPLICATION_ROLE]),
    ("AWS::ApiGateway::RestApi", &[REST_APIS]),
    ("AWS::ApiGateway::Resource", &[REST_APIS]),
    ("AWS::ApiGateway::Method", &[REST_APIS]),
    ("AWS::ApiGateway::Authorizer", &[REST_APIS]),
    ("AWS::ApiGateway::Deployment", &[REST_APIS]),
    ("AWS::ApiGateway::Stage", &[REST_APIS]),
    (
        "AWS::ApiGateway::DomainName",
        &[REST_APIS, CERTIFICATES, TRUSTSTORE],
    ),
    ("AWS::ApiGateway::BasePathMapping", &[REST_APIS]),
    ("AWS::Logs::LogGroup", &[LOG_GROUPS, LOG_GROUP_LISTING]),
    ("AWS::Lambda::Function", &[FUNCTIONS, FUNCTION_PACKAGES]),
    ("AWS::Lambda::Permission", &[FUNCTION_PERMISSIONS]),
    (
        "AWS::CertificateManager::Certificate",
        &[
            REQUEST_CERTIFICATES,
            CERTIFICATES,
            APP_RECORDS,
            RECORD_CHANGES,
        ],
    ),
    ("AWS::Route53::RecordSet", &[APP_RECORDS, RECORD_CHANGES]),
];

/// Why a grant's actions cannot be scoped to resources: the comment of its `*` statement.
pub fn why_unscoped(grant: &Grant) -> Option<&'static str> {
    match grant.sid {
        "GenerateSecretValueNoResourceScope" => Some(
            "GetRandomPassword generates a value and touches no resource: IAM accepts only `*`",
        ),
        "CreateHealthChecksNoResourceScope" => Some(
            "a health check's id is made by CreateHealthCheck, which IAM scopes to no resource: only `*`",
        ),
        "CreateClusterNoResourceScope" => Some(
            "a cluster's ARN is made by CreateCluster, which IAM scopes to no resource: only `*`",
        ),
        "DescribeLogGroupsNoResourceScope" => Some(
            "DescribeLogGroups lists by name prefix and IAM scopes it to no resource: only `*`",
        ),
        "RequestCertificatesNoResourceScope" => Some(
            "a certificate's ARN is made by RequestCertificate, which IAM scopes to no resource: only `*`",
        ),
        _ => None,
    }
}

/// The grants for `resource_type`, or `None` when the catalog does not know it.
pub fn grants(resource_type: &str) -> Option<&'static [Grant]> {
    CATALOG
        .iter()
        .find(|(kind, _)| *kind == resource_type)
        .map(|(_, grants)| *grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_is_scoped_or_says_why_not_and_names_no_wildcard_action() {
        for (kind, grants) in CATALOG {
            for grant in *grants {
                assert!(!grant.actions.is_empty(), "{kind}: {}", grant.sid);
                for action in grant.actions {
                    assert!(!action.contains('*'), "{kind}: {action}");
                    assert!(action.contains(':'), "{kind}: {action}");
                }
                match grant.resources {
                    Resources::Unscoped => {
                        assert!(grant.sid.ends_with("NoResourceScope"), "{}", grant.sid);
                        assert!(why_unscoped(grant).is_some(), "{}", grant.sid);
                    }
                    Resources::Scoped(arns) => {
                        assert!(!grant.sid.ends_with("NoResourceScope"), "{}", grant.sid);
                        assert!(why_unscoped(grant).is_none(), "{}", grant.sid);
                        for arn in arns {
                            assert!(arn.starts_with("arn:${AWS::Partition}:"), "{arn}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_sid_names_one_grant() {
        let mut seen: Vec<&Grant> = Vec::new();
        for grant in CATALOG.iter().flat_map(|(_, g)| g.iter()) {
            if let Some(other) = seen.iter().find(|g| g.sid == grant.sid) {
                assert_eq!(*other, grant, "two grants share the Sid {}", grant.sid);
            } else {
                seen.push(grant);
            }
        }
    }
}
