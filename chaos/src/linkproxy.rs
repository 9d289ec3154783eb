//! A slow link between two nodes: a userspace TCP proxy that carries one node's connections to
//! one peer address and passes their bytes through untouched (mutual TLS stays end to end), but
//! late (a delay plus a random jitter), at a capped rate, and not at all during stalls. This
//! kernel has no `tc netem`; nftables DNAT in the sending node's namespace sends the
//! connections here (see `netns::Topology::redirect`).
//!
//! Each direction of a connection is a reader that stamps every chunk with the time it may
//! leave and a writer that sends it then, paced to the cap, holding everything back while a
//! stall lasts. The queue between them is bounded, so a slow link pushes back on its sender as
//! a real one does. [`LinkProxy::close`] closes every connection it carries.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::rng::SeededRng;

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction (what the link holds before it pushes back).
const QUEUE: usize = 64;
/// How long the proxy tries to reach the peer for one connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A stretch of time, from the link's start, during which it moves no byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub at: Duration,
    pub len: Duration,
}

/// How one link misbehaves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    /// Every byte arrives this much later, plus a jitter drawn in `0..=jitter` per chunk.
    pub delay: Duration,
    pub jitter: Duration,
    /// Bytes per second in each direction; 0 is no cap.
    pub bytes_per_sec: u64,
    pub stalls: Vec<Stall>,
}

impl Shape {
    /// A shape for a link that misbehaves for `span`: a delay of 5–40 ms (three links in five)
    /// or 40–150 ms, 0–50 ms jitter, a cap of 24 KiB/s to 1 MiB/s, and up to two stalls of
    /// 0.3–2.5 s inside the span. A round trip longer than the Raft heartbeat (100 ms in the
    /// campaign) fails every AppendEntries on that link (openraft's timeout for it is the
    /// heartbeat interval), so the mix has slow links that still work and links that do not.
    pub fn draw(rng: &mut SeededRng, span: Duration) -> Self {
        let delay = Duration::from_millis(match rng.chance(60) {
            true => 5 + rng.below(36),
            false => 40 + rng.below(111),
        });
        let jitter = Duration::from_millis(rng.below(51));
        let bytes_per_sec = *rng.pick(&[24, 64, 128, 256, 1024]) * 1024;
        let mut stalls: Vec<Stall> = (0..rng.below(3))
            .map(|_| {
                let len = Duration::from_millis(300 + rng.below(2201)).min(span);
                let room = span.saturating_sub(len).as_millis() as u64;
                Stall {
                    at: Duration::from_millis(rng.below(room + 1)),
                    len,
                }
            })
            .collect();
        stalls.sort_by_key(|s| s.at);
        Self {
            delay,
            jitter,
            bytes_per_sec,
            stalls,
        }
    }

