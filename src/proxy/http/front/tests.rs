//! The server side against raw bytes on a loopback connection: framing, limits, pipelining,
//! streaming, and a client that goes away.

use super::*;
use crate::proxy::http::{channel, full};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const LIMITS: Limits = Limits {
    header_timeout: Duration::from_secs(30),
    max_body: 64,
};

/// Answers `METHOD PATH` with the headers it kept and the body.
async fn echo(req: Incoming) -> Response<Body> {
    let mut text = format!("{} {}\n", req.method, req.uri);
    for (name, value) in req.headers.iter() {
        text += &format!("{name}={}\n", value.to_str().unwrap_or("?"));
    }
    text += &String::from_utf8_lossy(&req.body);
    Response::new(full(text))
}

/// A server on a loopback port answering with `handle`; its address.
async fn server<H, F>(handle: H) -> std::net::SocketAddr
where
    H: FnMut(Incoming) -> F + Clone + Send + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(Stream::Plain(stream), LIMITS, handle.clone(), |_| {}));
        }
    });
    addr
}

/// Sends `raw` and reads until the server closes the connection.
async fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut answer));
    read.await
        .expect("the server should close the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status lines of the responses in `answer` (a body may run into the next head).
fn status_lines(answer: &str) -> Vec<&str> {
    answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| answer[i..].lines().next().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn requests_by_length_and_chunked_are_answered_in_order_on_one_connection() {
    let addr = server(echo).await;
    let answer = exchange(
        addr,
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST /two HTTP/1.1\r\n\
          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(
        status_lines(&answer),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    );
    let first = answer.find("POST /mcp\nhost=x\nhello").expect(&answer);
    let second = answer.find("POST /two\nabcde").expect(&answer);
    assert!(first < second);
    assert!(answer.contains("content-length: 15\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.contains("\r\ndate: "), "{answer}");
}

#[tokio::test]
async fn framing_that_could_be_read_two_ways_is_refused() {
    let addr = server(echo).await;
    for (raw, status) in [
        (
            &b"POST /mcp HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
            "400",
        ),
        (b"POST /mcp HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400"),
        (b"POST /mcp HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", "400"),
        (b"POST /mcp HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", "400"),
        (b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"),
        (b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "501"),
        (b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "400"),
        (b"POST /mcp HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"),
        (b"POST /mcp HTTP/1.1\r\nBad Header: x\r\n\r\n", "400"),
        (b"POST /mcp HTTP/1.1\r\nExpect: magic\r\n\r\n", "417"),
    ] {
        let answer = exchange(addr, raw).await;
        let lines = status_lines(&answer);
        assert_eq!(lines.len(), 1, "{answer}");
        assert!(lines[0].starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(!answer.contains("POST /mcp\n"), "reached the handler: {answer}");
    }
}

#[tokio::test]
async fn bodies_and_heads_beyond_the_limits_are_refused() {
    let addr = server(echo).await;
    let big = format!(
        "POST /mcp HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        LIMITS.max_body + 1
    );
    let answer = exchange(addr, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let chunks = "10\r\n0123456789abcdef\r\n".repeat(5);
    let big = format!("POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}0\r\n\r\n");
    let answer = exchange(addr, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
    let answer = exchange(addr, format!("GET /mcp HTTP/1.1\r\n{many}\r\n").as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    let long = format!("GET /mcp HTTP/1.1\r\nx: {}", "a".repeat(wire::MAX_HEAD + 1));
    let answer = exchange(addr, long.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

#[tokio::test]
async fn only_the_headers_the_endpoint_reads_are_kept() {
    let addr = server(echo).await;
    let answer = exchange(
        addr,
        b"GET /mcp?x=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\nMcp-Session-Id: s1\r\n\
          Authorization: Bearer t\r\nCookie: c\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = &answer[answer.find("\r\n\r\n").expect(&answer) + 4..];
    let mut lines: Vec<&str> = body.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "GET /mcp?x=1",
            "authorization=Bearer t",
            "host=x",
            "mcp-session-id=s1"
        ]
    );
}

#[tokio::test]
async fn http_1_0_gets_one_answer_and_the_connection_closes() {
    let addr = server(echo).await;
    let answer = exchange(
        addr,
        b"GET /mcp HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /again HTTP/1.0\r\n\r\n",
    )
    .await;
    assert_eq!(status_lines(&answer), ["HTTP/1.1 200 OK"], "{answer}");
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body_is_read() {
    let addr = server(echo).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"POST /mcp HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut interim = [0u8; 25];
    client.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"ok").await.unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("POST /mcp\nok"), "{answer}");
}

#[tokio::test]
async fn a_streaming_body_is_chunked_as_it_comes() {
    let (more, wait) = tokio::sync::mpsc::channel::<()>(1);
    let wait = std::sync::Arc::new(tokio::sync::Mutex::new(wait));
    let addr = server(move |_req| {
        let wait = wait.clone();
        async move {
            let (tx, body) = channel();
            tokio::spawn(async move {
                tx.send(Bytes::from("first")).await.unwrap();
                wait.lock().await.recv().await;
                tx.send(Bytes::from("second part")).await.unwrap();
            });
            Response::new(body)
        }
    })
    .await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /mcp HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The first part arrives before the second is sent.
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("5\r\nfirst\r\n") {
        let mut buf = [0u8; 512];
        let n = client.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    more.send(()).await.unwrap();
    client.read_to_end(&mut seen).await.unwrap();
    let answer = String::from_utf8_lossy(&seen);
    assert!(
        answer.contains("transfer-encoding: chunked\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("content-length"), "{answer}");
    assert!(
        answer.ends_with("5\r\nfirst\r\nb\r\nsecond part\r\n0\r\n\r\n"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_drops_its_pending_response() {
    struct Dropped(Option<oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.take().map(|tx| tx.send(()));
        }
    }
    let (tx, dropped) = oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let addr = server(move |_req| {
        let guard = Dropped(tx.lock().unwrap().take());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Response::new(full(""))
        }
    })
    .await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"POST /mcp HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(client);
    tokio::time::timeout(Duration::from_secs(20), dropped)
        .await
        .expect("the handler's future should be dropped when its client goes away")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_or_slow_client_is_closed_at_the_header_timeout() {
    let addr = server(echo).await;
    for raw in [
        &b""[..],
        b"POST /mcp HTTP/1.1\r\nContent-Ty",
        b"POST /mcp HTTP/1.1\r\nContent-Length: 9\r\n\r\npart",
    ] {
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        // Paused time: the clock jumps to the timeout as soon as everyone waits.
        client.read_to_end(&mut answer).await.unwrap();
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test]
async fn a_head_request_gets_the_head_only_and_the_connection_stays_usable() {
    let addr = server(echo).await;
    let answer = exchange(
        addr,
        b"HEAD /mcp HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        status_lines(&answer),
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]
    );
    // The HEAD's head announces its body's length, and the next head follows it directly.
    assert!(
        answer.contains("content-length: 10\r\n\r\nHTTP/1.1 200 OK"),
        "{answer}"
    );
    assert!(answer.ends_with("GET /next\n"), "{answer}");
}

#[tokio::test]
async fn a_refused_request_s_client_reads_the_refusal_though_it_was_still_sending() {
    let addr = server(echo).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    let body = vec![b'x'; 256 * 1024];
    let head = format!(
        "POST /mcp HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    // The server refuses at the head; the body keeps coming (and is read and dropped).
    let (mut read, mut write) = client.into_split();
    let sender = tokio::spawn(async move {
        let _ = write.write_all(&body).await;
        write
    });
    let mut answer = Vec::new();
    read.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("--max-message-bytes"), "{answer}");
    let _ = sender.await;
}

proptest::proptest! {
    #[test]
    fn any_bytes_parse_or_are_refused_without_a_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = parse(&bytes, 1024);
    }

    #[test]
    fn a_head_split_anywhere_parses_the_same_once_whole(cut in 0usize..120) {
        let head = b"POST /mcp?a=b HTTP/1.1\r\nHost: x\r\nMcp-Session-Id: s\r\nContent-Length: 7\r\nX-Other: y\r\n\r\n";
        let cut = cut.min(head.len());
        match parse(&head[..cut], 1024) {
            Ok(None) => proptest::prop_assert!(cut < head.len()),
            Ok(Some(p)) => proptest::prop_assert_eq!(p.len, head.len()),
            Err(e) => proptest::prop_assert!(false, "{e:?}"),
        }
        let p = parse(head, 1024).unwrap().unwrap();
        proptest::prop_assert_eq!(p.framing, Framing::Length(7));
        proptest::prop_assert_eq!(p.headers.len(), 2, "Host and Mcp-Session-Id");
        proptest::prop_assert_eq!(&head[p.target.0..p.target.1], b"/mcp?a=b");
    }
}

#[test]
fn the_end_of_a_head_is_found_however_it_trickles_in() {
    for head in [
        &b"GET / HTTP/1.1\r\nA: b\r\n\r\n"[..],
        b"GET / HTTP/1.1\nA: b\n\n",
    ] {
        let mut scanned = 0;
        for len in 0..=head.len() {
            let found = wire::has_head_end(&head[..len], &mut scanned);
            assert_eq!(found, len == head.len(), "{len} of {head:?}");
        }
        // Two bytes at a time too.
        let mut scanned = 0;
        let found = (0..=head.len())
            .step_by(2)
            .chain([head.len()])
            .any(|len| wire::has_head_end(&head[..len], &mut scanned));
        assert!(found);
    }
}

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_read() {
    let addr = server(echo).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    for b in b"POST /mcp HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok" {
        client.write_all(&[*b]).await.unwrap();
        tokio::task::yield_now().await;
    }
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.unwrap();
    assert!(answer.ends_with("POST /mcp\nok"), "{answer}");
}

#[test]
fn credentials_origin_and_host_are_kept_but_never_forwarded() {
    let headers: Headers = [
        ("authorization", "Bearer t"),
        ("mcp-session-id", "s1"),
        ("host", "gateway:8080"),
        ("origin", "http://localhost"),
        ("cookie", "c"),
        ("accept", "text/event-stream"),
    ]
    .into_iter()
    .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
    .collect();
    assert_eq!(
        headers.get(&hyper::header::AUTHORIZATION).unwrap(),
        "Bearer t"
    );
    assert!(
        headers.get(&hyper::header::COOKIE).is_none(),
        "not one the endpoint reads"
    );
    let forwarded: Vec<_> = headers
        .forwarded()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        forwarded,
        [("mcp-session-id", "s1"), ("accept", "text/event-stream")]
    );
}

#[test]
fn chunk_sizes_and_lengths_are_written_in_their_bases() {
    let mut out = Vec::new();
    chunk(&mut out, &[b'x'; 300]);
    assert!(out.starts_with(b"12c\r\nxxx"));
    assert!(out.ends_with(b"x\r\n"));
    assert_eq!(wire::decimal(0, &mut [0; 20]), b"0");
    assert_eq!(
        wire::decimal(u64::MAX, &mut [0; 20]),
        u64::MAX.to_string().as_bytes()
    );
}

#[test]
fn kept_values_with_control_bytes_are_refused_and_others_read_as_sent() {
    for bad in [&b"a\x7fb"[..], b"a\x01b"] {
        let mut head = b"GET /mcp HTTP/1.1\r\nMcp-Session-Id: ".to_vec();
        head.extend_from_slice(bad);
        head.extend_from_slice(b"\r\n\r\n");
        let refusal = parse(&head, 1024).expect_err("a control byte in a kept value");
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    }
    let head = "GET /mcp HTTP/1.1\r\nMcp-Name: caf\u{e9}\r\nAccept: a,\tb\r\n\r\n";
    let parsed = parse(head.as_bytes(), 1024).unwrap().unwrap();
    let headers = Headers {
        head: Bytes::copy_from_slice(head.as_bytes()),
        kept: parsed.headers,
    };
    let name = headers.get(&HeaderName::from_static("mcp-name")).unwrap();
    assert_eq!(name.as_bytes(), "caf\u{e9}".as_bytes());
    assert!(name.to_str().is_err(), "not visible ASCII");
    let accept = headers.get(&hyper::header::ACCEPT).unwrap();
    assert_eq!(accept.to_str().unwrap(), "a,\tb");
}
