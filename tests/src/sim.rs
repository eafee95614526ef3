//! The N-peer simulator.
//!
//! N peers, each with a memory database, wired in a star (every peer replicates with peer 0) or
//! a mesh (every pair of peers), with continuous push-and-pull replicators on every edge. A seeded
//! RNG chooses application writes (creates, updates and deletions, and — with
//! [`SimConfig::concurrent_edits`] — edits of the same documents on several peers, which
//! conflict), disconnects, reconnects, crash-restarts of a peer (its database kept, every session
//! lost), network partitions, and the order in which frames cross the links. After the random
//! phase every link is reconnected and the system runs until quiescent within a step bound. Then:
//!
//! - every peer holds the same documents at the same current revisions with the same bodies,
//!   except that a peer whose first pull started on an empty database (an `activeOnly` pull, which
//!   skips deletions) may lack documents that are deleted everywhere else;
//! - no acknowledged write is lost: without conflicts, every document is at its creator's latest
//!   revision everywhere; with conflicts, every revision ever written is in every peer's tree
//!   (a resolution may supersede it, never erase it);
//! - no revision is created after quiescence (no ping-pong of conflict resolutions);
//! - every replicator is idle with empty windows (none stuck busy);
//! - every blob a current revision references is stored on every peer with the bytes its digest
//!   names (writes attach blobs, some shared between documents and peers), and compaction keeps
//!   them.
//!
//! A failing run reports its seed; [`run`] with the same seed replays it exactly.

use std::collections::BTreeMap;

use ferry_engine::repl::{
    ActiveConfig, ActivityLevel, Direction, PassiveConfig, Profile, RemoteIdentity,
};
use ferry_engine::rev::RevId;
use ferry_engine::value::Value;

use crate::check::{Snapshot, blob_problems, differences, snapshot};
use crate::clock::Clock;
use crate::link::{self, Link};
use crate::rng::Rng;
use crate::{MemDb, memory_db};

/// How peers are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Every peer replicates with peer 0.
    Star,
    /// Every pair of peers replicates.
    Mesh,
}

/// The shape of one simulated run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of peers (≥ 2).
    pub peers: usize,
    /// Wiring.
    pub topology: Topology,
    /// Random operations (writes, disconnects, reconnects, deliveries) before the final run.
    pub operations: usize,
    /// Step bound of the final run to quiescence.
    pub max_final_steps: usize,
    /// Whether peers edit documents other peers created (concurrent edits: conflicts).
    pub concurrent_edits: bool,
    /// Whether replicators filter: documents whose ID starts with `local-` (and whose body says
    /// `"local": true`) are neither pushed nor pulled (push and pull filters), deletions
    /// included, so they stay on the peer that wrote them. Used with creator-only edits.
    pub filters: bool,
}

impl SimConfig {
    /// A configuration chosen from the seed: 3–5 peers, star or mesh, 150–400 operations.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5eed);
        SimConfig {
            peers: 3 + rng.below(3) as usize,
            topology: if rng.chance(50) {
                Topology::Star
            } else {
                Topology::Mesh
            },
            operations: 150 + rng.below(250) as usize,
            max_final_steps: 500_000,
            concurrent_edits: false,
            filters: rng.chance(50),
        }
    }
}

/// What a successful run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Application writes made.
    pub writes: usize,
    /// Disconnects injected (crash-restarts and partitions included).
    pub disconnects: usize,
    /// Conflicts resolved by replicators.
    pub conflicts_resolved: usize,
    /// Documents kept local by the filters.
    pub filtered_documents: usize,
    /// Frames delivered.
    pub frames: u64,
    /// Documents at the end (on every peer).
    pub documents: usize,
}

struct Edge {
    active: usize,
    passive: usize,
    profile: Profile,
    link: Link,
}

struct Sim {
    rng: Rng,
    /// Chooses blobs for writes (see `Sim::attach_blob`).
    blob_rng: Rng,
    clock: Clock,
    dbs: Vec<MemDb>,
    edges: Vec<Edge>,
    /// The latest revision of each document, as its creator wrote it.
    latest: BTreeMap<String, RevId>,
    /// Documents marked local (filtered out of replication) and the peer that wrote them.
    local: BTreeMap<String, usize>,
    filters: bool,
    /// Every revision written by an application, with its document and the peer that wrote it.
    written: Vec<(String, RevId, usize)>,
    concurrent: bool,
    /// Documents each peer created (it alone edits them).
    own: Vec<Vec<String>>,
    /// The last sequence of each database that its sessions were told about.
    notified: Vec<u64>,
    /// Peers whose pull started while their database was empty: such a pull asks `activeOnly`,
    /// so deletions made before it are never sent and the peer may lack those documents.
    started_empty: Vec<bool>,
    report: SimReport,
}

