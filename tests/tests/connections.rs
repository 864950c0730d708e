//! Connection limits as a client meets them: headers or a body that never finish get the connection closed,
//! and connections over `--max-connections` wait until one closes.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use keyhaven_tests::{Options, Server};

/// Long enough for any outcome the test waits for; reaching it means the outcome never came.
const BOUND: Duration = Duration::from_secs(20);
const HEALTH: &[u8] = b"GET /_keyhaven/health HTTP/1.1\r\nhost: keyhaven\r\n\r\n";

fn server_with(args: &[&str]) -> Server {
    Server::start(Options {
        extra_args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.endpoint.trim_start_matches("http://")).expect("connect");
    stream.set_read_timeout(Some(BOUND)).expect("read timeout");
    stream
}

/// Reads one response from a keep-alive connection and returns its status.
fn read_response(stream: &mut TcpStream) -> std::io::Result<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    stream.read_exact(&mut vec![0u8; length])?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.ok_or_else(|| ErrorKind::InvalidData.into())
}

fn health(stream: &mut TcpStream) -> u16 {
    stream.write_all(HEALTH).expect("send request");
    read_response(stream).expect("response")
}

/// Waits (at most [`BOUND`]) for the server to close `stream`, discarding whatever it sends first.
fn assert_closed_by_server(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept the connection open: {e}"),
    }
}

#[test]
fn slow_headers_and_slow_bodies_get_the_connection_closed() {
    let server = server_with(&["--header-timeout-seconds", "1", "--body-timeout-seconds", "1"]);

    let mut slow_headers = connect(&server);
    slow_headers
        .write_all(b"POST / HTTP/1.1\r\nhost: keyhaven\r\ncontent-type: application/x-amz-json-1.1\r\n")
        .expect("partial headers");
    let started = Instant::now();
    assert_closed_by_server(&mut slow_headers);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed after {:?}, before the timeout",
        started.elapsed()
    );

    let mut slow_body = connect(&server);
    slow_body
        .write_all(
            b"POST / HTTP/1.1\r\nhost: keyhaven\r\ncontent-type: application/x-amz-json-1.1\r\n\
              x-amz-target: TrentService.ListKeys\r\ncontent-length: 100\r\n\r\n{\"Limit\":",
        )
        .expect("partial body");
    assert_eq!(read_response(&mut slow_body).expect("an answer"), 400);
    assert_closed_by_server(&mut slow_body);

    assert_eq!(health(&mut connect(&server)), 200, "prompt clients are still served");

    // The body timeout is an idle timeout: a body that keeps arriving may take longer than it in all.
    let mut steady = connect(&server);
    let body = b"{\"Limit\": 5}";
    steady
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nhost: keyhaven\r\ncontent-type: application/x-amz-json-1.1\r\n\
                 x-amz-target: TrentService.ListKeys\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("headers");
    let started = Instant::now();
    for piece in body.chunks(4) {
        std::thread::sleep(Duration::from_millis(400));
        steady.write_all(piece).expect("a piece of the body");
    }
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the body took longer than the timeout"
    );
    // Answered as the unsigned request it is, on a connection that stays open: a body cut off by the timeout gets
    // the connection closed instead (above).
    assert_eq!(read_response(&mut steady).expect("an answer"), 400);
    assert_eq!(health(&mut steady), 200, "the connection is still open");
}

#[test]
fn connections_over_the_limit_wait_until_one_closes() {
    let server = server_with(&["--max-connections", "2"]);
    let mut first = connect(&server);
    let mut second = connect(&server);
    assert_eq!(health(&mut first), 200);
    assert_eq!(health(&mut second), 200);

    // The kernel completes the third connection, but the server takes it only once a slot is free.
    let mut third = connect(&server);
    third.write_all(HEALTH).expect("send request");
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let waiting = third.read(&mut [0u8; 1]);
    assert!(
        matches!(&waiting, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the third connection was served while two were open: {waiting:?}"
    );

    drop(first);
    third.set_read_timeout(Some(BOUND)).expect("read timeout");
    assert_eq!(read_response(&mut third).expect("served once the first closed"), 200);
    assert_eq!(health(&mut second), 200);
}
