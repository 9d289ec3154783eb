//! The [`Gossip`] handle: starts chitchat and publishes the membership view.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chitchat::transport::{ChannelTransport, UdpTransport};
use chitchat::{spawn_chitchat, Chitchat, ChitchatHandle, ChitchatId};
use futures::Stream;
use tokio::sync::{oneshot, watch, Mutex, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{format_node_id, GossipConfig};
use crate::error::{Error, Result};
use crate::keyring::SharedKeyring;
use crate::member::{build_view, diff, Member, MembershipChange};
use crate::meta::NodeMeta;
use crate::sealed_transport::{SealConfig, SealedTransport};

/// How gossip messages travel.
pub enum Transport {
    /// Real UDP sockets, plain chitchat: anyone who can reach the port can
    /// join. Prefer [`Transport::Sealed`].
    Udp,
    /// Real UDP sockets, every datagram sealed with the keyring's primary key
    /// and opened with any of its keys; anything else is dropped and counted
    /// (see the crate docs).
    Sealed(SealConfig),
    /// Chitchat's in-process transport, for tests: every node started with
    /// (a clone of) the same `Arc` can reach the others by address.
    InMemory(Arc<ChannelTransport>),
}

impl Transport {
    /// A fresh in-memory network.
    pub fn in_memory() -> Transport {
        Transport::InMemory(Arc::new(ChannelTransport::default()))
    }
}

impl Clone for Transport {
    fn clone(&self) -> Self {
        match self {
            Transport::Udp => Transport::Udp,
            Transport::Sealed(seal) => Transport::Sealed(seal.clone()),
            Transport::InMemory(network) => Transport::InMemory(Arc::clone(network)),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Udp => f.write_str("Udp"),
            Transport::Sealed(seal) => f.debug_tuple("Sealed").field(seal).finish(),
            Transport::InMemory(_) => f.write_str("InMemory"),
        }
    }
}

/// Handle on a running gossip node. Cheap to clone; all clones share the node.
///
/// Dropping the last clone stops the node (chitchat's server loop ends when
/// its command channel closes); [`Gossip::shutdown`] does it explicitly and
/// waits for it.
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: u64,
    node_hex: String,
    chitchat_id: ChitchatId,
    chitchat: Arc<Mutex<Chitchat>>,
    keyring: Option<SharedKeyring>,
    view_rx: watch::Receiver<Vec<Member>>,
    refresh: Arc<Notify>,
    running: StdMutex<Option<Running>>,
}

/// Parts that only exist until shutdown.
struct Running {
    handle: ChitchatHandle,
    publisher: JoinHandle<()>,
    /// The sealed transport's socket worker; ends once chitchat drops its
    /// socket.
    seal_worker: Option<JoinHandle<()>>,
    // Dropping it (with `Inner`) also stops the publisher.
    stop_tx: oneshot::Sender<()>,
}

impl Gossip {
    /// Validates the config, binds the transport, starts chitchat and the
    /// background task publishing the membership view.
    pub async fn start(config: GossipConfig, transport: Transport) -> Result<Gossip> {
        config.validate()?;
        let generation = config.effective_generation();
        let node_hex = format_node_id(config.node_id);
        let chitchat_id = ChitchatId::new(node_hex.clone(), generation, config.advertise_addr);
        let chitchat_config = config.chitchat_config(chitchat_id.clone());
        let initial_key_values: Vec<(String, String)> = config
            .meta
            .to_key_values()
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();

        let mut seal_worker = None;
        let spawned = match &transport {
            Transport::Udp => {
                spawn_chitchat(chitchat_config, initial_key_values, &UdpTransport).await
            }
            Transport::Sealed(seal) => {
                let sealed = SealedTransport::new(seal.clone(), config.cluster_id.clone());
                let spawned = spawn_chitchat(chitchat_config, initial_key_values, &sealed).await;
                seal_worker = sealed.take_worker();
                spawned
            }
            Transport::InMemory(network) => {
                spawn_chitchat(chitchat_config, initial_key_values, network.as_ref()).await
            }
        };
        let handle = spawned.map_err(|source| Error::Start {
            listen_addr: config.listen_addr,
            source: source.into(),
        })?;

        let chitchat = handle.chitchat();
        let (initial_view, live_rx) = {
            let guard = chitchat.lock().await;
            (build_view(&guard), guard.live_nodes_watcher())
        };
        let (view_tx, view_rx) = watch::channel(initial_view);
        let refresh = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = oneshot::channel();
        let publisher = tokio::spawn(publish_loop(PublishLoop {
            chitchat: Arc::clone(&chitchat),
            view_tx,
            live_rx,
            refresh: Arc::clone(&refresh),
            stop_rx,
            interval: config.gossip_interval,
            node_hex: node_hex.clone(),
        }));

        info!(
            node_id = %node_hex,
            generation,
            cluster_id = %config.cluster_id,
            listen_addr = %config.listen_addr,
            advertise_addr = %config.advertise_addr,
            seeds = ?config.seeds,
            transport = ?transport,
            "gossip started"
        );

        Ok(Gossip {
            inner: Arc::new(Inner {
                node_id: config.node_id,
                node_hex,
                chitchat_id,
                chitchat,
                keyring: match &transport {
                    Transport::Sealed(seal) => Some(seal.keyring.clone()),
                    Transport::Udp | Transport::InMemory(_) => None,
                },
                view_rx,
                refresh,
                running: StdMutex::new(Some(Running {
                    handle,
                    publisher,
                    seal_worker,
                    stop_tx,
                })),
            }),
        })
    }

