//! The AWS managed policies this server knows, so `arn:aws:iam::aws:policy/...` can be attached.
//!
//! The documents follow AWS's published policies, narrowed to the services Keyhaven implements; the
//! broad ones (AdministratorAccess, PowerUserAccess) are AWS's exact statements.

/// An AWS managed policy: name, id and default document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsManagedPolicy {
    pub name: &'static str,
    pub id: &'static str,
    pub description: &'static str,
    pub document: &'static str,
}

impl AwsManagedPolicy {
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy/{}", self.name)
    }
}

pub const AWS_MANAGED_POLICIES: &[AwsManagedPolicy] = &[
    AwsManagedPolicy {
        name: "AdministratorAccess",
        id: "ANPAIWMBCKSKIEE64ZLYK",
        description: "Provides full access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "PowerUserAccess",
        id: "ANPAJYRXTHIB4FOVS3ZXS",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization","account:ListRegions","account:GetAccountInformation"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "ReadOnlyAccess",
        id: "ANPAILL3HVNFSB6DCOWYQ",
        description: "Provides read-only access to AWS services and resources.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Describe*","kms:Get*","kms:List*","ssm:Describe*","ssm:Get*","ssm:List*","secretsmanager:Describe*","secretsmanager:GetResourcePolicy","secretsmanager:List*","iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","s3:Get*","s3:List*","s3:Describe*","cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:List*","cloudtrail:LookupEvents","sts:GetCallerIdentity"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMFullAccess",
        id: "ANPAI7XKCFMBPM3QQRRVQ",
        description: "Provides full access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMReadOnlyAccess",
        id: "ANPAJKSO7NDY4T57MWDSQ",
        description: "Provides read only access to IAM via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AWSKeyManagementServicePowerUser",
        id: "ANPAJNPP7PPPPMJRV2SA4",
        description: "Provides access to AWS Key Management Service (KMS).",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:CreateKey","kms:DeleteAlias","kms:Describe*","kms:GenerateRandom","kms:Get*","kms:List*","kms:TagResource","kms:UntagResource","iam:ListGroups","iam:ListRoles","iam:ListUsers"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AmazonSSMReadOnlyAccess",
        id: "ANPAJODSKQGGJTHRYZ5FC",
        description: "Provides read only access to Amazon SSM.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:Describe*","ssm:Get*","ssm:List*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AmazonSSMFullAccess",
        id: "ANPAJA7V6HI4ISQFMDYAG",
        description: "Provides full access to Amazon SSM.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "SecretsManagerReadWrite",
        id: "ANPAIUQOLBMVW6J4VIHFO",
        description: "Provides read/write access to AWS Secrets Manager via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*","kms:DescribeKey","kms:ListAliases","kms:ListKeys"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AmazonS3FullAccess",
        id: "ANPAIFIR6V6BVTRAHWINE",
        description: "Provides full access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","s3-object-lambda:*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AmazonS3ReadOnlyAccess",
        id: "ANPAIZTJ4DXE7G6AGAE6M",
        description: "Provides read only access to all buckets via the AWS Management Console.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*","s3:Describe*","s3-object-lambda:Get*","s3-object-lambda:List*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AWSCloudTrail_ReadOnlyAccess",
        id: "ANPAJDU7KJADWBSEQ3E7S",
        description: "Provides read only access to AWS CloudTrail.",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["cloudtrail:Get*","cloudtrail:Describe*","cloudtrail:List*","cloudtrail:LookupEvents"],"Resource":"*"}]}"#,
    },
];

/// The AWS managed policy an ARN names, if it is one this server knows.
pub fn aws_managed(arn: &str) -> Option<&'static AwsManagedPolicy> {
    let name = arn.strip_prefix("arn:aws:iam::aws:policy/")?;
    AWS_MANAGED_POLICIES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_managed_policy_is_a_valid_identity_policy() {
        for policy in AWS_MANAGED_POLICIES {
            keyhaven_policy::PolicyDocument::parse_as(policy.document, keyhaven_policy::PolicyKind::Identity)
                .unwrap_or_else(|e| panic!("{}: {e}", policy.name));
            assert_eq!(aws_managed(&policy.arn()), Some(policy));
        }
        assert_eq!(aws_managed("arn:aws:iam::aws:policy/NoSuchPolicy"), None);
    }
}