/// Runs the simulation for `seed` with the configuration [`SimConfig::from_seed`] gives.
pub fn run(seed: u64) -> Result<SimReport, String> {
    run_with(seed, &SimConfig::from_seed(seed))
}

/// Runs the simulation for `seed` with `config`. The error names the seed and what failed.
pub fn run_with(seed: u64, config: &SimConfig) -> Result<SimReport, String> {
    let mut sim = Sim::new(seed, config);
    sim.run(config)
        .map_err(|e| format!("seed {seed} ({config:?}): {e}"))
}

fn two<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

impl Sim {
    fn new(seed: u64, config: &SimConfig) -> Self {
        let mut rng = Rng::new(seed);
        // Blob choices draw from their own stream, so the scenario's other choices are the
        // ones the seed always made.
        let blob_rng = Rng::new(seed ^ 0xb10b_b10b_b10b_b10b);
        let dbs: Vec<MemDb> = (0..config.peers)
            .map(|i| memory_db(seed.wrapping_mul(31) + i as u64))
            .collect();
        let mut edges = Vec::new();
        let mut add = |active: usize, passive: usize, rng: &mut Rng| {
            let profile = if rng.chance(50) {
                Profile::Ferry1
            } else {
                Profile::CbMobile3
            };
            edges.push(Edge {
                active,
                passive,
                profile,
                link: Link::default(),
            });
        };
        match config.topology {
            Topology::Star => (1..config.peers).for_each(|i| add(i, 0, &mut rng)),
            Topology::Mesh => {
                for i in 0..config.peers {
                    for j in i + 1..config.peers {
                        add(i, j, &mut rng);
                    }
                }
            }
        }
        Sim {
            rng,
            blob_rng,
            clock: Clock::new(),
            notified: vec![0; dbs.len()],
            started_empty: vec![false; dbs.len()],
            own: vec![Vec::new(); dbs.len()],
            dbs,
            edges,
            latest: BTreeMap::new(),
            written: Vec::new(),
            local: BTreeMap::new(),
            filters: config.filters && !config.concurrent_edits,
            concurrent: config.concurrent_edits,
            report: SimReport::default(),
        }
    }

    fn active_config(&mut self, edge: usize) -> ActiveConfig {
        let e = &self.edges[edge];
        let passive_uuid = self.dbs[e.passive].uuid();
        let mut cfg = ActiveConfig::new(Direction::PushAndPull, RemoteIdentity::Uuid(passive_uuid));
        cfg.continuous = true;
        // Small windows so that batching, pipelining and back-pressure all happen.
        cfg.changes_batch = 1 + self.rng.below(20) as usize;
        cfg.max_changes_in_flight = 1 + self.rng.below(3) as usize;
        cfg.max_revs_in_flight = 1 + self.rng.below(8) as usize;
        cfg.max_pull_pending = 1 + self.rng.below(30) as usize;
        cfg.insert_batch = 1 + self.rng.below(10) as usize;
        cfg.checkpoint_interval = std::time::Duration::from_millis(1 + self.rng.below(50));
        // The remote-ancestor number identifies the peer in this database's trees.
        cfg.remote_id = e.passive as u32 + 1;
        if self.filters {
            let not_local = ferry_engine::repl::ReplicationFilter::new(|doc| {
                let local = doc.doc_id.starts_with("local-");
                assert!(
                    doc.deleted || local == (doc.body.get("local") == Some(&Value::from(true))),
                    "the filter sees the body it was written with"
                );
                !local
            });
            cfg.push_filter = Some(not_local.clone());
            cfg.pull_filter = Some(not_local);
        }
        cfg
    }

    fn passive_config(&mut self, edge: usize) -> PassiveConfig {
        let mut cfg = PassiveConfig::default();
        cfg.changes_batch = 1 + self.rng.below(20) as usize;
        cfg.max_changes_in_flight = 1 + self.rng.below(3) as usize;
        cfg.max_revs_in_flight = 1 + self.rng.below(8) as usize;
        cfg.insert_batch = 1 + self.rng.below(10) as usize;
        cfg.remote_id = Some(self.edges[edge].active as u32 + 1);
        cfg
    }