    /// Our node id.
    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    /// Our generation (the configured one, or the start time in ns).
    pub fn generation(&self) -> u64 {
        self.inner.chitchat_id.generation_id
    }

    /// The keyring in force when started with [`Transport::Sealed`] (the
    /// same handle the caller passed in): replace or reload it to rotate keys
    /// without a restart.
    pub fn keyring(&self) -> Option<SharedKeyring> {
        self.inner.keyring.clone()
    }

    /// The gossip address we advertise.
    pub fn advertise_addr(&self) -> SocketAddr {
        self.inner.chitchat_id.gossip_advertise_addr
    }

    /// Current view, computed now: self included, one entry per node id (the
    /// highest generation), live and dead members (dead ones until the dead
    /// grace period expires), sorted by node id.
    pub async fn members(&self) -> Vec<Member> {
        let guard = self.inner.chitchat.lock().await;
        build_view(&guard)
    }

    /// [`Gossip::members`] restricted to live members.
    pub async fn live_members(&self) -> Vec<Member> {
        let mut members = self.members().await;
        members.retain(|member| member.alive);
        members
    }

    /// Watch channel carrying the full view; a new value is published
    /// whenever the view changes (membership, liveness or metadata). The
    /// returned receiver has the current value marked as seen. Its sender is
    /// dropped on shutdown, so `changed()` then returns an error.
    pub fn subscribe(&self) -> watch::Receiver<Vec<Member>> {
        let mut rx = self.inner.view_rx.clone();
        rx.mark_unchanged();
        rx
    }

