//! S3's errors; the wire layer names each one's AWS error code and status.

/// An S3 failure. The message is what the caller sees; it never contains object data or key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum S3Error {
    #[error("{0}")]
    InvalidBucketName(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// InvalidArgument naming the argument and the value refused (S3's `ArgumentName`, `ArgumentValue`).
    #[error("{message}")]
    InvalidArgumentValue {
        message: String,
        name: &'static str,
        value: String,
    },
    #[error("{0}")]
    InvalidEncryptionAlgorithm(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The specified bucket does not exist")]
    NoSuchBucket { bucket: String },
    #[error("The specified key does not exist.")]
    NoSuchKey { key: String },
    /// The version asked for is a delete marker: the current one (NoSuchKey) or one named by its version id
    /// (MethodNotAllowed); either way S3 says so in `x-amz-delete-marker` and `x-amz-version-id`.
    #[error("{}", if *named { "The specified method is not allowed against this resource." } else { "The specified key does not exist." })]
    DeleteMarker {
        key: String,
        version_id: String,
        named: bool,
    },
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou { bucket: String },
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists { bucket: String },
    /// A versioned bucket's message adds that every version must go.
    #[error("{}", if *versioned { "The bucket you tried to delete is not empty. You must delete all versions in the bucket." } else { "The bucket you tried to delete is not empty" })]
    BucketNotEmpty { bucket: String, versioned: bool },
    #[error("The Versioning element must be specified")]
    IllegalVersioningConfiguration,
    #[error("The specified location-constraint is not valid")]
    InvalidLocationConstraint,
    /// A `LocationConstraint` (or none: `unspecified`) another Region's endpoint cannot create.
    #[error("The {0} location constraint is incompatible for the region specific endpoint this request was sent to.")]
    IllegalLocationConstraint(String),
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    /// The body's checksum is not the one the request declared (S3's `BadDigest`).
    #[error("The {0} you specified did not match the calculated checksum.")]
    ChecksumMismatch(&'static str),
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload { upload_id: String },
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart,
    #[error("The list of parts was not in ascending order. The parts list must be specified in order by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    /// 412; S3's error document names the `Condition` that failed (`If-Match`).
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed(&'static str),
    /// A conditional GET or HEAD whose object has not changed: 304, no body, the object's ETag and Last-Modified
    /// (Unix milliseconds).
    #[error("Not Modified")]
    NotModified {
        etag: String,
        last_modified: i64,
        condition: &'static str,
    },
    #[error("The requested range is not satisfiable")]
    InvalidRange { size: u64, requested: String },
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    #[error("The TagSet does not exist")]
    NoSuchTagSet { bucket: String },
    #[error("The server side encryption configuration was not found")]
    NoEncryptionConfiguration,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    /// KMS refused an SSE-KMS data key: its code (`KMS.DisabledException`) and message, as S3 passes them on.
    #[error("{message}")]
    Kms { code: &'static str, message: String },
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("The specified version does not exist.")]
    NoSuchVersion { key: String, version_id: String },
    #[error("{0}")]
    InvalidTag(String),
    /// S3's generic `BadRequest` (too many object tags).
    #[error("{0}")]
    BadRequest(String),
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber,
    #[error("The bucket name does not match the naming rules of the namespace in x-amz-bucket-namespace")]
    InvalidNamespaceHeader,
    /// A browser upload's policy that does not parse.
    #[error("{0}")]
    InvalidPolicyDocument(String),
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration { bucket: String },
    /// A preflight no rule allows (S3's `AccessForbidden`).
    #[error("{0}")]
    CorsForbidden(String),
    #[error("The replication configuration was not found")]
    ReplicationConfigurationNotFound { bucket: String },
    #[error("The specified bucket does not have a website configuration")]
    NoSuchWebsiteConfiguration { bucket: String },
    /// An inventory, metrics, analytics or Intelligent-Tiering configuration that is not there.
    #[error("The specified configuration does not exist.")]
    NoSuchConfiguration,
    #[error("You are attempting to create a new configuration but have already reached the 1,000-configuration limit.")]
    TooManyConfigurations,
    /// A configuration whose `Id` differs from the one its request names.
    #[error("Document ID does not match the specified configuration ID.")]
    IdMismatch,
    #[error("{0}")]
    InvalidS3DestinationBucket(String),
    #[error("{0}")]
    InvalidTargetBucketForLogging(String),
    /// (S3's message ends with a space.)
    #[error("Cross S3 location logging not allowed. ")]
    CrossLocationLoggingProhibited,
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration { bucket: String },
    /// A header value S3 does not serve (501; the error document names the `Header`).
    #[error("A header you provided implies functionality that is not implemented")]
    HeaderNotImplemented { header: &'static str },
    #[error("Request Body is empty")]
    MissingRequestBody,
    #[error("{0}")]
    InvalidBucketState(String),
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound,
    #[error("The specified object does not have a ObjectLock configuration")]
    NoSuchObjectLockConfiguration,
    #[error(
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
    )]
    LockNeedsDigest,
    #[error("The storage class you specified is not valid")]
    InvalidStorageClass,
    /// An archived object read before it is restored, or a restore of one that is not archived; S3's error
    /// document names the object's `StorageClass`.
    #[error("The operation is not valid for the object's storage class")]
    InvalidObjectState { storage_class: String },
    /// A copy from an archived object that is not restored.
    #[error("The source object of the COPY operation is not in the active tier and is only stored in Amazon Glacier.")]
    ObjectNotInActiveTier,
    #[error("The website redirect location must have a prefix of 'http://' or 'https://' or '/'.")]
    InvalidRedirectLocation,
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy { bucket: String },
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration,
    #[error("The bucket ownership controls were not found")]
    OwnershipControlsNotFound { bucket: String },
    /// A caller outside the bucket owner's account managing its policy.
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    /// Refused by the authoriser.
    #[error("{0}")]
    AccessDenied(String),
    /// Details go to the log, never to the caller (a stored body that fails to open is one).
    #[error("internal error")]
    Internal(String),
    /// Nothing was changed and the same request may succeed later (the disk is full).
    #[error("the service is unavailable")]
    Unavailable,
}

keyhaven_kernel::service_error!(S3Error);

impl From<keyhaven_crypto::CryptoError> for S3Error {
    fn from(e: keyhaven_crypto::CryptoError) -> Self {
        S3Error::Internal(format!("object body: {e}"))
    }
}