    fn connect(&mut self, edge: usize) {
        let active = self.active_config(edge);
        let passive = self.passive_config(edge);
        let now = self.clock.now();
        let e = &mut self.edges[edge];
        e.link
            .connect(now, e.profile, active, passive, &self.dbs[e.active]);
        // The pull asks `activeOnly` when the database is empty and has no checkpoint.
        let db = &self.dbs[e.active];
        let session = e.link.active.as_ref().expect("connected");
        if db.document_count().expect("count") == 0
            && db
                .local_checkpoint(session.checkpoint_id())
                .expect("checkpoint")
                .is_none()
        {
            self.started_empty[e.active] = true;
        }
    }

    fn run(&mut self, config: &SimConfig) -> Result<SimReport, String> {
        for edge in 0..self.edges.len() {
            self.connect(edge);
        }
        for _ in 0..config.operations {
            match self.rng.below(100) {
                0..=29 => self.write(),
                30..=32 => self.disconnect(),
                33 => self.crash_restart(),
                34 => self.partition(),
                35..=39 => self.reconnect(),
                _ => {
                    for _ in 0..1 + self.rng.below(20) {
                        self.step(true);
                    }
                }
            }
            self.notify()?;
        }
        for edge in 0..self.edges.len() {
            if !self.edges[edge].link.is_connected() {
                self.connect(edge);
            }
        }
        let mut steps = 0;
        while !self.quiescent() {
            if steps == config.max_final_steps {
                return Err(format!(
                    "not quiescent after {steps} steps\n{}",
                    self.describe()
                ));
            }
            if !self.step(false) {
                return Err(format!(
                    "stuck: nothing moves but not quiescent\n{}",
                    self.describe()
                ));
            }
            self.notify()?;
            steps += 1;
        }
        self.check()
    }

    /// An application write on a random peer.
    fn write(&mut self) {
        if self.concurrent {
            self.write_any();
        } else {
            self.write_own();
        }
    }

    /// Creates a document, or updates or deletes any document this peer has (concurrent edits
    /// of one document on several peers conflict).
    fn write_any(&mut self) {
        let peer = self.rng.below(self.dbs.len() as u64) as usize;
        let n = self.rng.below(1_000);
        let mut body = Value::object([("n", Value::from(n)), ("by", Value::from(peer as u64))]);
        self.attach_blob(peer, &mut body);
        let known: Vec<String> = self.latest.keys().cloned().collect();
        let id = if known.is_empty() || self.rng.chance(30) {
            let id = format!("p{peer}-{}", self.own[peer].len());
            self.own[peer].push(id.clone());
            id
        } else {
            self.rng.pick(&known).clone()
        };
        let db = &mut self.dbs[peer];
        let current = db
            .revision_tree(&id)
            .expect("read")
            .and_then(|(r, t)| (!r.flags.deleted).then(|| t.current().cloned()).flatten());
        let result = match current {
            Some(base) if self.rng.chance(20) => db.delete(&id, &base),
            Some(base) => db.put(&id, &body, Some(&base)),
            None => db.put(&id, &body, None),
        };
        let rev = result.expect("an edit on top of the local current revision never conflicts");
        self.latest.insert(id.clone(), rev.clone());
        self.written.push((id, rev, peer));
        self.report.writes += 1;
    }

