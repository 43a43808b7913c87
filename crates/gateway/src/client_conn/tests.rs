//! Unit tests of the connection wrapper: the head deadline (408), its end, the idle phase, h2 frame counts.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn limits() -> ConnLimits {
    ConnLimits {
        header: Duration::from_millis(200),
        body_total: Some(Duration::from_millis(300)),
        h2_streams: 3,
        h2_resets: 2,
        body_read: Duration::from_secs(1),
        send: Duration::from_secs(1),
        keepalive_secs: 1,
    }
}

fn pair() -> (ClientStream, DuplexStream, watch::Receiver<bool>) {
    let (server, client) = tokio::io::duplex(4096);
    let metrics = Arc::new(Metrics::new(&prometheus::Registry::new()).unwrap());
    let (tx, rx) = watch::channel(false);
    let state = Arc::new(ConnState::new(limits(), metrics, tx));
    let dir = std::env::temp_dir();
    let buffers = Arc::new(BufferLimits {
        body_memory: 1024,
        max_body: None,
        response_memory: 8192,
        response_file: 1 << 20,
        files: Arc::new(crate::buffering::temp::TempFiles::new(dir, 1 << 30)),
    });
    (
        ClientStream::new(Box::new(server), state, buffers),
        client,
        rx,
    )
}

#[tokio::test]
async fn a_buffered_answer_is_taken_at_once_and_arrives_whole() {
    let (mut stream, mut client, _rx) = pair();
    stream.state.enter(Phase::Done, None);
    let answer: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // The client reads nothing yet: 4 KiB of socket, 8 KiB of memory, the rest in the file.
    tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(&answer).await.unwrap();
        stream.flush().await.unwrap();
    })
    .await
    .expect("buffered: the writer never waits for the client");
    assert!(!stream.out.is_empty());
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert!(got == answer, "same bytes, same order, then the end");
    });
    // Pingora shuts the connection down, then drops its session: the shutdown does not wait for the
    // client (the session would live as long as the slow client), the drain task shuts down at the end.
    tokio::time::timeout(Duration::from_millis(500), stream.shutdown())
        .await
        .expect("the shutdown of a buffered answer does not wait for the client")
        .unwrap();
    assert!(!stream.out.is_empty(), "still buffered");
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the drain task sends the rest, then shuts down")
        .unwrap();

    let (mut stream, _client, _rx) = pair();
    stream.state.enter(Phase::Done, None);
    stream.state.set_response_buffering(false);
    let unbuffered = tokio::time::timeout(
        Duration::from_millis(300),
        stream.write_all(&[1u8; 100_000]),
    )
    .await;
    assert!(
        unbuffered.is_err(),
        "response_buffering false: the writer waits for the client"
    );
}

#[tokio::test]
async fn a_trickled_head_is_cut_at_its_deadline_with_408() {
    let (mut s, mut c, _rx) = pair();
    let started = std::time::Instant::now();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err((e, s.state.metrics.client_timeouts.clone())),
            }
        }
    });
    for _ in 0..10 {
        if c.write_all(b"X").await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (err, counter) = reader.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(450),
        "{took:?}"
    );
    assert_eq!(counter.with_label_values(&["header"]).get(), 1);
    let mut answer = vec![0u8; REQUEST_TIMEOUT_408.len()];
    c.read_exact(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 408 "));
}

