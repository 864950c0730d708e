//! S3 through aws-sdk-rust against the real server, signing with the root credentials (every signature verified):
//! its default uploads (aws-chunked with a CRC32 trailer), ranged reads, listings, multipart uploads and errors.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use keyhaven_tests::{Options, Server};

fn service_code<E, R>(
    result: Result<R, aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let err = result.expect_err("expected an error");
    err.as_service_error()
        .and_then(|e| e.code())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sdk_puts_gets_lists_and_uploads_in_parts() {
    let server = Server::start(Options::default());
    let s3 = server.s3();
    s3.create_bucket()
        .bucket("rust-sdk")
        .send()
        .await
        .expect("create bucket");

    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let put = s3
        .put_object()
        .bucket("rust-sdk")
        .key("dir/object.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    assert!(
        put.checksum_crc32().is_some(),
        "the SDK's default checksum is verified and kept"
    );
    let got = s3
        .get_object()
        .bucket("rust-sdk")
        .key("dir/object.bin")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.body.collect().await.expect("body").into_bytes().as_ref(),
        body.as_slice()
    );
    let ranged = s3
        .get_object()
        .bucket("rust-sdk")
        .key("dir/object.bin")
        .range("bytes=100000-100009")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(
        ranged.body.collect().await.expect("body").into_bytes().as_ref(),
        &body[100_000..100_010]
    );

    let listed = s3
        .list_objects_v2()
        .bucket("rust-sdk")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let prefixes: Vec<&str> = listed.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["dir/"]);

    let upload = s3
        .create_multipart_upload()
        .bucket("rust-sdk")
        .key("parts")
        .send()
        .await
        .expect("create upload");
    let upload_id = upload.upload_id().expect("upload id");
    let mut parts = Vec::new();
    for (number, fill) in [(1, b'a'), (2, b'b')] {
        let size = if number == 1 { 5 * 1024 * 1024 } else { 10 };
        let part = s3
            .upload_part()
            .bucket("rust-sdk")
            .key("parts")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(vec![fill; size]))
            .send()
            .await
            .expect("upload part");
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().expect("etag"))
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket("rust-sdk")
        .key("parts")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    assert!(done.e_tag().expect("etag").ends_with("-2\""));
    let head = s3
        .head_object()
        .bucket("rust-sdk")
        .key("parts")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(5 * 1024 * 1024 + 10));

    assert_eq!(
        service_code(s3.get_object().bucket("rust-sdk").key("missing").send().await),
        "NoSuchKey"
    );
    assert_eq!(
        service_code(s3.delete_bucket().bucket("rust-sdk").send().await),
        "BucketNotEmpty"
    );
    assert_eq!(
        service_code(s3.create_bucket().bucket("Not_Valid").send().await),
        "InvalidBucketName"
    );
}