    /// Stream of membership changes.
    ///
    /// It first yields [`MembershipChange::Added`] for every member of the
    /// current view, then the diff between consecutive published views
    /// (keyed by node id). Intermediate views published faster than the
    /// stream is polled are coalesced, so the stream never lags or drops
    /// information: applying its items always yields the latest view. It
    /// ends when the node shuts down. The stream is boxed, hence `Unpin`.
    pub fn changes(&self) -> impl Stream<Item = MembershipChange> + Send + Unpin + 'static {
        let mut rx = self.inner.view_rx.clone();
        let current = rx.borrow_and_update().clone();
        let pending: std::collections::VecDeque<MembershipChange> =
            diff(&[], &current).into_iter().collect();
        Box::pin(futures::stream::unfold(
            (rx, current, pending),
            |(mut rx, mut prev, mut pending)| async move {
                loop {
                    if let Some(change) = pending.pop_front() {
                        return Some((change, (rx, prev, pending)));
                    }
                    rx.changed().await.ok()?;
                    let next = rx.borrow_and_update().clone();
                    pending.extend(diff(&prev, &next));
                    prev = next;
                }
            },
        ))
    }

    /// Waits until `predicate` holds for the published view, at most
    /// `timeout`; returns the view that satisfied it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&[Member]) -> bool,
    ) -> Result<Vec<Member>> {
        let mut rx = self.inner.view_rx.clone();
        let wait = async {
            match rx.wait_for(|view| predicate(view)).await {
                Ok(view) => Ok(view.clone()),
                Err(_) => Err(Error::Stopped {
                    node_id: self.inner.node_hex.clone(),
                }),
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout { waited: timeout }),
        }
    }

    /// Sets (or clears) the Raft cluster uuid we advertise.
    pub async fn set_cluster_uuid(&self, uuid: Option<String>) {
        self.update_meta(|meta| meta.cluster_uuid = uuid).await;
    }

    /// Sets the ready flag we advertise.
    pub async fn set_ready(&self, ready: bool) {
        self.update_meta(|meta| meta.ready = ready).await;
    }

    /// Sets the leaving flag we advertise (set it, then wait a few gossip
    /// intervals before [`Gossip::shutdown`] so peers see it).
    pub async fn set_leaving(&self, leaving: bool) {
        self.update_meta(|meta| meta.leaving = leaving).await;
    }

    /// Edits our metadata. Only keys whose value changed are rewritten (and
    /// so re-gossiped); subscribers see the new local view right away.
    pub async fn update_meta(&self, f: impl FnOnce(&mut NodeMeta)) {
        let changed = {
            let mut guard = self.inner.chitchat.lock().await;
            let state = guard.self_node_state();
            let before = NodeMeta::from_lookup(|key| state.get(key));
            let mut after = before.clone();
            f(&mut after);
            if after != before {
                for (key, value) in after.to_key_values() {
                    state.set(key, value);
                }
                Some((before, after))
            } else {
                None
            }
        };
        match changed {
            Some((before, after)) => {
                info!(node_id = %self.inner.node_hex, ?before, ?after, "local metadata updated");
                self.inner.refresh.notify_one();
            }
            None => debug!(node_id = %self.inner.node_hex, "local metadata unchanged"),
        }
    }

    /// Stops the publisher and the chitchat server and waits for both.
    /// Idempotent: later calls (from other clones) return `Ok(())`. Clones
    /// stay usable but show a frozen view.
    pub async fn shutdown(self) -> Result<()> {
        let running = self
            .inner
            .running
            .lock()
            .expect("running mutex is never poisoned: no panics while held")
            .take();
        let Some(running) = running else {
            return Ok(());
        };
        let Running {
            handle,
            publisher,
            seal_worker,
            stop_tx,
        } = running;
        // The publisher may already be gone; either way it stops.
        let _ = stop_tx.send(());
        if let Err(join_error) = publisher.await {
            warn!(node_id = %self.inner.node_hex, error = %join_error, "membership publisher task failed");
        }
        let result = handle.shutdown().await.map_err(|source| Error::Shutdown {
            node_id: self.inner.node_hex.clone(),
            source: source.into(),
        });
        // chitchat has dropped its socket by now, so the worker is ending.
        if let Some(worker) = seal_worker {
            if let Err(join_error) = worker.await {
                warn!(node_id = %self.inner.node_hex, error = %join_error, "sealed gossip socket worker failed");
            }
        }
        info!(node_id = %self.inner.node_hex, ok = result.is_ok(), "gossip stopped");
        result
    }
}

struct PublishLoop {
    chitchat: Arc<Mutex<Chitchat>>,
    view_tx: watch::Sender<Vec<Member>>,
    live_rx: watch::Receiver<std::collections::BTreeMap<ChitchatId, chitchat::NodeState>>,
    refresh: Arc<Notify>,
    stop_rx: oneshot::Receiver<()>,
    interval: Duration,
    node_hex: String,
}

/// Recomputes the view on every gossip interval, on chitchat's live-node
/// notifications and on local metadata updates; publishes it when it differs.
///
/// Polling is needed on top of the live-node watcher: the watcher does not
/// fire when a dead node is garbage-collected.
async fn publish_loop(mut ctx: PublishLoop) {
    let mut ticker = tokio::time::interval(ctx.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut live_watch_open = true;
    loop {
        tokio::select! {
            _ = &mut ctx.stop_rx => break,
            _ = ticker.tick() => {}
            _ = ctx.refresh.notified() => {}
            changed = ctx.live_rx.changed(), if live_watch_open => {
                live_watch_open = changed.is_ok();
            }
        }
        let view = {
            let guard = ctx.chitchat.lock().await;
            build_view(&guard)
        };
        let node_hex = &ctx.node_hex;
        ctx.view_tx.send_if_modified(|current| {
            if *current == view {
                return false;
            }
            log_changes(node_hex, &diff(current, &view));
            *current = view;
            true
        });
    }
    debug!(node_id = %ctx.node_hex, "membership publisher stopped");
}

fn log_changes(node_hex: &str, changes: &[MembershipChange]) {
    for change in changes {
        match change {
            MembershipChange::Added(member) => info!(
                node_id = %node_hex,
                member = %format_node_id(member.node_id),
                generation = member.generation,
                gossip_addr = %member.gossip_addr,
                alive = member.alive,
                "member added"
            ),
            MembershipChange::Updated(member) => info!(
                node_id = %node_hex,
                member = %format_node_id(member.node_id),
                generation = member.generation,
                alive = member.alive,
                ready = member.meta.ready,
                leaving = member.meta.leaving,
                "member updated"
            ),
            MembershipChange::Removed { node_id } => info!(
                node_id = %node_hex,
                member = %format_node_id(*node_id),
                "member removed"
            ),
        }
    }
}
