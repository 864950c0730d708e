//! Why a policy document is refused, worded as AWS's MalformedPolicyDocument messages.
//!
//! Each variant notes where its text comes from. "Verified" texts were seen in real AWS responses
//! (`../shared/aws/aws-errors-observed.tsv` or error output quoted in public issue threads);
//! "guessed" texts are our best wording where no AWS response was found. Several variants share
//! AWS's catch-all text on purpose: AWS gives no detail there, but callers and tests can still tell
//! the causes apart by variant.

/// Largest document [`crate::PolicyDocument::parse`] accepts (KMS key policies; AWS: 32 KB).
pub const MAX_POLICY_BYTES: usize = 32_768;

/// Why a policy document is not acceptable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// Verified: IAM CreateRole with a trailing comma in the document.
    #[error("This policy contains invalid Json")]
    InvalidJson,
    /// Verified: IAM's answer for a wrong-typed element (a statement that is not an object, a list
    /// of numbers where strings belong, ...).
    #[error("Syntax errors in policy.")]
    Syntax,
    /// Verified: IAM answers "Syntax errors in policy." for a Condition block whose operator it does
    /// not know (cfn-lint issue 3751). The operator is kept for callers, not shown.
    #[error("Syntax errors in policy.")]
    UnknownConditionOperator(String),
    /// Verified for S3 bucket policies ("Missing required field Statement", "... Principal");
    /// guessed for IAM and for `Effect`.
    #[error("Missing required field {0}")]
    MissingField(&'static str),
    /// Guessed (S3 wording): an element the grammar does not have.
    #[error("Unknown field {0}")]
    UnknownField(String),
    /// Verified: "Has prohibited field Resource" for a role trust policy with a Resource.
    #[error("Has prohibited field {0}")]
    ProhibitedField(&'static str),
    /// Verified: IAM identity policy (PutRolePolicy, CreatePolicy) with a Principal.
    #[error("Policy document should not specify a principal.")]
    PrincipalNotAllowed,
    /// Verified: IAM CreateRole with a trust-policy statement that names no principal.
    #[error(
        "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: The passed in policy has a statement with no principals!"
    )]
    NoPrincipals,
    /// Verified format: `Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:role/x"`.
    /// The field holds the `"Type":"value"` fragment.
    #[error("Invalid principal in policy: {0}")]
    InvalidPrincipal(String),
    /// Guessed (S3 wording, from memory): an Effect other than Allow or Deny.
    #[error("Invalid effect: {0}")]
    InvalidEffect(String),
    /// Widely reported IAM text (not re-verified here).
    #[error("Policy statement must contain actions.")]
    MissingAction,
    /// Widely reported IAM text (not re-verified here).
    #[error("Policy statement must contain resources.")]
    MissingResource,
    /// IAM text for an action or condition key without a `vendor:` prefix (from memory).
    #[error("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")]
    MissingVendor,
    /// Verified: IAM CreatePolicy with an action such as `a:b:c`.
    #[error("Actions/Condition can contain only one colon.")]
    ActionColons,
    /// Verified: IAM PutRolePolicy with a Resource that is neither an ARN nor `*`.
    #[error("Resource {0} must be in ARN format or \"*\".")]
    ResourceNotArn(String),
    /// Verified text. AWS's exact trigger is unclear; we use it where the document is not in the
    /// 2012-10-17 language: an unknown Version, or a malformed Resource without a Version.
    #[error("The policy failed legacy parsing")]
    LegacyParsing,
    /// Verified: IAM policies only (KMS and S3 accept other Sids).
    #[error(
        "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
    )]
    InvalidSid,
    /// Verified: IAM policies only.
    #[error("Statement IDs (SID) in a single policy must be unique.")]
    DuplicateSid,
    /// Verified (AWS 2026): a role trust policy whose actions are not of the AssumeRole family.
    #[error("AssumeRole policy may only specify STS AssumeRole actions.")]
    TrustAction,
    /// Verified (aws-cdk#5732): a trust policy whose `Principal` is the bare string `*`.
    #[error("AssumeRolepolicy contained an invalid principal: \"STAR\":\"*\".")]
    TrustStar,
    /// Verified (AWS 2026): a managed policy (CreatePolicy, CreatePolicyVersion) without Version 2012-10-17.
    #[error("Policy document must be version 2012-10-17 or greater.")]
    VersionRequired,
    /// Verified (AWS 2026): a resource whose second field is not a partition; `resource` is rebuilt as AWS shows it.
    #[error("Partition \"{partition}\" is not valid for resource \"{resource}\".")]
    InvalidPartition { partition: String, resource: String },
    /// Verified (AWS 2026): `arn:aws` with nothing after the partition.
    #[error("Resource vendor must be fully qualified and cannot contain regexes.")]
    ResourceVendor,
    /// Verified (AWS 2026).
    #[error("IAM resource {0} cannot contain region information.")]
    IamRegion(String),
    /// Verified (AWS 2026), "can not" as AWS writes it.
    #[error("Resource {0} can not contain region information.")]
    S3Region(String),
    /// Verified (AWS 2026).
    #[error(
        "IAM resource path must either be \"*\", root, or start with user/, federated-user/, role/, group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, oidc-provider/, report/, access-report/."
    )]
    IamResourcePath,
    /// Verified (AWS 2026): an action vendor with characters other than letters, digits, `.` and `-`.
    #[error("Vendor {0} is not valid")]
    InvalidVendor(String),
    /// Guessed: NotPrincipal is only supported with Deny.
    #[error("NotPrincipal is only supported with \"Effect\": \"Deny\".")]
    NotPrincipalWithAllow,
    /// Guessed: the KMS size limit of [`crate::PolicyDocument::parse`].
    #[error("Policy document exceeds the maximum allowed size of {MAX_POLICY_BYTES} bytes.")]
    TooLarge,
}
