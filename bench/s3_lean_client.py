"""A lean S3 client for bench/s3.sh: moves one large object with as little client work per byte as the protocol
allows, so the figures show what the server costs. boto3 signs the few control requests (CreateMultipartUpload,
CompleteMultipartUpload) and presigns one URL per part; the bytes themselves go through http.client on one thread per
part in flight, which spends its time in the kernel with the GIL released. Presigned requests carry
UNSIGNED-PAYLOAD, so neither side hashes the payload for the signature; the server still computes what S3 must (the
MD5 ETag of an SSE-S3 part, the encryption).

    s3_lean_client.py put|get ENDPOINT ACCESS_KEY SECRET_KEY BUCKET KEY FILE PARTS [aws:kms]

`put` uploads FILE as PARTS parts, all in flight at once; `get` reads the object back as PARTS ranged GETs in flight
at once into FILE, or with FILE `-` into memory it reuses, so that the figure is the server's and the network's,
not the client's disk. Prints the seconds the transfer took, control requests included.
"""

import concurrent.futures
import http.client
import os
import sys
import time
import urllib.parse

import boto3
from botocore.config import Config

BUFFER = 1 << 20


def client(endpoint, access_key, secret_key):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      max_pool_connections=64))


def request(url, method, headers, send=None, receive=None):
    """One HTTP request to a presigned URL; `send(connection)` writes the body, `receive(response)` reads it."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    target = parts.path + ("?" + parts.query if parts.query else "")
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    if send:
        send(connection)
    response = connection.getresponse()
    if response.status // 100 != 2:
        raise SystemExit(f"{method} part: HTTP {response.status}: {response.read()[:300]!r}")
    result = receive(response) if receive else response.read()
    etag = response.getheader("ETag")
    connection.close()
    return etag, result


def spans(size, parts):
    step = -(-size // parts)
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def put(s3, bucket, key, path, parts, sse):
    size = os.path.getsize(path)
    extra = {"ServerSideEncryption": sse} if sse else {}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]

    def upload(numbered):
        number, (start, end) = numbered
        url = s3.generate_presigned_url("upload_part", ExpiresIn=3600, Params={
            "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number})

        def send(connection):
            with open(path, "rb") as f:
                f.seek(start)
                remaining = end - start
                buffer = bytearray(BUFFER)
                while remaining:
                    n = f.readinto(memoryview(buffer)[:min(BUFFER, remaining)])
                    connection.send(memoryview(buffer)[:n])
                    remaining -= n

        etag, _ = request(url, "PUT", {"Content-Length": str(end - start)}, send=send)
        return {"PartNumber": number, "ETag": etag}

    with concurrent.futures.ThreadPoolExecutor(parts) as pool:
        done = list(pool.map(upload, enumerate(spans(size, parts), start=1)))
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done})


def get(s3, bucket, key, path, parts):
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    url = s3.generate_presigned_url("get_object", ExpiresIn=3600, Params={"Bucket": bucket, "Key": key})
    to_file = path != "-"
    if to_file:
        with open(path, "wb") as f:
            f.truncate(size)

    def download(span):
        start, end = span

        def receive(response):
            with open(path if to_file else os.devnull, "r+b" if to_file else "wb") as f:
                f.seek(start)
                buffer = bytearray(BUFFER)
                got = 0
                while True:
                    n = response.readinto(buffer)
                    if not n:
                        break
                    if to_file:
                        f.write(memoryview(buffer)[:n])
                    got += n
            return got

        _, got = request(url, "GET", {"Range": f"bytes={start}-{end - 1}"}, receive=receive)
        if got != end - start:
            raise SystemExit(f"GET bytes {start}-{end - 1}: {got} bytes came back")

    with concurrent.futures.ThreadPoolExecutor(parts) as pool:
        list(pool.map(download, spans(size, parts)))


def main():
    op, endpoint, access_key, secret_key, bucket, key, path, parts = sys.argv[1:9]
    sse = sys.argv[9] if len(sys.argv) > 9 else None
    s3 = client(endpoint, access_key, secret_key)
    started = time.monotonic()
    if op == "put":
        put(s3, bucket, key, path, int(parts), sse)
    else:
        get(s3, bucket, key, path, int(parts))
    print(f"{time.monotonic() - started:.3f}")


main()