    /// When the byte ready at `now` may move, given the stalls (the link started at `start`).
    fn after_stalls(&self, start: Instant, mut now: Instant) -> Instant {
        // Stalls are few; each pass moves past one that covers `now`, so this ends.
        loop {
            let offset = now.saturating_duration_since(start);
            match self
                .stalls
                .iter()
                .find(|s| s.at <= offset && offset < s.at + s.len)
            {
                Some(s) => now = start + s.at + s.len,
                None => return now,
            }
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{} ms",
            self.delay.as_millis(),
            self.jitter.as_millis()
        )?;
        if self.bytes_per_sec > 0 {
            write!(f, " {} KiB/s", self.bytes_per_sec / 1024)?;
        }
        for s in &self.stalls {
            write!(
                f,
                " stall {:.1}s@{:.1}s",
                s.len.as_secs_f64(),
                s.at.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// What a link carried.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    bytes: AtomicU64,
}

/// One running link: listens on an address of the harness and carries every connection it
/// accepts to `upstream`. Dropping it stops it too (without waiting); [`LinkProxy::close`]
/// waits until every connection is closed.
pub struct LinkProxy {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LinkProxy {
    /// Listen on `listen` (port 0: any) and carry connections to `upstream`, shaped by `shape`
    /// from now on; `seed` draws the jitter.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        shape: Shape,
        seed: u64,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let link = Link {
            upstream,
            shape: Arc::new(shape),
            start: Instant::now(),
            counters: counters.clone(),
        };
        let task = tokio::spawn(link.serve(listener, seed, stopped));
        Ok(Self {
            addr,
            counters,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Bytes delivered so far, both directions.
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Stop listening and close every connection carried; returns once all are closed.
    pub async fn close(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What every connection of one link shares.
#[derive(Clone)]
struct Link {
    upstream: SocketAddr,
    shape: Arc<Shape>,
    start: Instant,
    counters: Arc<Counters>,
}

impl Link {
    async fn serve(self, listener: TcpListener, seed: u64, mut stop: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        let mut n = 0u64;
        loop {
            tokio::select! {
                // A stop, or the handle gone.
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => {
                        n += 1;
                        self.counters.connections.fetch_add(1, Ordering::Relaxed);
                        conns.spawn(self.clone().carry(client, seed.wrapping_add(n << 1)));
                    }
                    // Out of descriptors and the like: try again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        // Aborts every connection task and waits for them: their sockets are closed.
        conns.shutdown().await;
    }

    async fn carry(self, client: TcpStream, seed: u64) {
        let server =
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.upstream)).await {
                Ok(Ok(s)) => s,
                // The client sees its connection closed, as if the peer had refused it.
                _ => return,
            };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let up = self.pump(cr, sw, SeededRng::new(seed));
        let down = self.pump(sr, cw, SeededRng::new(seed + 1));
        // An error on either side ends both (the halves are dropped, the sockets closed).
        let _ = tokio::try_join!(up, down);
    }

    /// Carry one direction until its reader ends, then pass the end on.
    async fn pump(
        &self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        mut rng: SeededRng,
    ) -> io::Result<()> {
        let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
        let shape = &self.shape;
        let reader = async move {
            loop {
                let mut buf = vec![0; CHUNK];
                let n = from.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(());
                }
                buf.truncate(n);
                let jitter = Duration::from_millis(rng.below(shape.jitter.as_millis() as u64 + 1));
                if tx
                    .send((Instant::now() + shape.delay + jitter, buf))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
        };
        let writer = async move {
            // A slice of the cap every 50 ms at most, so a capped link moves steadily.
            let slice = match shape.bytes_per_sec {
                0 => CHUNK,
                cap => (cap as usize / 20).clamp(256, CHUNK),
            };
            let mut free = Instant::now();
            while let Some((due, buf)) = rx.recv().await {
                for part in buf.chunks(slice) {
                    let at = shape.after_stalls(self.start, due.max(free).max(Instant::now()));
                    tokio::time::sleep_until(at).await;
                    // A stall that began while this part waited for its turn.
                    tokio::time::sleep_until(shape.after_stalls(self.start, Instant::now())).await;
                    to.write_all(part).await?;
                    self.counters
                        .bytes
                        .fetch_add(part.len() as u64, Ordering::Relaxed);
                    if shape.bytes_per_sec > 0 {
                        free = at.max(free)
                            + Duration::from_secs_f64(
                                part.len() as f64 / shape.bytes_per_sec as f64,
                            );
                    }
                }
            }
            to.shutdown().await
        };
        tokio::try_join!(reader, writer).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on 127.0.0.1; the task ends with the test's runtime.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
        let addr = l.local_addr().expect("echo addr");
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn link(shape: Shape) -> (LinkProxy, TcpStream) {
        let up = echo().await;
        let p = LinkProxy::start("127.0.0.1:0".parse().expect("addr"), up, shape, 7)
            .await
            .expect("start proxy");
        let c = TcpStream::connect(p.addr()).await.expect("connect proxy");
        (p, c)
    }

    async fn round_trip(c: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        c.write_all(msg).await.expect("write");
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).await.expect("read back");
        back
    }

    #[tokio::test]
    async fn bytes_pass_unchanged_and_are_counted() {
        let (p, mut c) = link(Shape::default()).await;
        let mut rng = SeededRng::new(1);
        let msg: Vec<u8> = (0..200_000).map(|_| rng.below(256) as u8).collect();
        let (mut r, mut w) = c.split();
        let send = async {
            w.write_all(&msg).await.expect("write");
            w.shutdown().await.expect("shutdown");
        };
        let mut back = Vec::new();
        let recv = r.read_to_end(&mut back);
        let (_, got) = tokio::join!(send, recv);
        got.expect("read to the end");
        assert!(back == msg, "the bytes came back as sent");
        assert_eq!(p.connections(), 1);
        assert_eq!(p.bytes(), 2 * msg.len() as u64, "both directions counted");
    }

    #[tokio::test]
    async fn delay_holds_every_byte_back_each_way() {
        let shape = Shape {
            delay: Duration::from_millis(150),
            jitter: Duration::from_millis(20),
            ..Shape::default()
        };
        let (_p, mut c) = link(shape).await;
        round_trip(&mut c, b"warm").await;
        let t0 = Instant::now();
        assert_eq!(round_trip(&mut c, b"ping").await, b"ping");
        let rtt = t0.elapsed();
        assert!(rtt >= Duration::from_millis(300), "two delays: {rtt:?}");
        assert!(
            rtt < Duration::from_millis(1000),
            "no more than that: {rtt:?}"
        );
    }

    #[tokio::test]
    async fn the_cap_limits_the_rate() {
        let shape = Shape {
            bytes_per_sec: 64 * 1024,
            ..Shape::default()
        };
        let (_p, mut c) = link(shape).await;
        let t0 = Instant::now();
        let back = round_trip(&mut c, &vec![7u8; 64 * 1024]).await;
        let took = t0.elapsed();
        assert_eq!(back.len(), 64 * 1024);
        // 64 KiB at 64 KiB/s each way, the two directions overlapping.
        assert!(took >= Duration::from_millis(900), "capped: {took:?}");
        assert!(took < Duration::from_secs(4), "but moving: {took:?}");
    }

    #[tokio::test]
    async fn a_stall_holds_bytes_until_it_ends_then_they_flow() {
        let shape = Shape {
            stalls: vec![Stall {
                at: Duration::ZERO,
                len: Duration::from_millis(600),
            }],
            ..Shape::default()
        };
        let (p, mut c) = link(shape).await;
        let t0 = Instant::now();
        assert_eq!(round_trip(&mut c, b"held").await, b"held");
        assert!(
            t0.elapsed() >= Duration::from_millis(550),
            "stalled: {:?}",
            t0.elapsed()
        );
        let t1 = Instant::now();
        assert_eq!(round_trip(&mut c, b"free").await, b"free");
        assert!(
            t1.elapsed() < Duration::from_millis(450),
            "resumed: {:?}",
            t1.elapsed()
        );
        assert_eq!(p.bytes(), 16);
    }

    #[tokio::test]
    async fn close_closes_the_connections_it_carries() {
        let (p, mut c) = link(Shape::default()).await;
        round_trip(&mut c, b"up").await;
        tokio::time::timeout(Duration::from_secs(2), p.close())
            .await
            .expect("closed in time");
        let mut buf = [0u8; 1];
        let end = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
            .await
            .expect("the client sees the end");
        assert!(matches!(end, Ok(0) | Err(_)), "closed: {end:?}");
    }

    #[test]
    fn a_drawn_shape_replays_and_its_stalls_fit_the_span() {
        let span = Duration::from_secs(6);
        for seed in 0..50 {
            let a = Shape::draw(&mut SeededRng::new(seed), span);
            assert_eq!(a, Shape::draw(&mut SeededRng::new(seed), span));
            assert!(a.stalls.iter().all(|s| s.at + s.len <= span), "{a}");
            assert!(a.bytes_per_sec >= 24 * 1024);
        }
    }
}
