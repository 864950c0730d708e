//! KMS end to end: the real server driven by aws-sdk-kms, plus raw signed HTTP for bad input.

mod common;

use std::time::{Duration, SystemTime};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use common::{Signing, kms_call, send_raw};
use keyhaven_tests::{Options, Server};

fn error_code<E, R>(
    result: Result<R, aws_sdk_kms::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> (String, String)
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = result.expect_err("expected an error");
    let service = err.as_service_error().expect("service error");
    (
        service.code().unwrap_or_default().to_string(),
        service.message().unwrap_or_default().to_string(),
    )
}

/// (what the server answered, what AWS answers): (code, message) each.
type ErrorCase = ((String, String), (&'static str, String));

async fn encrypt(kms: &aws_sdk_kms::Client, key_id: &str, plaintext: &str) -> Blob {
    let out = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
        .expect("encrypt");
    out.ciphertext_blob().expect("ciphertext").clone()
}

async fn enable_rotation(kms: &aws_sdk_kms::Client, key_id: &str, days: i32) {
    kms.enable_key_rotation()
        .key_id(key_id)
        .rotation_period_in_days(days)
        .send()
        .await
        .expect("enable rotation");
}

async fn create_key(kms: &aws_sdk_kms::Client) -> String {
    let out = kms
        .create_key()
        .description("test key")
        .send()
        .await
        .expect("create key");
    out.key_metadata().expect("metadata").key_id().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn asymmetric_and_hmac_keys_through_the_sdk() {
    use aws_sdk_kms::types::{
        KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
    };
    let server = Server::dev();
    let kms = server.kms();
    let created = |spec: KeySpec, usage: KeyUsageType| {
        let kms = kms.clone();
        async move {
            let out = kms
                .create_key()
                .key_spec(spec)
                .key_usage(usage)
                .send()
                .await
                .expect("create key");
            out.key_metadata().expect("metadata").clone()
        }
    };
    let signing = created(KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_eq!(signing.signing_algorithms(), [SigningAlgorithmSpec::EcdsaSha256]);
    let digest = keyhaven_crypto::digest::sha256(b"release-1.0.tar.gz");
    let signed = kms
        .sign()
        .key_id(signing.key_id())
        .message(Blob::new(digest.to_vec()))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("sign");
    let verified = kms
        .verify()
        .key_id(signing.key_id())
        .message(Blob::new(b"release-1.0.tar.gz".to_vec()))
        .signature(signed.signature().expect("signature").clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("verify");
    assert!(verified.signature_valid());
    let forged = kms
        .verify()
        .key_id(signing.key_id())
        .message(Blob::new(b"release-1.1.tar.gz".to_vec()))
        .signature(signed.signature().expect("signature").clone())
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    assert_eq!(
        error_code(forged),
        ("KMSInvalidSignatureException".to_string(), String::new())
    );

    let mac_key = created(KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let mac = kms
        .generate_mac()
        .key_id(mac_key.key_id())
        .message(Blob::new(b"session".to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("generate mac");
    let checked = kms
        .verify_mac()
        .key_id(mac_key.key_id())
        .message(Blob::new(b"session".to_vec()))
        .mac(mac.mac().expect("mac").clone())
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("verify mac");
    assert!(checked.mac_valid());

    // Two KMS key-agreement keys derive the same secret from each other's public keys.
    let alice = created(KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let bob = created(KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let public_of = |key_id: String| {
        let kms = kms.clone();
        async move {
            let out = kms.get_public_key().key_id(key_id).send().await.expect("public key");
            out.public_key().expect("public key").clone()
        }
    };
    let derive = |key_id: String, peer: Blob| {
        let kms = kms.clone();
        async move {
            let out = kms
                .derive_shared_secret()
                .key_id(key_id)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(peer)
                .send()
                .await
                .expect("derive");
            out.shared_secret().expect("secret").as_ref().to_vec()
        }
    };
    let from_alice = derive(alice.key_id().to_string(), public_of(bob.key_id().to_string()).await).await;
    let from_bob = derive(bob.key_id().to_string(), public_of(alice.key_id().to_string()).await).await;
    assert_eq!(from_alice, from_bob);
    assert_eq!(from_alice.len(), 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn key_lifecycle_with_aliases_and_tags() {
    let server = Server::dev();
    let kms = server.kms();
    let created = kms
        .create_key()
        .description("app key")
        .tags(Tag::builder().tag_key("team").tag_value("core").build().expect("tag"))
        .send()
        .await
        .expect("create");
    let meta = created.key_metadata().expect("metadata");
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.aws_account_id(), Some("000000000000"));
    assert!(
        meta.arn()
            .expect("arn")
            .starts_with("arn:aws:kms:us-east-1:000000000000:key/")
    );
    let key_id = meta.key_id().to_string();

    kms.create_alias()
        .alias_name("alias/app")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("alias");
    let described = kms
        .describe_key()
        .key_id("alias/app")
        .send()
        .await
        .expect("describe by alias");
    assert_eq!(
        described.key_metadata().expect("metadata").description(),
        Some("app key")
    );

    kms.update_key_description()
        .key_id(&key_id)
        .description("renamed")
        .send()
        .await
        .expect("update");
    kms.tag_resource()
        .key_id(&key_id)
        .tags(Tag::builder().tag_key("env").tag_value("test").build().expect("tag"))
        .send()
        .await
        .expect("tag");
    let tags = kms.list_resource_tags().key_id(&key_id).send().await.expect("tags");
    let mut pairs: Vec<_> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect();
    pairs.sort();
    assert_eq!(pairs, [("env".into(), "test".into()), ("team".into(), "core".into())]);

    let aliases = kms.list_aliases().key_id(&key_id).send().await.expect("aliases");
    assert_eq!(aliases.aliases().len(), 1);
    assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/app"));

    kms.disable_key().key_id(&key_id).send().await.expect("disable");
    let (code, message) = error_code(kms.encrypt().key_id(&key_id).plaintext(Blob::new("x")).send().await);
    assert_eq!(code, "DisabledException");
    assert!(message.ends_with("is disabled."), "{message}");
    kms.enable_key().key_id(&key_id).send().await.expect("enable");

    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let (code, _) = error_code(kms.encrypt().key_id(&key_id).plaintext(Blob::new("x")).send().await);
    assert_eq!(code, "KMSInvalidStateException");
    kms.cancel_key_deletion().key_id(&key_id).send().await.expect("cancel");
    let state = kms.describe_key().key_id(&key_id).send().await.expect("describe");
    assert_eq!(
        state.key_metadata().expect("metadata").key_state(),
        Some(&KeyState::Disabled)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn encrypt_decrypt_and_data_keys() {
    let server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    let encrypted = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("top secret"))
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("encrypt");
    let blob = encrypted.ciphertext_blob().expect("blob").clone();
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .expect("decrypt");
    assert_eq!(decrypted.plaintext().expect("plaintext").as_ref(), b"top secret");
    assert_eq!(decrypted.key_id(), encrypted.key_id());

    let (code, message) = error_code(kms.decrypt().ciphertext_blob(blob.clone()).send().await);
    assert_eq!((code.as_str(), message.as_str()), ("InvalidCiphertextException", ""));

    let mut tampered = blob.as_ref().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (code, _) = error_code(
        kms.decrypt()
            .ciphertext_blob(Blob::new(tampered))
            .encryption_context("purpose", "test")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidCiphertextException");

    let other = create_key(&kms).await;
    let (code, message) = error_code(
        kms.decrypt()
            .ciphertext_blob(blob)
            .key_id(&other)
            .encryption_context("purpose", "test")
            .send()
            .await,
    );
    assert_eq!(code, "IncorrectKeyException");
    assert_eq!(
        message,
        "The key ID in the request does not identify a CMK that can perform this operation."
    );

    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("gdk");
    assert_eq!(data_key.plaintext().expect("plaintext").as_ref().len(), 32);
    let unwrapped = kms
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("decrypt");
    assert_eq!(
        unwrapped.plaintext().expect("plaintext").as_ref(),
        data_key.plaintext().expect("plaintext").as_ref()
    );

    let without = kms
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .number_of_bytes(64)
        .send()
        .await
        .expect("gdk wo");
    let unwrapped = kms
        .decrypt()
        .ciphertext_blob(without.ciphertext_blob().expect("blob").clone())
        .send()
        .await
        .expect("decrypt");
    assert_eq!(unwrapped.plaintext().expect("plaintext").as_ref().len(), 64);

    let moved = kms
        .re_encrypt()
        .ciphertext_blob(without.ciphertext_blob().expect("blob").clone())
        .destination_key_id(&other)
        .destination_encryption_context("k", "v")
        .send()
        .await
        .expect("re-encrypt");
    assert!(moved.key_id().expect("key").ends_with(&other));
    let again = kms
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob().expect("blob").clone())
        .encryption_context("k", "v")
        .send()
        .await
        .expect("decrypt");
    assert_eq!(
        again.plaintext().expect("plaintext").as_ref(),
        unwrapped.plaintext().expect("plaintext").as_ref()
    );

    let random = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .expect("random");
    assert_eq!(random.plaintext().expect("bytes").as_ref().len(), 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_error_codes_and_messages() {
    let server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    let missing = "11111111-2222-4333-8444-555555555555";
    let cases: Vec<ErrorCase> = vec![
        (error_code(kms.describe_key().key_id("fake-key-id").send().await), ("NotFoundException", "Invalid keyId 'fake-key-id'".into())),
        (
            error_code(kms.describe_key().key_id(missing).send().await),
            ("NotFoundException", format!("Key 'arn:aws:kms:us-east-1:000000000000:key/{missing}' does not exist")),
        ),
        (
            error_code(kms.generate_random().number_of_bytes(0).send().await),
            ("ValidationException", "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1".into()),
        ),
        (
            error_code(kms.generate_random().number_of_bytes(1025).send().await),
            ("ValidationException", "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024".into()),
        ),
        (error_code(kms.generate_random().send().await), ("ValidationException", "NumberOfBytes is required.".into())),
        (
            error_code(kms.encrypt().key_id(&key_id).plaintext(Blob::new(vec![0u8; 4097])).send().await),
            ("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096".into()),
        ),
        (
            error_code(kms.create_alias().alias_name("noprefix").target_key_id(&key_id).send().await),
            ("ValidationException", "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into()),
        ),
        (
            error_code(kms.create_key().tags(Tag::builder().tag_key("aws:x").tag_value("v").build().expect("tag")).send().await),
            ("TagException", "Tags beginning with aws: are reserved".into()),
        ),
        (
            error_code(kms.generate_data_key().key_id(&key_id).send().await),
            ("ValidationException", "Please specify either number of bytes or key spec.".into()),
        ),
        (
            error_code(kms.encrypt().key_id(&key_id).plaintext(Blob::new("x")).dry_run(true).send().await),
            ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.".into()),
        ),
    ];
    for (got, (code, message)) in cases {
        assert_eq!((got.0.as_str(), got.1.as_str()), (code, message.as_str()));
    }
    kms.create_alias()
        .alias_name("alias/taken")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("alias");
    let (code, message) = error_code(
        kms.create_alias()
            .alias_name("alias/taken")
            .target_key_id(&key_id)
            .send()
            .await,
    );
    assert_eq!(code, "AlreadyExistsException");
    assert_eq!(
        message,
        "An alias with the name arn:aws:kms:us-east-1:000000000000:alias/taken already exists"
    );
    let (code, _) = error_code(
        kms.create_alias()
            .alias_name("alias/aws/mine")
            .target_key_id(&key_id)
            .send()
            .await,
    );
    assert_eq!(code, "NotAuthorizedException");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_old_ciphertexts_decryptable() {
    let server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    let before = encrypt(&kms, &key_id, "v1").await;
    enable_rotation(&kms, &key_id, 90).await;
    let status = kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("status");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert!(status.next_rotation_date().is_some());
    let (code, _) = error_code(
        kms.enable_key_rotation()
            .key_id(&key_id)
            .rotation_period_in_days(89)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");

    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("rotate now");
    let rotations = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("rotations");
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type().map(|t| t.as_str()),
        Some("ON_DEMAND")
    );
    let after = encrypt(&kms, &key_id, "v2").await;
    for (blob, plain) in [(before, "v1"), (after, "v2")] {
        let out = kms.decrypt().ciphertext_blob(blob).send().await.expect("decrypt");
        assert_eq!(out.plaintext().expect("plaintext").as_ref(), plain.as_bytes());
    }
    kms.disable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("disable rotation");
    assert!(
        !kms.get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .expect("status")
            .key_rotation_enabled()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_keys_pages_through_every_key() {
    let server = Server::dev();
    let kms = server.kms();
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create_key(&kms).await);
    }
    created.sort();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = kms
            .list_keys()
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list");
        seen.extend(page.keys().iter().filter_map(|k| k.key_id().map(str::to_string)));
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    assert_eq!(seen, created);
}

/// Advances the dev server's domain clock and waits for due jobs to run (no sleeping).
fn advance_clock(server: &Server, seconds: i64) {
    let body = format!("{{\"advance_seconds\": {seconds}}}");
    let response = send_raw(
        &server.endpoint,
        "POST",
        "/_keyhaven/clock",
        &[("content-type".into(), "application/json".into())],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_deletion_survives_restart_and_runs_when_due() {
    let mut server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/doomed")
        .target_key_id(&key_id)
        .send()
        .await
        .expect("alias");
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    server.restart();
    let kms = server.kms();
    advance_clock(&server, 6 * 86_400);
    kms.describe_key().key_id(&key_id).send().await.expect("still pending");
    advance_clock(&server, 86_400 + 60);
    let (code, _) = error_code(kms.describe_key().key_id(&key_id).send().await);
    assert_eq!(code, "NotFoundException");
    // Only AWS's predefined aliases remain, with no key behind them.
    let aliases = kms.list_aliases().send().await.expect("aliases");
    assert!(aliases.aliases().iter().all(|a| a.target_key_id().is_none()));
    assert!(
        aliases
            .aliases()
            .iter()
            .all(|a| a.alias_name().is_some_and(|n| n.starts_with("alias/aws/")))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_rotation_runs_on_schedule() {
    let server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    let before = encrypt(&kms, &key_id, "old").await;
    enable_rotation(&kms, &key_id, 90).await;
    advance_clock(&server, 90 * 86_400);
    let rotations = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("rotations");
    assert_eq!(rotations.rotations().len(), 1);
    assert_eq!(
        rotations.rotations()[0].rotation_type().map(|t| t.as_str()),
        Some("AUTOMATIC")
    );
    let out = kms.decrypt().ciphertext_blob(before).send().await.expect("decrypt");
    assert_eq!(out.plaintext().expect("plaintext").as_ref(), b"old");
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::dev();
    let kms = server.kms();
    let mut keys = Vec::new();
    for i in 0..3 {
        let key_id = create_key(&kms).await;
        let blob = kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(format!("secret {i}")))
            .send()
            .await
            .expect("encrypt");
        kms.rotate_key_on_demand().key_id(&key_id).send().await.expect("rotate");
        keys.push((
            key_id,
            blob.ciphertext_blob().expect("blob").clone(),
            format!("secret {i}"),
        ));
    }
    kms.create_alias()
        .alias_name("alias/durable")
        .target_key_id(&keys[0].0)
        .send()
        .await
        .expect("alias");
    server.kill9();
    server.restart();
    let kms = server.kms();
    for (key_id, blob, plain) in &keys {
        let described = kms.describe_key().key_id(key_id).send().await.expect("key survives");
        assert_eq!(
            described.key_metadata().expect("metadata").key_state(),
            Some(&KeyState::Enabled)
        );
        let out = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .expect("decrypts after restart");
        assert_eq!(out.plaintext().expect("plaintext").as_ref(), plain.as_bytes());
        let rotations = kms.list_key_rotations().key_id(key_id).send().await.expect("rotations");
        assert_eq!(rotations.rotations().len(), 1, "rotation survived");
    }
    kms.describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .expect("alias survives");
}

#[tokio::test(flavor = "multi_thread")]
async fn production_mode_requires_real_credentials() {
    let server = Server::start(Options {
        account_id: Some("111122223333".into()),
        ..Default::default()
    });
    let (id, secret) = server.root_credentials();
    assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
    assert_eq!(secret.len(), 40);
    let mode = std::fs::metadata(server.data_dir.join("root-credentials"))
        .expect("file")
        .permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);

    let kms = server.kms();
    let key = kms.create_key().send().await.expect("root can create");
    assert_eq!(
        key.key_metadata().expect("metadata").aws_account_id(),
        Some("111122223333")
    );

    let (code, message) = error_code(server.kms_with("test", "test", "us-east-1").list_keys().send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid."
        )
    );
    let (code, message) = error_code(
        server
            .kms_with(&id, "wrong-secret", "us-east-1")
            .list_keys()
            .send()
            .await,
    );
    assert_eq!(code, "InvalidSignatureException");
    assert!(
        message.starts_with("The request signature we calculated does not match"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signature_failures_get_aws_errors() {
    let server = Server::start(Options {
        root_credentials: Some(("AKIAKEYHAVENTEST0001".into(), "s3cr3t/key".into())),
        ..Default::default()
    });
    let signing = Signing {
        access_key_id: "AKIAKEYHAVENTEST0001",
        secret: "s3cr3t/key",
        ..Default::default()
    };
    let ok = kms_call(&server.endpoint, "ListKeys", b"{}", &signing);
    assert_eq!(ok.status, 200, "{}", ok.body);

    let stale = Signing {
        time: SystemTime::now() - Duration::from_secs(16 * 60),
        ..signing
    };
    let response = kms_call(&server.endpoint, "ListKeys", b"{}", &stale);
    assert_eq!(response.error_code(), "InvalidSignatureException");
    assert!(
        response.message().starts_with("Signature expired:"),
        "{}",
        response.message()
    );

    let future = Signing {
        time: SystemTime::now() + Duration::from_secs(16 * 60),
        ..signing
    };
    assert!(
        kms_call(&server.endpoint, "ListKeys", b"{}", &future)
            .message()
            .starts_with("Signature not yet current:")
    );

    let wrong_service = Signing {
        service: "s3",
        ..signing
    };
    let response = kms_call(&server.endpoint, "ListKeys", b"{}", &wrong_service);
    assert_eq!(response.error_code(), "InvalidSignatureException");
    assert!(
        response
            .message()
            .contains("Credential should be scoped to correct service: 'kms'"),
        "{}",
        response.message()
    );

    let unsigned = send_raw(
        &server.endpoint,
        "POST",
        "/",
        &[
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), "TrentService.ListKeys".into()),
        ],
        b"{}",
    );
    assert_eq!(
        (unsigned.status, unsigned.error_code().as_str()),
        (400, "MissingAuthenticationTokenException")
    );

    let garbled = send_raw(
        &server.endpoint,
        "POST",
        "/",
        &[
            ("content-type".into(), "application/x-amz-json-1.1".into()),
            ("x-amz-target".into(), "TrentService.ListKeys".into()),
            (
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKIAKEYHAVENTEST0001".into(),
            ),
        ],
        b"{}",
    );
    assert_eq!(garbled.error_code(), "IncompleteSignatureException");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_never_500() {
    let server = Server::dev();
    let signing = Signing::default();
    let cases: &[(&str, &[u8], u16, &str)] = &[
        ("ListKeys", b"{not json", 400, "SerializationException"),
        ("ListKeys", b"[1,2,3]", 400, "SerializationException"),
        (
            "Encrypt",
            br#"{"KeyId": 5, "Plaintext": "AA=="}"#,
            400,
            "SerializationException",
        ),
        (
            "Encrypt",
            br#"{"KeyId": "alias/x", "Plaintext": "not base64!"}"#,
            400,
            "SerializationException",
        ),
        ("NoSuchOperation", b"{}", 400, "UnknownOperationException"),
        (
            "Decrypt",
            br#"{"CiphertextBlob": "AAAAAAAAAAAA"}"#,
            400,
            "InvalidCiphertextException",
        ),
        ("DescribeKey", b"", 400, "ValidationException"),
    ];
    for (operation, body, status, code) in cases {
        let response = kms_call(&server.endpoint, operation, body, &signing);
        assert_eq!(
            (response.status, response.error_code().as_str()),
            (*status, *code),
            "{operation} {}",
            String::from_utf8_lossy(body)
        );
        assert!(
            response.header("x-amzn-requestid").is_some_and(|id| id.len() == 36),
            "every answer carries a request id"
        );
        assert_eq!(response.header("x-amzn-errortype"), Some(*code));
    }
    let huge = vec![b' '; 2 * 1024 * 1024];
    let response = kms_call(&server.endpoint, "ListKeys", &huge, &signing);
    assert_eq!(response.status, 413);
    let health = send_raw(&server.endpoint, "GET", "/_keyhaven/health", &[], b"");
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_and_errors() {
    let server = Server::dev();
    let kms = server.kms();
    create_key(&kms).await;
    let _ = kms.describe_key().key_id("fake-key-id").send().await;
    let metrics = send_raw(&server.endpoint, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("keyhaven_requests_total"), "{}", metrics.body);
    assert!(metrics.body.contains(r#"operation="CreateKey""#));
    assert!(metrics.body.contains(r#"code="NotFoundException""#));
    assert!(metrics.body.contains("keyhaven_request_duration_seconds"));
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_keeps_an_intact_audit_log_without_secrets() {
    let mut server = Server::dev();
    let kms = server.kms();
    let key_id = create_key(&kms).await;
    let secret = "PLAINTEXT-MARKER-7f3a";
    let encrypted = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(secret))
        .send()
        .await
        .expect("encrypt");
    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .expect("gdk");
    let _ = kms.describe_key().key_id("fake-key-id").send().await;
    assert!(server.terminate(), "clean exit on SIGTERM");
    let output = std::process::Command::new(keyhaven_tests::binary())
        .args(["audit-verify", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .expect("audit-verify");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let records: u64 = stdout.split_whitespace().find_map(|w| w.parse().ok()).expect("count");
    assert!(records >= 4, "{stdout}");
    let db = std::fs::read(server.data_dir.join("keyhaven.db")).expect("db");
    let wal = std::fs::read(server.data_dir.join("keyhaven.db-wal")).unwrap_or_default();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let needles = [
        secret.as_bytes().to_vec(),
        b64.encode(secret).into_bytes(),
        data_key.plaintext().expect("plaintext").as_ref().to_vec(),
        b64.encode(data_key.plaintext().expect("plaintext").as_ref())
            .into_bytes(),
        b64.encode(encrypted.ciphertext_blob().expect("blob").as_ref())
            .into_bytes(),
    ];
    for needle in needles {
        for haystack in [&db, &wal] {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle.as_slice()),
                "secret material reached the disk"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_reset_wipes_all_state_for_moto_style_suites() {
    let server = Server::dev();
    let kms = server.kms();
    create_key(&kms).await;
    for path in ["/_keyhaven/reset", "/moto-api/reset"] {
        create_key(&kms).await;
        let response = send_raw(&server.endpoint, "POST", path, &[], b"");
        assert_eq!(response.status, 200, "{path}");
        assert!(
            kms.list_keys().send().await.expect("list").keys().is_empty(),
            "{path} wiped keys"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_endpoints_do_not_exist_outside_dev_mode() {
    let server = Server::start(Options::default());
    for path in ["/_keyhaven/reset", "/moto-api/reset", "/_keyhaven/clock"] {
        let response = send_raw(&server.endpoint, "POST", path, &[], b"{\"advance_seconds\": 1}");
        // Outside dev mode the path is only an S3 bucket and key, which take no POST.
        assert_eq!(response.status, 405, "{path}");
        assert!(
            response.body.contains("<Code>MethodNotAllowed</Code>"),
            "{path}: {}",
            response.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn session_tokens_are_refused_for_long_term_credentials() {
    let server = Server::start(Options::default());
    let (id, secret) = server.root_credentials();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&server.endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            id,
            secret,
            Some("forged-token".into()),
            None,
            "t",
        ))
        .build();
    let (code, message) = error_code(aws_sdk_kms::Client::from_conf(config).list_keys().send().await);
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid."
        )
    );
}