    /// Sometimes saves a blob on `peer` and references it from `body`. Contents come from a
    /// small pool, so documents and peers share blobs (the same bytes saved on two peers are one
    /// blob); some span several `getAttachment` ranges.
    fn attach_blob(&mut self, peer: usize, body: &mut Value) {
        if !self.blob_rng.chance(35) {
            return;
        }
        let which = self.blob_rng.below(6) as u8;
        let len = match which {
            0 => 0,
            5 => 1_200_000,
            n => 100 * usize::from(n) * usize::from(n),
        };
        let bytes: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(which))
            .collect();
        // Small blobs are fetched compressed; the big one is not (as an already-compressed
        // format would not be), which keeps the simulator fast.
        let content_type = if len > 100_000 {
            "video/mp4"
        } else {
            "application/octet-stream"
        };
        let blob = self.dbs[peer]
            .save_blob(&bytes, Some(content_type))
            .expect("save a blob");
        if let Some(map) = body.as_object_mut() {
            map.insert("blob".into(), blob.to_value());
        }
    }

    /// A crash-restart of a peer: every session it was part of is lost; its database is kept.
    fn crash_restart(&mut self) {
        let peer = self.rng.below(self.dbs.len() as u64) as usize;
        let now = self.clock.now();
        for e in &mut self.edges {
            if (e.active == peer || e.passive == peer) && e.link.is_connected() {
                e.link.disconnect(now);
                self.report.disconnects += 1;
            }
        }
    }

    /// A network partition: every link across a random cut goes down.
    fn partition(&mut self) {
        let cut: Vec<bool> = (0..self.dbs.len()).map(|_| self.rng.chance(50)).collect();
        let now = self.clock.now();
        for e in &mut self.edges {
            if cut[e.active] != cut[e.passive] && e.link.is_connected() {
                e.link.disconnect(now);
                self.report.disconnects += 1;
            }
        }
    }

    /// Creates, updates or deletes one of this peer's own documents (no conflicts).
    fn write_own(&mut self) {
        let peer = self.rng.below(self.dbs.len() as u64) as usize;
        let n = self.rng.below(1_000);
        let existing = (!self.own[peer].is_empty() && self.rng.chance(60))
            .then(|| self.rng.pick(&self.own[peer]).clone());
        let local = match &existing {
            Some(id) => self.local.contains_key(id),
            None => self.filters && self.rng.chance(15),
        };
        let mut body = Value::object([("n", Value::from(n)), ("by", Value::from(peer as u64))]);
        if local {
            if let Some(map) = body.as_object_mut() {
                map.insert("local".into(), Value::from(true));
            }
        }
        self.attach_blob(peer, &mut body);
        let db = &mut self.dbs[peer];
        let result = match existing {
            None => {
                let prefix = if local { "local-" } else { "" };
                let id = format!("{prefix}p{peer}-{}", self.own[peer].len());
                self.own[peer].push(id.clone());
                if local {
                    self.local.insert(id.clone(), peer);
                }
                db.put(&id, &body, None).map(|rev| (id, rev))
            }
            Some(id) => {
                let current = self.latest.get(&id).cloned();
                let deleted = db.get(&id).ok().flatten().is_none();
                if !deleted && self.rng.chance(25) {
                    let base = current.expect("own documents have a latest revision");
                    db.delete(&id, &base).map(|rev| (id, rev))
                } else if deleted {
                    db.put(&id, &body, None).map(|rev| (id, rev))
                } else {
                    db.put(&id, &body, current.as_ref()).map(|rev| (id, rev))
                }
            }
        };
        let (id, rev) = result.expect("a creator's own edit never conflicts");
        self.latest.insert(id.clone(), rev.clone());
        self.written.push((id, rev, peer));
        self.report.writes += 1;
    }

    fn disconnect(&mut self) {
        let edge = self.rng.below(self.edges.len() as u64) as usize;
        if self.edges[edge].link.is_connected() {
            let now = self.clock.now();
            self.edges[edge].link.disconnect(now);
            self.report.disconnects += 1;
        }
    }

    fn reconnect(&mut self) {
        let edge = self.rng.below(self.edges.len() as u64) as usize;
        if !self.edges[edge].link.is_connected() {
            self.connect(edge);
        }
    }

    /// Delivers one frame on a random link with frames waiting; else fires the next timer
    /// (unless `only_frames`). Returns whether anything happened.
    fn step(&mut self, only_frames: bool) -> bool {
        let waiting: Vec<(usize, link::Direction)> = self
            .edges
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                [link::Direction::ToPassive, link::Direction::ToActive]
                    .into_iter()
                    .filter(move |d| e.link.queued(*d) > 0)
                    .map(move |d| (i, d))
            })
            .collect();
        let now = self.clock.now();
        if !waiting.is_empty() {
            let (i, direction) = *self.rng.pick(&waiting);
            let e = &mut self.edges[i];
            let (a, p) = two(&mut self.dbs, e.active, e.passive);
            e.link.deliver(direction, now, a, p);
            self.report.frames += 1;
            return true;
        }
        if only_frames {
            return false;
        }
        let Some(at) = self
            .edges
            .iter()
            .filter_map(|e| e.link.next_deadline())
            .min()
        else {
            return false;
        };
        self.clock.advance_to(at);
        let now = self.clock.now();
        for e in &mut self.edges {
            let (a, p) = two(&mut self.dbs, e.active, e.passive);
            e.link.fire_timers(now, a, p);
        }
        true
    }

    /// Tells every session whose database changed (what an adapter's change observer does).
    fn notify(&mut self) -> Result<(), String> {
        loop {
            let mut any = false;
            for peer in 0..self.dbs.len() {
                let last = self.dbs[peer].last_sequence().map_err(|e| e.to_string())?;
                if last == self.notified[peer] {
                    continue;
                }
                self.notified[peer] = last;
                any = true;
                let now = self.clock.now();
                for e in &mut self.edges {
                    if e.active == peer {
                        e.link.active_db_changed(now, &mut self.dbs[peer]);
                    } else if e.passive == peer {
                        e.link.passive_db_changed(now, &mut self.dbs[peer]);
                    }
                }
            }
            if !any {
                return Ok(());
            }
        }
    }

    fn quiescent(&self) -> bool {
        self.edges.iter().all(|e| e.link.is_quiescent())
            && self
                .dbs
                .iter()
                .zip(&self.notified)
                .all(|(db, n)| db.last_sequence().ok() == Some(*n))
    }

    fn check(&mut self) -> Result<SimReport, String> {
        // Filtered (local) documents stay on the peer that wrote them, and only there.
        for (id, origin) in &self.local {
            for (peer, db) in self.dbs.iter().enumerate() {
                let has = db.revision_tree(id).map_err(|e| e.to_string())?.is_some();
                if has != (peer == *origin) {
                    return Err(format!(
                        "filtered document {id} (of peer {origin}) on peer {peer}: {has}"
                    ));
                }
            }
        }
        let shared = |db: &MemDb| {
            let mut s = snapshot(db);
            s.retain(|id, _| !self.local.contains_key(id));
            s
        };
        // A deleted document may be missing from a peer whose first pull skipped deletions.
        let tolerate_missing = |reference: &mut Snapshot, peer: usize, other: &Snapshot| {
            if self.started_empty[peer] {
                reference.retain(|id, (_, deleted, _)| !*deleted || other.contains_key(id));
            }
        };
        let first = shared(&self.dbs[0]);
        for (i, db) in self.dbs.iter().enumerate().skip(1) {
            let mut other = shared(db);
            let mut reference = first.clone();
            tolerate_missing(&mut reference, i, &other);
            tolerate_missing(&mut other, 0, &first);
            let diff = differences(&reference, &other, 10);
            if !diff.is_empty() {
                let doc = diff[0].split(':').next().unwrap_or_default().to_owned();
                let events: Vec<String> = self
                    .edges
                    .iter()
                    .enumerate()
                    .flat_map(|(n, e)| {
                        let doc = doc.clone();
                        e.link
                            .active_events
                            .iter()
                            .filter(move |ev| format!("{ev:?}").contains(&format!("{doc:?}")))
                            .map(move |ev| {
                                format!("edge {n} ({}->{}): {ev:?}", e.active, e.passive)
                            })
                    })
                    .collect();
                return Err(format!(
                    "peer 0 and peer {i} differ:\n{}\npeer 0: {}\npeer {i}: {}\nevents:\n{}",
                    diff.join("\n"),
                    describe_tree(&self.dbs[0], &doc),
                    describe_tree(db, &doc),
                    events.join("\n")
                ));
            }
        }
        if !self.concurrent {
            for (id, rev) in self
                .latest
                .iter()
                .filter(|(id, _)| !self.local.contains_key(*id))
            {
                match first.get(id) {
                    Some((current, _, _)) if current == rev => {}
                    None if self.started_empty[0] && self.deleted_at(id, rev)? => {}
                    other => {
                        return Err(format!(
                            "acknowledged write lost: {id} should be at {rev}, is {:?}",
                            other.map(|o| &o.0)
                        ));
                    }
                }
            }
        }
        for (peer, db) in self.dbs.iter().enumerate() {
            for (id, rev, origin) in &self.written {
                if self.local.contains_key(id) && peer != *origin {
                    continue;
                }
                let known = db.revision_tree(id).map_err(|e| e.to_string())?;
                if known.as_ref().is_some_and(|(_, tree)| tree.contains(rev)) {
                    continue;
                }
                if known.is_none()
                    && self.started_empty[peer]
                    && first.get(id).is_none_or(|(_, deleted, _)| *deleted)
                {
                    continue;
                }
                // Only a write that lost a conflict may stay behind: on its own peer it is kept,
                // and is not an ancestor of the resolved current revision.
                let origin_db = &self.dbs[*origin];
                let (_, tree) = origin_db
                    .revision_tree(id)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{id} vanished from its writer, peer {origin}"))?;
                let current = tree
                    .current()
                    .cloned()
                    .expect("a document has a current revision");
                let superseded = tree.contains(rev)
                    && !origin_db
                        .is_ancestor(id, rev, &current)
                        .map_err(|e| e.to_string())?;
                if !superseded {
                    return Err(format!(
                        "acknowledged write lost: peer {peer} never got {id} {rev} (written on \
                         peer {origin}, which still builds on it)\npeer {origin}: {}\npeer {peer}: {}",
                        describe_tree(origin_db, id),
                        describe_tree(db, id)
                    ));
                }
            }
            let own_local = self.local.values().filter(|o| **o == peer).count();
            let listed = shared(db).len() + own_local;
            if db.document_count().map_err(|e| e.to_string())? != listed as u64 {
                return Err(format!("peer {peer} has a different number of documents"));
            }
        }
        // No ping-pong: poking every session again creates no revision anywhere.
        let before: Vec<u64> = self.notified.clone();
        let now = self.clock.now();
        for e in &mut self.edges {
            let (a, p) = two(&mut self.dbs, e.active, e.passive);
            e.link.active_db_changed(now, a);
            e.link.passive_db_changed(now, p);
        }
        let mut steps = 0;
        while !self.quiescent() && steps < 100_000 {
            if !self.step(false) {
                break;
            }
            self.notify()?;
            steps += 1;
        }
        if self.notified != before {
            return Err(format!(
                "revisions were created after quiescence: sequences {before:?} -> {:?}",
                self.notified
            ));
        }
        self.report.conflicts_resolved = self
            .edges
            .iter()
            .flat_map(|e| &e.link.active_events)
            .filter(|e| matches!(e, ferry_engine::repl::ActiveEvent::ConflictResolved { .. }))
            .count();
        for (i, e) in self.edges.iter().enumerate() {
            let Some(active) = e.link.active.as_ref() else {
                continue;
            };
            let status = active.status();
            if status.activity != ActivityLevel::Idle || status.error.is_some() {
                return Err(format!(
                    "replicator {i} ended {status:?}\n{}",
                    e.link.describe()
                ));
            }
        }
        for (peer, db) in self.dbs.iter_mut().enumerate() {
            let problems = blob_problems(db, 5);
            if !problems.is_empty() {
                return Err(format!("peer {peer}: {}", problems.join("\n")));
            }
            db.compact().map_err(|e| e.to_string())?;
            let problems = blob_problems(db, 5);
            if !problems.is_empty() {
                return Err(format!(
                    "peer {peer} after compaction: {}",
                    problems.join("\n")
                ));
            }
        }
        self.report.documents = first.len();
        self.report.filtered_documents = self.local.len();
        Ok(self.report.clone())
    }

    /// Whether some peer holds `doc_id` deleted at `rev`.
    fn deleted_at(&self, doc_id: &str, rev: &RevId) -> Result<bool, String> {
        for db in &self.dbs {
            if let Some((record, _)) = db.revision_tree(doc_id).map_err(|e| e.to_string())? {
                if record.flags.deleted && &record.current_rev == rev {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn describe(&self) -> String {
        let mut out = format!("at {:?}\n", self.clock.elapsed());
        for (i, e) in self.edges.iter().enumerate() {
            out += &format!(
                "edge {i} ({} -> {}): {}\n",
                e.active,
                e.passive,
                e.link.describe()
            );
        }
        out
    }
}

/// One document's revision tree, for failure reports.
pub(crate) fn describe_tree(db: &MemDb, doc_id: &str) -> String {
    match db.revision_tree(doc_id) {
        Ok(Some((_, tree))) => tree
            .iter()
            .map(|n| {
                format!(
                    "{}{}{}<-{}",
                    n.rev_id(),
                    if n.is_deleted() { " (deleted)" } else { "" },
                    if n.is_leaf() { " leaf" } else { "" },
                    n.parent_id().map_or("root".to_owned(), |p| p.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => format!("{other:?}"),
    }
}