#[tokio::test]
async fn the_head_deadline_ends_with_the_head_and_idle_waits() {
    let (mut s, mut c, _rx) = pair();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(s.read(&mut buf).await.unwrap() > 0);
    s.state.head_done(false);
    s.state.request_done();
    // Idle: no head deadline (only keepalive_timeout, 1 s here).
    let idle = tokio::time::timeout(Duration::from_millis(400), s.read(&mut buf)).await;
    assert!(idle.is_err(), "still waiting");
    // The next head's first byte starts a new deadline.
    c.write_all(b"G").await.unwrap();
    assert_eq!(s.read(&mut buf).await.unwrap(), 1);
    let e = s.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn an_idle_connection_ends_at_keepalive_timeout_from_its_last_request() {
    let (mut s, mut c, _rx) = pair();
    let mut buf = [0u8; 64];
    // Two requests: the idle deadline (keepalive_secs: 1 s) counts from the end of the last one, and the
    // timer armed after the first (earlier than the second's deadline) is moved, not obeyed.
    for _ in 0..2 {
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(s.read(&mut buf).await.unwrap() > 0);
        s.state.head_done(false);
        s.state.request_done();
        let early = tokio::time::timeout(Duration::from_millis(600), s.read(&mut buf)).await;
        assert!(early.is_err(), "still waiting before keepalive_timeout");
    }
    let idle = Instant::now() - Duration::from_millis(600);
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("closed by keepalive_timeout")
        .unwrap();
    assert_eq!(n, 0, "the read ends as a client's close does");
    let took = idle.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(1600),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_kept_alive_head_that_arrives_whole_reads_no_clock_and_a_trickled_one_is_cut() {
    let (mut s, mut c, _rx) = pair();
    let mut buf = [0u8; 64];
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(s.read(&mut buf).await.unwrap() > 0);
    s.state.head_done(false);
    s.state.request_done();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(s.read(&mut buf).await.unwrap() > 0);
    assert_eq!(s.state.phase(), Phase::Head);
    assert_eq!(s.state.deadline.load(Ordering::Relaxed), HEAD_STARTED);
    s.state.head_done(false);
    s.state.request_done();
    // A head that has to be waited for gets client_header_timeout (200 ms) from that wait.
    c.write_all(b"GET / HT").await.unwrap();
    assert!(s.read(&mut buf).await.unwrap() > 0);
    let started = Instant::now();
    let e = s.read(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(450),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_slow_body_is_cut_at_its_total_deadline() {
    let (mut s, mut c, _rx) = pair();
    c.write_all(b"POST / HTTP/1.1\r\ncontent-length: 100\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 128];
    assert!(s.read(&mut buf).await.unwrap() > 0);
    s.state.head_done(true);
    let started = std::time::Instant::now();
    let e = loop {
        c.write_all(b"x").await.unwrap();
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(e)) => break e,
            Err(_) => {}
        }
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_millis(600));
    assert!(s.state.body_timed_out());
}

fn frame(kind: u8, stream: u32, len: usize) -> Vec<u8> {
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, 0];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend(std::iter::repeat_n(0u8, len));
    f
}

#[tokio::test]
async fn h2_streams_and_resets_past_their_budget_send_goaway() {
    let (mut s, mut c, rx) = pair();
    let mut bytes = H2_PREFACE.to_vec();
    bytes.extend(frame(0x4, 0, 6)); // SETTINGS
    for id in [1u32, 3, 5] {
        bytes.extend(frame(0x1, id, 10));
        bytes.extend(frame(0x1, id, 4)); // trailers: not a new stream
    }
    c.write_all(&bytes).await.unwrap();
    let mut buf = vec![0u8; bytes.len()];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(s.frames.streams, 3);
    assert!(!*rx.borrow(), "three streams are within the cap");
    // Past the head deadline: an h2 connection has none of ours.
    tokio::time::sleep(Duration::from_millis(250)).await;
    c.write_all(&frame(0x3, 1, 4)).await.unwrap();
    c.write_all(&frame(0x3, 3, 4)).await.unwrap();
    let mut buf = vec![0u8; 26];
    s.read_exact(&mut buf).await.unwrap();
    assert!(!*rx.borrow());
    c.write_all(&frame(0x3, 5, 4)).await.unwrap();
    let mut buf = vec![0u8; 13];
    s.read_exact(&mut buf).await.unwrap();
    assert!(*rx.borrow(), "the third reset is over the budget of two");
    let goaways = s
        .state
        .metrics
        .h2_goaway
        .with_label_values(&["resets"])
        .get();
    assert_eq!(goaways, 1);
}

#[test]
fn frame_headers_split_across_reads_are_counted() {
    let mut f = H2Frames::default();
    let mut bytes = frame(0x1, 1, 3);
    bytes.extend(frame(0x3, 1, 4));
    bytes.extend(frame(0x1, 3, 0));
    for chunk in bytes.chunks(2) {
        f.feed(chunk);
    }
    assert_eq!((f.streams, f.resets, f.max_stream), (2, 1, 3));
}
