//! The core server's logic, sans I/O: users, sessions, calls, rooms and the
//! link to the business server.
//!
//! [`Core`] is a state machine. The event loop feeds it what happened —
//! [`Core::on_connect`], [`Core::on_message`], [`Core::on_closed`],
//! [`Core::on_timeout`] — each with the current time, and then drains
//! [`Core::poll_output`] for the messages to send and the connections to
//! close, and asks [`Core::next_deadline`] when to call `on_timeout` next.
//! Nothing in here reads a clock, touches a socket or spawns a thread, so the
//! whole video-call contract is tested in simulated time (`core_tests.rs`).
//!
//! Conventions the contract leaves open, chosen here (see `docs/ARCHITECTURE.md`):
//! - events the server makes on its own (ringing confirmation, offline, busy,
//!   time-out, lost connection) carry `dwParam = 0` and an empty `lpUserStr`;
//!   events a party caused carry that party's `dwParam` and `lpUserStr`.
//! - a caller's Reply with a non-zero code cancels a ringing call; the callee
//!   receives `REPLY(100101)` whatever the code.
//! - with a business server linked, a Request is first put to it ("vetting");
//!   the callee hears nothing until it answers 0. While vetting, both users
//!   count as busy.
#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wire::constants::*;
mod friends;
pub mod journal;
pub mod limits;

use self::friends::Profile;
use self::journal::{EndedBy, Journal, Missed, Outcome};
use self::limits::{Attempts, Buckets, Class, Rate, RateAction, RateLimits, CLASSES};
use crate::wire::protocol::{
    CallEvent, ClientMsg, MediaHeader, MediaOut, Role, RoomUser, ServerMsg, CAP_OPUS, CODEC_OPUS, DEVICE_CAMERA,
    DEVICE_MIC, MEDIA_AUDIO, MEDIA_VIDEO, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

/// Identifies one transport connection for the lifetime of the process.
/// The event loop must never reuse an id for another connection. The server
/// makes it from a slot (low 32 bits) and a generation (high 32 bits), and
/// it prints as `slot.generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0 & 0xFFFF_FFFF, self.0 >> 32)
    }
}

/// Settings of the core server.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a call may ring before both parties get `REPLY(100105)`.
    pub ring_timeout: Duration,
    /// A connection silent for this long is treated as lost.
    pub keepalive_timeout: Duration,
    /// How long the business server may take to answer a question
    /// (call, login, room); then the asker gets 207.
    pub business_timeout: Duration,
    /// The secret a business server must give in `Hello` (None: none needed).
    pub business_secret: Option<Vec<u8>>,
    /// Logins and calls fail with 206 while no business server is linked.
    pub require_business: bool,
    /// A connection not logged in (nor linked as the business server) this
    /// long after it was accepted is closed.
    pub login_timeout: Duration,
    /// Per-sender rate limits of client connections.
    pub rate_limits: RateLimits,
    /// Randomness from the event loop (the core reads no clock and no random
    /// source): seeds the business link's reconnect tokens.
    pub seed: u64,
    /// Emit [`Output::Journal`] (call records, new user ids, business
    /// latency).
    pub journal: bool,
    /// With `journal`: keep missed calls and show them to their callee at
    /// its next login (user info 900; the server turns it on with call
    /// records, which keep them across restarts).
    pub missed_calls: bool,
    /// The wall-clock time (milliseconds since the Unix epoch) at an
    /// instant, given by the loop: call records' times are reckoned from
    /// it (None: they count from 0).
    pub wall_clock: Option<(Instant, u64)>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            ring_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(15),
            business_timeout: Duration::from_secs(5),
            business_secret: None,
            require_business: false,
            login_timeout: Duration::from_secs(30),
            rate_limits: RateLimits::default(),
            seed: 0,
            journal: false,
            missed_calls: false,
            wall_clock: None,
        }
    }
}

/// Why the core asks the event loop to close a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client said `Logout`.
    Logout,
    /// Nothing received within the keep-alive time.
    KeepaliveTimeout,
    /// The same user logged in on another connection.
    LoggedInElsewhere,
    /// The business server kicked the user out.
    Kicked,
    /// The handshake failed (bad version, role or secret; a second business server).
    Handshake,
    /// The peer broke the protocol (message before `Hello`, second `Hello`).
    ProtocolViolation(&'static str),
    /// Not logged in within the login time-out.
    LoginTimeout,
    /// Over its rate limit, with [`RateAction::Disconnect`].
    RateLimited,
}

/// What the core counted since it started (the event loop counts the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Times a sender went over its rate, per [`Class`] (in `Class::ALL` order).
    pub throttled: [u64; CLASSES],
    /// Senders disconnected for their rate ([`RateAction::Disconnect`]).
    pub rate_disconnects: u64,
    /// Connections closed for not logging in in time.
    pub login_timeouts: u64,
    /// Business-server handshakes refused: wrong secret, or too many tries.
    pub secret_refusals: u64,
    /// `LoginEx` claims of an id another user holds, refused.
    pub id_claims_refused: u64,
    /// Media subscriptions refused (the target cannot be seen).
    pub subscriptions_refused: u64,
    /// Friends, groups, infos and address rules the business server set
    /// beyond their limits, ignored.
    pub user_data_refused: u64,
    /// Client connections and logins refused for a blocked address
    /// (`BRAS_USERINFO_CTRLCODE_BLOCKIP`).
    pub ip_refusals: u64,
}

/// What the core asks the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send a message on a connection.
    Send(ConnId, ServerMsg),
    /// Flush what was queued for the connection, then close it. The core has
    /// already forgotten the connection; `on_closed` for it is a no-op.
    Close(ConnId, CloseReason),
    /// Queue a media frame for a connection. It goes out after the
    /// connection's signalling, and the loop may drop it (video first, whole
    /// frames, oldest first) when the receiver falls behind; it then calls
    /// [`Core::on_media_dropped`].
    Media(ConnId, Arc<MediaOut>),
    /// What paused the reading of a connection (see [`Core::read_pause`])
    /// is over before its time: read it again now.
    Resume(ConnId),
    /// Something for call records, metrics or logs (only with
    /// [`CoreConfig::journal`]).
    Journal(Journal),
}

/// The code of everything a draining server refuses or ends (see
/// [`Core::start_drain`]): `GV_ERR_CONNECT_OVERFLOW`, the vendor's "the
/// server takes no more". Logins get it in `LoginResult`, Requests in
/// `REPLY`, and the calls still going at the drain's deadline in `FINISH`
/// (or `REPLY` while they ring).
pub const DRAIN_CODE: u32 = GV_ERR_CONNECT_OVERFLOW;

/// The core numbers its questions to the business server below this (the
/// ids above are a cluster's, for the questions it relays: `src/cluster/`).
pub const QUERY_IDS_END: u32 = 0x8000_0000;

/// Room ids the server allocates for calls start here; ids in use are skipped.
pub const CALL_ROOM_BASE: u32 = 0x7000_0000;
/// In a cluster, the call rooms' ids from here on come in blocks that the
/// engine hands out once each ([`Core::add_call_rooms`]), so that no two
/// calls in the cluster share one; a server without a block left takes
/// them below, from its own counter.
pub const CLUSTER_CALL_ROOM_BASE: u32 = 0x7100_0000;
/// Room ids the server allocates for named rooms (`BRAC_EnterRoomEx`).
pub const NAMED_ROOM_BASE: u32 = 0x6000_0000;
/// `BRAC_LeaveRoom(-1)`: whatever room the user is in.
pub const ANY_ROOM: u32 = u32::MAX;

#[derive(Debug, PartialEq, Eq)]
enum ConnState {
    AwaitHello,
    /// Handshake done; `login` is the pending business-server question, if any.
    Ready {
        login: Option<u32>,
    },
    LoggedIn(u32),
    /// The linked business server.
    Business,
    /// A media link between two core servers of a cluster (its messages
    /// are the cluster's; no rate, keep-alive or login time-out).
    Peer,
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    last_rx: Instant,
    /// Its rate limits (unused for the business server's link).
    buckets: Buckets,
    /// Accepted on the business listener.
    business_port: bool,
    /// The peer's address as text, for the business server.
    ip: String,
    /// What the client decodes (`ClientMsg::Caps`: `CAP_OPUS`); 0 until told.
    caps: u32,
}

#[derive(Debug)]
struct User {
    name: Vec<u8>,
    nick: Vec<u8>,
    level: u32,
    /// `GV_CAMERA_STATE_*` and `GV_AUDIO_STATE_*` as the user set them.
    camera: u32,
    mic: u32,
    conn: ConnId,
    room: Option<u32>,
    call: Option<u64>,
    /// Users who asked for this user's video / audio.
    video_subs: Vec<u32>,
    audio_subs: Vec<u32>,
    /// Whose video / audio this user asked for (`(user, MEDIA_*)`), so that
    /// its subscriptions go when it does.
    subscribed_to: Vec<(u32, u8)>,
    /// When this user was last asked for a key frame, and whether another
    /// request waits for [`KEY_FRAME_INTERVAL`] to pass.
    key_frame_asked: Option<Instant>,
    key_frame_due: bool,
    /// This user was told to send PCM audio (`ServerMsg::AudioCodec`): a
    /// receiver of its audio cannot decode Opus.
    audio_pcm: bool,
    /// Friends, groups and infos the business server set (`friends.rs`).
    profile: Profile,
    /// When it logged in.
    since: Instant,
    /// A user of another server attached here ([`Core::attach_remote`]):
    /// its coming and going here say nothing of it being online.
    remote: bool,
}

impl User {
    /// A user just logged in on `conn`: no room, no call, devices closed.
    fn new(name: Vec<u8>, nick: Vec<u8>, level: u32, conn: ConnId, since: Instant) -> Self {
        User {
            name,
            nick,
            level,
            camera: GV_CAMERA_STATE_NORMAL,
            mic: GV_AUDIO_STATE_NORMAL,
            conn,
            room: None,
            call: None,
            video_subs: Vec::new(),
            audio_subs: Vec::new(),
            subscribed_to: Vec::new(),
            key_frame_asked: None,
            key_frame_due: false,
            audio_pcm: false,
            profile: Profile::default(),
            since,
            remote: false,
        }
    }
}

/// What a Login or LoginEx asks for.
#[derive(Debug, Clone)]
struct LoginAsk {
    name: Vec<u8>,
    /// The user id a `BRAC_LoginEx` gave (0: none).
    app_id: u32,
    /// The nick name a `BRAC_LoginEx` gave (empty: the name).
    nick: Vec<u8>,
}

/// Longest user name or nick name the server accepts, in bytes (the client
/// library checks the same bound).
pub const MAX_USER_NAME: usize = 256;
/// The timer heap is never cleaned below this size.
const MIN_TIMERS_COMPACT: usize = 4096;
/// Users per `RoomUsers` message, so that a frame stays under its limit.
const ROOM_USERS_PER_MESSAGE: usize = 100;
/// Largest frame accepted before `Hello` (a `Hello` is a few KiB at most).
pub const MAX_FRAME_BEFORE_HELLO: usize = 8 * 1024;
/// Largest frame accepted before login (a `Login` is a few KiB at most).
pub const MAX_FRAME_BEFORE_LOGIN: usize = 64 * 1024;
/// A sender is asked for a key frame at most this often (receivers that
/// subscribe or lose frames meanwhile get the next one).
pub const KEY_FRAME_INTERVAL: Duration = Duration::from_millis(500);
/// Wrong business secrets: this many tries per source address, then one
/// more per second.
pub const SECRET_TRIES: Rate = Rate { per_sec: 1.0, burst: 5.0 };
/// Sources whose wrong-secret tries are remembered at most.
const MAX_SECRET_SOURCES: usize = 4096;
/// Bytes counted per user listed or told in a room change, for the `room`
/// rate limit.
const ROOM_ENTRY_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting for the business server's answer to the Request.
    Vetting,
    Ringing {
        deadline: Instant,
    },
    Active {
        room: u32,
    },
}

#[derive(Debug)]
struct Call {
    caller: u32,
    callee: u32,
    flags: u32,
    param: u32,
    user_str: Vec<u8>,
    state: CallState,
    /// When the Request came, and when the callee accepted.
    requested: Instant,
    started: Option<Instant>,
}

impl Call {
    fn peer_of(&self, user: u32) -> u32 {
        if user == self.caller {
            self.callee
        } else {
            self.caller
        }
    }
}

#[derive(Debug, Default)]
struct Room {
    members: Vec<u32>,
    /// The call this room belongs to: only its two parties may enter.
    call: Option<u64>,
    /// The name it was entered by (`BRAC_EnterRoomEx`), if any.
    name: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Keepalive(ConnId),
    Ring(u64),
    Query(u32),
    Login(ConnId),
    KeyFrame(u32),
    /// The end of a burst of changes to users' friends and groups.
    UserData,
    /// The drain's deadline: the calls left are ended.
    Drain,
}

/// A question put to the business server, waiting for its answer.
#[derive(Debug)]
enum Query {
    Call { call_id: u64 },
    Login { conn: ConnId, ask: LoginAsk },
    Enter { uid: u32, room_id: u32 },
}

/// How a user's session ends, which decides what its call peer receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    /// Logout or release: as if the user had sent Finish / cancelled / refused.
    Logout,
    /// Closed socket, silent peer, newer login, kick-out: `100106`.
    Lost,
}

/// What each party of an ending call receives, and what the business
/// server is told. `(event, code)` pairs; `None`: that party hears nothing.
struct Ending {
    caller: Option<(u32, u32)>,
    callee: Option<(u32, u32)>,
    /// `dwParam` and `lpUserStr` of the events (the causing party's, or none).
    param: u32,
    user_str: Vec<u8>,
    /// `(event, src, code)` for the business server's note.
    note: Option<(u32, u32, u32)>,
    /// What the call record says.
    outcome: Outcome,
    by: EndedBy,
}

impl Ending {
    fn new(caller: Option<(u32, u32)>, callee: Option<(u32, u32)>, note: (u32, u32, u32)) -> Self {
        let (outcome, by) = (Outcome::Answered, EndedBy::Server);
        Ending { caller, callee, param: 0, user_str: Vec::new(), note: Some(note), outcome, by }
    }

    /// What the call record says of this ending.
    fn why(mut self, outcome: Outcome, by: EndedBy) -> Self {
        self.outcome = outcome;
        self.by = by;
        self
    }

    fn carrying(mut self, param: u32, user_str: &[u8]) -> Self {
        self.param = param;
        self.user_str = user_str.to_vec();
        self
    }
}

const REPLY: u32 = BRAC_VIDEOCALL_EVENT_REPLY;
const FINISH: u32 = BRAC_VIDEOCALL_EVENT_FINISH;
const REQUEST: u32 = BRAC_VIDEOCALL_EVENT_REQUEST;
const START: u32 = BRAC_VIDEOCALL_EVENT_START;

/// The core server's state machine. See the module documentation.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<u32, User>,
    ids_by_name: HashMap<Vec<u8>, u32>,
    /// The other way round (the last name given each id), for
    /// `ANYCHAT_SERVERQUERY_NAMEBYUSERID`.
    names_by_id: HashMap<u32, Vec<u8>>,
    next_user_id: u32,
    calls: HashMap<u64, Call>,
    next_call_id: u64,
    rooms: HashMap<u32, Room>,
    named_rooms: HashMap<Vec<u8>, u32>,
    next_call_room: u32,
    /// Blocks of call room ids handed out by a cluster (next, end).
    call_room_blocks: VecDeque<(u32, u32)>,
    /// A cluster hands out blocks: this server's own counter keeps below
    /// [`CLUSTER_CALL_ROOM_BASE`].
    call_room_blocks_on: bool,
    next_named_room: u32,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Heap size past which dead timers are dropped (see `compact_timers`).
    timers_compact_at: usize,
    out: VecDeque<Output>,
    /// The linked business server's connection.
    business: Option<ConnId>,
    /// A business server has linked since the start (or one is required):
    /// while none is linked, questions wait for one (see `ask`).
    business_expected: bool,
    /// The linked business server's reconnect token.
    business_token: u64,
    /// After the business link was lost: its token and until when only a
    /// business server presenting it may link.
    business_hold: Option<(u64, Instant)>,
    /// Questions to the business server not answered yet, with the message
    /// that asks them (sent again to a business server that links).
    queries: HashMap<u32, (Query, ServerMsg, Instant)>,
    next_query: u32,
    /// Wrong business secrets per source address.
    secret_tries: HashMap<String, Attempts>,
    /// Tokens handed out (with `config.seed`, makes the next one).
    tokens_made: u64,
    stats: Stats,
    /// For each user id, the users online who have it as a friend.
    friend_of: HashMap<u32, Vec<u32>>,
    /// Users whose friends or groups changed in the current burst.
    notices: Vec<u32>,
    /// `BLOCKIP` (true) and `UNBLOCKIP` (false) address patterns.
    ip_rules: Vec<(Vec<u8>, bool)>,
    /// Draining (see [`Core::start_drain`]): until when calls may go on.
    drain: Option<Instant>,
    /// Missed calls per callee, shown at its next login (with `journal`).
    missed: HashMap<u32, Vec<Missed>>,
    /// The `now` of the event being handled (for call records).
    now: Option<Instant>,
    /// Cluster: local users in a call another server holds (they count as busy).
    busy_elsewhere: HashSet<u32>,
    /// Ordinary rooms that became empty since the cluster last looked
    /// (None: not tracked, no cluster).
    emptied_rooms: Option<Vec<u32>>,
}

impl Core {
    pub fn new(config: CoreConfig) -> Self {
        Core {
            conns: HashMap::new(),
            users: HashMap::new(),
            ids_by_name: HashMap::new(),
            names_by_id: HashMap::new(),
            next_user_id: 1,
            calls: HashMap::new(),
            next_call_id: 1,
            rooms: HashMap::new(),
            named_rooms: HashMap::new(),
            next_call_room: CALL_ROOM_BASE,
            call_room_blocks: VecDeque::new(),
            call_room_blocks_on: false,
            next_named_room: NAMED_ROOM_BASE,
            timers: BinaryHeap::new(),
            timers_compact_at: MIN_TIMERS_COMPACT,
            out: VecDeque::new(),
            business_expected: config.require_business,
            business: None,
            business_token: 0,
            business_hold: None,
            queries: HashMap::new(),
            next_query: 1,
            secret_tries: HashMap::new(),
            tokens_made: 0,
            stats: Stats::default(),
            friend_of: HashMap::new(),
            notices: Vec::new(),
            ip_rules: Vec::new(),
            drain: None,
            missed: HashMap::new(),
            now: None,
            busy_elsewhere: HashSet::new(),
            emptied_rooms: None,
            config,
        }
    }

    /// New settings while running (a reload): time-outs and rate limits
    /// apply from now on (timers already set keep their time), the secret
    /// to the next business server that links. The seed is kept.
    pub fn reconfigure(&mut self, config: CoreConfig) {
        let seed = self.config.seed;
        self.business_expected |= config.require_business;
        self.config = CoreConfig { seed, ..config };
    }

    /// Starts a drain: from now on logins and Requests are refused with
    /// [`DRAIN_CODE`]; calls vetting, ringing or in progress go on until
    /// `deadline`, when those left end with [`DRAIN_CODE`] (`FINISH` to both
    /// parties of a call in progress, `REPLY` to those of one not started)
    /// and the business server is told (`FINISH` from the server). Calling
    /// it again can only bring the deadline closer; a deadline of `now` ends
    /// the calls at once. [`Core::drained`] says when nothing is left.
    pub fn start_drain(&mut self, now: Instant, deadline: Instant) {
        let deadline = self.drain.map_or(deadline, |d| d.min(deadline)).max(now);
        tracing::info!(
            calls = self.calls.len(),
            users = self.users.len(),
            in_secs = (deadline - now).as_secs_f64(),
            "draining: no more logins nor calls"
        );
        self.drain = Some(deadline);
        self.timers.push(Reverse((deadline, Timer::Drain)));
        if deadline <= now {
            self.on_timeout(now);
        }
    }

    /// Whether a drain was started.
    pub fn draining(&self) -> bool {
        self.drain.is_some()
    }

    /// Whether a drain was started and no call is left.
    pub fn drained(&self) -> bool {
        self.drain.is_some() && self.calls.is_empty()
    }

    /// The drain's deadline: every call left ends.
    fn end_calls_for_drain(&mut self) {
        let mut ids: Vec<u64> = self.calls.keys().copied().collect();
        ids.sort_unstable();
        for call_id in ids {
            let Some(call) = self.calls.get(&call_id) else { continue };
            tracing::info!(caller = call.caller, callee = call.callee, code = DRAIN_CODE, "call: ended by the drain");
            let ending = match call.state {
                CallState::Active { .. } => {
                    let f = (FINISH, DRAIN_CODE);
                    Ending::new(Some(f), Some(f), (FINISH, 0, DRAIN_CODE))
                }
                // Not answered: the call record says the server was not available.
                CallState::Ringing { .. } => {
                    let r = (REPLY, DRAIN_CODE);
                    Ending::new(Some(r), Some(r), (FINISH, 0, DRAIN_CODE)).why(Outcome::Unavailable, EndedBy::Server)
                }
                // The callee never heard of it.
                CallState::Vetting => Ending::new(Some((REPLY, DRAIN_CODE)), None, (FINISH, 0, DRAIN_CODE))
                    .why(Outcome::Unavailable, EndedBy::Server),
            };
            self.end_call(call_id, ending);
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// `BRAC_QueryInfoFromServer`: a user's id by name (a DWORD, little
    /// endian; a name logged in here since the start, or kept by the call
    /// records), a user's name by id (NUL-terminated; online or kept), the
    /// number of users online (a DWORD). Unknown user: 205; other queries:
    /// 20.
    fn query(&self, info: u32, input: &[u8]) -> (u32, Vec<u8>) {
        let text = input.split(|b| *b == 0).next().unwrap_or_default();
        match info {
            ANYCHAT_SERVERQUERY_USERIDBYNAME => {
                let online = self.users.iter().find(|(_, u)| u.name == text).map(|(id, _)| *id);
                match online.or_else(|| self.ids_by_name.get(text).copied()) {
                    Some(id) => (0, id.to_le_bytes().to_vec()),
                    None => (GV_ERR_INVALID_USERID, Vec::new()),
                }
            }
            ANYCHAT_SERVERQUERY_NAMEBYUSERID => {
                let Ok(raw) = <[u8; 4]>::try_from(input.get(..4).unwrap_or_default()) else {
                    return (GV_ERR_FUNCOPTERROR, Vec::new());
                };
                let id = u32::from_le_bytes(raw);
                let name = self.users.get(&id).map(|u| u.name.clone()).or_else(|| self.names_by_id.get(&id).cloned());
                match name {
                    Some(mut name) => {
                        name.push(0);
                        (0, name)
                    }
                    None => (GV_ERR_INVALID_USERID, Vec::new()),
                }
            }
            ANYCHAT_SERVERQUERY_ONLINEUSERS => (0, (self.users.len() as u32).to_le_bytes().to_vec()),
            _ => (GV_ERR_FUNCNOTALLOW, Vec::new()),
        }
    }

    /// Number of users logged in.
    pub fn online_users(&self) -> usize {
        self.users.len()
    }

    /// Gives back memory of tables much larger than their content (after a
    /// load peak); true when something was shrunk.
    pub fn shrink(&mut self) -> bool {
        fn big<K, V>(m: &HashMap<K, V>) -> bool {
            m.capacity() > 1024 && m.len() * 4 < m.capacity()
        }
        let shrink =
            big(&self.conns) || big(&self.users) || big(&self.calls) || big(&self.rooms) || big(&self.friend_of);
        if shrink {
            self.conns.shrink_to_fit();
            self.users.shrink_to_fit();
            self.calls.shrink_to_fit();
            self.rooms.shrink_to_fit();
            self.friend_of.shrink_to_fit();
            self.timers_compact_at = 0;
            self.compact_timers();
        }
        // The output queue is drained every loop iteration; after a burst
        // it keeps its peak capacity until here.
        let out_big = self.out.capacity() > 4096 && self.out.is_empty();
        if out_big {
            self.out = VecDeque::new();
        }
        shrink || out_big
    }

    /// What the core counted.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Until when the loop must not read (decode) more messages of `conn`
    /// (`None`: read on): it is over its rate, or its login waits for the
    /// business server's answer (what it sent after the Login is then
    /// served once it is logged in, in order; [`Output::Resume`] comes when
    /// the answer does).
    pub fn read_pause(&self, conn: ConnId, now: Instant) -> Option<Instant> {
        let c = self.conns.get(&conn)?;
        match c.state {
            ConnState::Business | ConnState::Peer => None,
            ConnState::Ready { login: Some(_) } => Some(now + self.config.business_timeout),
            _ => c.buckets.ready_at(now, &self.config.rate_limits),
        }
    }

    /// The longest frame `conn` may send in its state: small before `Hello`
    /// and before login, so that nobody holds memory without logging in.
    pub fn frame_limit(&self, conn: ConnId) -> usize {
        match self.conns.get(&conn).map(|c| &c.state) {
            Some(ConnState::AwaitHello) | None => MAX_FRAME_BEFORE_HELLO,
            Some(ConnState::Ready { .. }) => MAX_FRAME_BEFORE_LOGIN,
            Some(ConnState::LoggedIn(_) | ConnState::Business | ConnState::Peer) => {
                crate::wire::protocol::MAX_FRAME_LEN
            }
        }
    }

    /// Entries in the timer heap (live and not yet dropped), for tests.
    pub fn timers_pending(&self) -> usize {
        self.timers.len()
    }

    /// Number of calls vetting, ringing or in progress.
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }

    /// Whether a business server is linked.
    pub fn business_linked(&self) -> bool {
        self.business.is_some()
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether the connection is open as far as the core knows (not closed
    /// by it, not reported closed).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Whether [`Core::poll_output`] has something.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// When [`Core::on_timeout`] should be called next (it may be early).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// A new transport connection was accepted, on the client listener or
    /// (`business_port`) on the business listener; `ip` is the peer's address.
    pub fn on_connect(&mut self, now: Instant, conn: ConnId, business_port: bool, ip: String) {
        self.now = Some(now);
        let buckets = Buckets::new(now, &self.config.rate_limits);
        self.conns
            .insert(conn, Conn { state: ConnState::AwaitHello, last_rx: now, buckets, business_port, ip, caps: 0 });
        self.timers.push(Reverse((now + self.config.keepalive_timeout, Timer::Keepalive(conn))));
        self.timers.push(Reverse((now + self.config.login_timeout, Timer::Login(conn))));
    }

    /// The transport connection closed or failed (a lost connection).
    pub fn on_closed(&mut self, now: Instant, conn: ConnId) {
        self.now = Some(now);
        if let Some(c) = self.conns.remove(&conn) {
            self.forget_conn(now, conn, c.state, Departure::Lost, GV_ERR_CONNECT_ABORT);
        }
    }

    /// Time passed: fires the ring, keep-alive and question timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Keepalive(conn) => {
                    let Some(c) = self.conns.get(&conn) else { continue };
                    let due = c.last_rx + self.config.keepalive_timeout;
                    if c.state == ConnState::Peer {
                        continue;
                    }
                    if due <= now {
                        tracing::info!(conn = %conn, "keep-alive timeout");
                        self.close(now, conn, CloseReason::KeepaliveTimeout);
                    } else {
                        self.timers.push(Reverse((due, Timer::Keepalive(conn))));
                    }
                }
                Timer::Ring(call_id) => {
                    let Some(call) = self.calls.get(&call_id) else { continue };
                    if let CallState::Ringing { deadline } = call.state {
                        if deadline <= now {
                            tracing::info!(caller = call.caller, callee = call.callee, "call: ring timeout");
                            let t = (REPLY, AC_ERROR_VIDEOCALL_TIMEOUT);
                            let ending = Ending::new(Some(t), Some(t), (FINISH, 0, t.1));
                            self.end_call(call_id, ending.why(Outcome::Timeout, EndedBy::Server));
                        }
                    }
                }
                Timer::Query(q) => {
                    if self.queries.contains_key(&q) {
                        tracing::warn!(query = q, "business server did not answer in time");
                        self.answer_query(now, q, None);
                    }
                }
                Timer::Login(conn) => match self.conns.get(&conn).map(|c| &c.state) {
                    Some(ConnState::AwaitHello | ConnState::Ready { login: None }) => {
                        tracing::info!(conn = %conn, "not logged in within the login time-out");
                        self.stats.login_timeouts += 1;
                        self.close(now, conn, CloseReason::LoginTimeout);
                    }
                    // The business server is being asked: it answers or
                    // times out, and the deadline is checked again then.
                    Some(ConnState::Ready { login: Some(_) }) => {
                        self.timers.push(Reverse((now + self.config.business_timeout, Timer::Login(conn))));
                    }
                    _ => {}
                },
                Timer::KeyFrame(uid) => {
                    if self.users.get(&uid).is_some_and(|u| u.key_frame_due) {
                        self.request_key_frame(now, uid);
                    }
                }
                Timer::UserData => self.send_notices(),
                Timer::Drain => {
                    if self.drain.is_some_and(|d| d <= now) {
                        self.end_calls_for_drain();
                    }
                }
            }
        }
    }

    /// A message arrived on a connection.
    pub fn on_message(&mut self, now: Instant, conn: ConnId, msg: ClientMsg) {
        self.now = Some(now);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.last_rx = now;
        if c.state == ConnState::Peer {
            return;
        }
        if c.state != ConnState::Business {
            let class = Class::of(&msg);
            // What a message makes the server send is counted where it is
            // sent (text, rooms); buffers and media count what was received.
            let bytes = match &msg {
                ClientMsg::TransBuffer { data, .. } | ClientMsg::Media { data, .. } => data.len(),
                _ => 0,
            };
            if c.buckets.charge(now, &self.config.rate_limits, class, 1.0, bytes as f64) {
                self.over_rate(now, conn, class);
                if !self.conns.contains_key(&conn) {
                    return;
                }
            }
        }
        let Some(c) = self.conns.get(&conn) else { return };
        match (&c.state, msg) {
            (ConnState::Peer, _) => {}
            (ConnState::AwaitHello, ClientMsg::Hello { version, role, secret, token }) => {
                self.hello(now, conn, version, role, secret, token);
            }
            (ConnState::AwaitHello, _) => {
                self.close(now, conn, CloseReason::ProtocolViolation("message before hello"));
            }
            (_, ClientMsg::Hello { .. }) => {
                self.close(now, conn, CloseReason::ProtocolViolation("second hello"));
            }
            (_, ClientMsg::Ping { seq }) => self.push(conn, ServerMsg::Pong { seq }),
            (ConnState::Ready { .. } | ConnState::LoggedIn(_), ClientMsg::Caps { caps }) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.caps = caps;
                }
            }
            (ConnState::LoggedIn(_), ClientMsg::Query { id, info, input }) => {
                let (code, output) = self.query(info, &input);
                self.push(conn, ServerMsg::QueryResult { id, code, output });
            }
            (ConnState::Ready { .. }, ClientMsg::Query { id, .. }) => {
                self.push(conn, ServerMsg::QueryResult { id, code: GV_ERR_NOTLOGIN, output: Vec::new() });
            }
            (ConnState::Business, msg) => self.business_message(now, msg),
            (ConnState::Ready { login: None }, ClientMsg::Login { name, password, .. }) => {
                self.ask_login(now, conn, LoginAsk { name, app_id: 0, nick: Vec::new() }, password);
            }
            (ConnState::Ready { login: None }, ClientMsg::LoginEx { name, password, user_id, nick }) => {
                self.ask_login(now, conn, LoginAsk { name, app_id: user_id, nick }, password);
            }
            (ConnState::Ready { login: Some(_) }, ClientMsg::Login { .. } | ClientMsg::LoginEx { .. }) => {
                tracing::debug!(conn = %conn, "ignored: login already being verified");
            }
            (ConnState::LoggedIn(uid), ClientMsg::Login { .. } | ClientMsg::LoginEx { .. }) => {
                let uid = *uid;
                let (name, level, nick) =
                    self.users.get(&uid).map(|u| (u.name.clone(), u.level, u.nick.clone())).unwrap_or_default();
                let code = GV_ERR_ALREADY_LOGIN;
                let address = Vec::new();
                self.push(conn, ServerMsg::LoginResult { user_id: uid, code, name, level, nick, address });
            }
            (ConnState::Ready { .. }, ClientMsg::Logout) => {
                self.close(now, conn, CloseReason::Logout);
            }
            (ConnState::Ready { .. }, other) => {
                tracing::debug!(conn = %conn, ?other, "ignored: not logged in");
            }
            (ConnState::LoggedIn(uid), msg) => {
                let uid = *uid;
                self.user_message(now, conn, uid, msg);
            }
        }
    }

    fn hello(&mut self, now: Instant, conn: ConnId, version: u16, role: u8, secret: Vec<u8>, token: u64) {
        let Some(c) = self.conns.get(&conn) else { return };
        let business_port = c.business_port;
        let wanted = if business_port { Role::Business } else { Role::Client };
        let refusal = if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) || role != wanted as u8 {
            tracing::info!(conn = %conn, version, role, "handshake refused: version or role");
            Some(GV_ERR_CONNECT_OLDVERSION)
        } else if business_port {
            let ip = c.ip.clone();
            self.business_refusal(now, conn, &ip, &secret, token)
        } else if self.ip_blocked(&c.ip) {
            tracing::info!(conn = %conn, ip = %c.ip, "connection refused: its address is blocked");
            self.stats.ip_refusals += 1;
            Some(GV_ERR_IPADDR_LOCK)
        } else {
            None
        };
        if let Some(code) = refusal {
            self.push(conn, ServerMsg::Refused { code });
            self.close(now, conn, CloseReason::Handshake);
            return;
        }
        let keepalive_ms = self.config.keepalive_timeout.as_millis().min(u32::MAX as u128) as u32;
        if !business_port {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Ready { login: None };
            }
            self.push(conn, ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token: 0 });
            return;
        }
        tracing::info!(conn = %conn, "business server linked");
        self.tokens_made += 1;
        let token = splitmix64(self.config.seed ^ self.tokens_made.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.push(conn, ServerMsg::Welcome { version: PROTOCOL_VERSION, keepalive_ms, token });
        self.business_linked_on(conn, token);
    }

    /// `conn` is the business server's link now (with reconnect token
    /// `token`): it learns the calls in progress, so that it can end them,
    /// and gets the questions that waited for it.
    fn business_linked_on(&mut self, conn: ConnId, token: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Business;
        }
        self.business = Some(conn);
        self.business_expected = true;
        self.business_hold = None;
        self.business_token = token;
        let mut active: Vec<(u32, u32, u32, u32)> = self
            .calls
            .values()
            .filter_map(|c| match c.state {
                CallState::Active { room } => Some((c.caller, c.callee, c.flags, room)),
                _ => None,
            })
            .collect();
        active.sort_unstable();
        for (a, b, flags, room) in active {
            self.note(START, a, b, 0, flags, room, &[]);
        }
        let mut waiting: Vec<u32> = self.queries.keys().copied().collect();
        waiting.sort_unstable_by_key(|q| q.wrapping_sub(self.next_query));
        for q in waiting {
            let msg = self.queries[&q].1.clone();
            self.push(conn, msg);
        }
    }

    /// Why a business server's handshake is refused, if it is: too many
    /// wrong secrets from its address (203), a wrong secret (102, compared
    /// in constant time), another business server linked (201), or the slot
    /// held for the one whose link was just lost (201, unless `token` is its).
    fn business_refusal(&mut self, now: Instant, conn: ConnId, ip: &str, secret: &[u8], token: u64) -> Option<u32> {
        if let Some(want) = &self.config.business_secret {
            if self.secret_tries.len() >= MAX_SECRET_SOURCES {
                self.secret_tries.retain(|_, a| !a.is_full(now, SECRET_TRIES));
            }
            if self.secret_tries.len() >= MAX_SECRET_SOURCES && !self.secret_tries.contains_key(ip) {
                // Memory stays bounded: past that many sources trying at
                // once, the tries counted so far are forgotten.
                self.secret_tries.clear();
            }
            let tries = self.secret_tries.entry(ip.to_string()).or_insert_with(|| Attempts::new(now, SECRET_TRIES));
            if !tries.allowed(now, SECRET_TRIES) {
                tracing::warn!(conn = %conn, ip, "business server refused: too many wrong secrets from its address");
                self.stats.secret_refusals += 1;
                return Some(GV_ERR_IPADDR_LOCK);
            }
            if !bool::from(subtle::ConstantTimeEq::ct_eq(want.as_slice(), secret)) {
                tries.failed(now, SECRET_TRIES);
                tracing::warn!(conn = %conn, ip, "business server refused: wrong secret");
                self.stats.secret_refusals += 1;
                return Some(GV_ERR_CONNECT_AUTHFAIL);
            }
        }
        if self.business.is_some() {
            tracing::warn!(conn = %conn, "business server refused: another one is already linked");
            return Some(GV_ERR_ALREADY_LOGIN);
        }
        match self.business_hold {
            Some((held, until)) if now < until && token != held => {
                tracing::warn!(conn = %conn, "business server refused: the slot is held for the one that was linked");
                Some(GV_ERR_ALREADY_LOGIN)
            }
            _ => None,
        }
    }

    fn user_message(&mut self, now: Instant, conn: ConnId, uid: u32, msg: ClientMsg) {
        match msg {
            ClientMsg::Logout => {
                tracing::info!(user = uid, "logout");
                if let Some(c) = self.conns.remove(&conn) {
                    self.forget_conn(now, conn, c.state, Departure::Logout, 0);
                }
                self.out.push_back(Output::Close(conn, CloseReason::Logout));
            }
            ClientMsg::EnterRoom { room_id, password } => self.ask_enter(now, uid, room_id, Vec::new(), password),
            ClientMsg::EnterRoomByName { name, password } => {
                let room_id = match self.named_rooms.get(&name) {
                    Some(id) => *id,
                    None => {
                        let id = self.alloc_room_id(NAMED_ROOM_BASE, CALL_ROOM_BASE, false);
                        self.rooms.insert(id, Room { name: Some(name.clone()), ..Room::default() });
                        self.named_rooms.insert(name.clone(), id);
                        id
                    }
                };
                self.ask_enter(now, uid, room_id, name, password);
            }
            ClientMsg::LeaveRoom { room_id } => {
                let current = self.users.get(&uid).and_then(|u| u.room);
                if let Some(r) = current {
                    if room_id == ANY_ROOM || room_id == r {
                        self.charge_room(now, uid, r);
                        self.leave_room(uid);
                    }
                }
            }
            ClientMsg::VideoCall(ev) => self.video_call(now, uid, ev),
            ClientMsg::Text { to, secret, text } => self.text(now, uid, to, secret, text),
            ClientMsg::TransBuffer { to: 0, data, .. } => {
                self.send_business(ServerMsg::BizTransBuffer { user_id: uid, data });
            }
            ClientMsg::TransBuffer { to, ex, wparam, lparam, task_id, data } => {
                // Only between users who can see each other: the same room,
                // or the two parties of a call.
                if self.can_see(uid, to) {
                    self.send_user(to, ServerMsg::TransBuffer { from: uid, ex, wparam, lparam, task_id, data });
                } else {
                    tracing::debug!(user = uid, to, "buffer to a user it cannot see: dropped");
                }
            }
            ClientMsg::Device { kind, open } => self.device(uid, kind, open),
            ClientMsg::Subscribe { user_id, kind, on } => self.subscribe(now, uid, user_id, kind, on),
            ClientMsg::Media { header, data } => self.media(uid, header, data),
            other => tracing::debug!(user = uid, ?other, "ignored: not a client's message"),
        }
    }

    /// `uid` asks for (or stops) `of`'s video or audio: only a user it can
    /// see (same room, or its call peer).
    fn subscribe(&mut self, now: Instant, uid: u32, of: u32, kind: u8, on: bool) {
        if uid == of || (kind != MEDIA_VIDEO && kind != MEDIA_AUDIO) {
            return;
        }
        if on && !self.can_see(uid, of) {
            tracing::debug!(user = uid, of, "subscription to a user it cannot see: refused");
            self.stats.subscriptions_refused += 1;
            return;
        }
        let Some(sender) = self.users.get_mut(&of) else { return };
        let subs = if kind == MEDIA_VIDEO { &mut sender.video_subs } else { &mut sender.audio_subs };
        let had = subs.contains(&uid);
        if on && !had {
            subs.push(uid);
            if let Some(me) = self.users.get_mut(&uid) {
                me.subscribed_to.push((of, kind));
            }
            // A new receiver can only start decoding at a key frame.
            if kind == MEDIA_VIDEO {
                self.request_key_frame(now, of);
            }
        } else if !on && had {
            self.unsubscribe(uid, of, kind);
        }
    }

    /// Removes `uid`'s subscription to `of`'s `kind` stream (both lists).
    fn unsubscribe(&mut self, uid: u32, of: u32, kind: u8) {
        if let Some(sender) = self.users.get_mut(&of) {
            let subs = if kind == MEDIA_VIDEO { &mut sender.video_subs } else { &mut sender.audio_subs };
            subs.retain(|s| *s != uid);
        }
        if let Some(me) = self.users.get_mut(&uid) {
            me.subscribed_to.retain(|s| *s != (of, kind));
        }
    }

    /// Asks `uid` for a key frame now, or when [`KEY_FRAME_INTERVAL`] has
    /// passed since the last request.
    fn request_key_frame(&mut self, now: Instant, uid: u32) {
        let Some(user) = self.users.get_mut(&uid) else { return };
        match user.key_frame_asked {
            Some(at) if now < at + KEY_FRAME_INTERVAL => {
                if !user.key_frame_due {
                    user.key_frame_due = true;
                    self.timers.push(Reverse((at + KEY_FRAME_INTERVAL, Timer::KeyFrame(uid))));
                }
            }
            _ => {
                user.key_frame_asked = Some(now);
                user.key_frame_due = false;
                let conn = user.conn;
                self.push(conn, ServerMsg::NeedKeyFrame);
            }
        }
    }

    /// Whether the call between `from` and `to`, if any, lets `from`'s video
    /// (or audio) reach `to`: the FB* flags and audio-only calls.
    fn call_allows(&self, from: u32, to: u32, video: bool) -> bool {
        let Some(call) = self.users.get(&from).and_then(|u| u.call).and_then(|c| self.calls.get(&c)) else {
            return true;
        };
        if call.peer_of(from) != to {
            return true;
        }
        let f = call.flags;
        let (fb_audio, fb_video) = if call.caller == from {
            (BRAC_VIDEOCALL_FLAGS_FBSRCAUDIO, BRAC_VIDEOCALL_FLAGS_FBSRCVIDEO)
        } else {
            (BRAC_VIDEOCALL_FLAGS_FBTARAUDIO, BRAC_VIDEOCALL_FLAGS_FBTARVIDEO)
        };
        let audio_only = f & BRAC_VIDEOCALL_FLAGS_AUDIO != 0 && f & BRAC_VIDEOCALL_FLAGS_VIDEO == 0;
        if video {
            f & fb_video == 0 && !audio_only
        } else {
            f & fb_audio == 0
        }
    }

    /// A media frame from `uid`: to every user who asked for that stream,
    /// can see `uid` (same room, or its call peer) and is allowed by the
    /// call's flags — and only while `uid` has that device open. The frame
    /// is encoded once and shared; subscribers who can no longer see `uid`
    /// are dropped from its list on the way.
    fn media(&mut self, uid: u32, header: MediaHeader, data: Vec<u8>) {
        let Some(sender) = self.users.get(&uid) else { return };
        let video = header.kind == MEDIA_VIDEO;
        let open = if video { sender.camera == GV_CAMERA_STATE_OPEN } else { sender.mic == GV_AUDIO_STATE_OPEN };
        if !open {
            return;
        }
        let subs = if video { &sender.video_subs } else { &sender.audio_subs };
        let (sender_conn, sender_pcm) = (sender.conn, sender.audio_pcm);
        let opus = !video && header.codec == CODEC_OPUS;
        // A receiver of this audio that decodes no Opus (see "Audio codecs"
        // in docs/PROTOCOL.md): Opus is not sent to it, and the sender is
        // told to send PCM; once none is left, Opus again.
        let mut lacking_opus = false;
        let mut frame: Option<Arc<MediaOut>> = None;
        let mut gone = Vec::new();
        for &to in subs {
            if !self.can_see(uid, to) {
                gone.push(to);
                continue;
            }
            if !self.call_allows(uid, to, video) {
                continue;
            }
            let Some(conn) = self.users.get(&to).map(|u| u.conn) else { continue };
            if !video && self.conns.get(&conn).is_some_and(|c| c.caps & CAP_OPUS == 0) {
                lacking_opus = true;
                if opus {
                    continue;
                }
            }
            let frame = frame.get_or_insert_with(|| {
                let mut bytes = Vec::with_capacity(data.len() + 40);
                ServerMsg::encode_media(uid, &header, &data, &mut bytes);
                Arc::new(MediaOut { bytes, from: uid, video, key: header.key || !video })
            });
            self.out.push_back(Output::Media(conn, frame.clone()));
        }
        for to in gone {
            self.unsubscribe(to, uid, header.kind);
        }
        let switch = if opus && lacking_opus && !sender_pcm {
            Some(true)
        } else if !video && header.codec == 0 && sender_pcm && !lacking_opus {
            Some(false)
        } else {
            None
        };
        if let Some(pcm) = switch {
            if let Some(u) = self.users.get_mut(&uid) {
                u.audio_pcm = pcm;
            }
            self.out.push_back(Output::Send(sender_conn, ServerMsg::AudioCodec { pcm }));
        }
    }

    /// The loop dropped video frames of `from` for a slow receiver: the
    /// sender is asked for a key frame, so that the receiver can decode again.
    pub fn on_media_dropped(&mut self, now: Instant, from: u32) {
        self.request_key_frame(now, from);
    }

    /// The other party of `uid`'s call, if it has one.
    fn call_peer(&self, uid: u32) -> Option<u32> {
        let call = self.calls.get(&self.users.get(&uid)?.call?)?;
        Some(call.peer_of(uid))
    }

    /// Whether two users may exchange data: the same room, or one call.
    fn can_see(&self, a: u32, b: u32) -> bool {
        let room = |u: u32| self.users.get(&u).and_then(|u| u.room);
        a != b && ((room(a).is_some() && room(a) == room(b)) || self.call_peer(a) == Some(b))
    }

    /// A text message: to one user of the sender's room, or to all of it
    /// (`to` 0 or -1). Users in no room, or not in the same room, cannot
    /// see each other: nothing is delivered.
    fn text(&mut self, now: Instant, from: u32, to: u32, secret: bool, text: Vec<u8>) {
        let Some(room_id) = self.users.get(&from).and_then(|u| u.room) else { return };
        let Some(room) = self.rooms.get(&room_id) else { return };
        let everyone = to == 0 || to == ANY_ROOM;
        if !everyone && !room.members.contains(&to) {
            tracing::debug!(user = from, to, "text to a user outside the room: dropped");
            return;
        }
        let to = if everyone { 0 } else { to };
        let mut sent = 0;
        for &m in room.members.iter().filter(|m| **m != from && (everyone || **m == to)) {
            if let Some(u) = self.users.get(&m) {
                let msg = ServerMsg::Text { from, to, secret, text: text.clone() };
                self.out.push_back(Output::Send(u.conn, msg));
                sent += 1;
            }
        }
        self.charge_bytes(now, from, Class::Text, text.len() * sent);
        self.send_business(ServerMsg::BizText { room_id, src: from, tar: to, secret, text });
    }

    /// Counts bytes a user's message makes the server send to others
    /// against its rate.
    fn charge_bytes(&mut self, now: Instant, uid: u32, class: Class, bytes: usize) {
        let Some(conn) = self.users.get(&uid).map(|u| u.conn) else { return };
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.buckets.charge(now, &self.config.rate_limits, class, 0.0, bytes as f64) {
            self.over_rate(now, conn, class);
        }
    }

    /// A sender went over its rate: counted, and with
    /// [`RateAction::Disconnect`] closed (else the loop reads it slower).
    fn over_rate(&mut self, now: Instant, conn: ConnId, class: Class) {
        self.stats.throttled[class as usize] += 1;
        match self.config.rate_limits.action {
            RateAction::Throttle => tracing::debug!(conn = %conn, %class, "over its rate: throttled"),
            RateAction::Disconnect => {
                tracing::info!(conn = %conn, %class, "over its rate: disconnected");
                self.stats.rate_disconnects += 1;
                self.push(conn, ServerMsg::LinkClose { code: GV_ERR_CONNECT_FUNCLIMIT });
                self.close(now, conn, CloseReason::RateLimited);
            }
        }
    }

    /// A user opened or closed its own camera or microphone: its room (or,
    /// in no room, the user alone) and its call peer hear of it.
    fn device(&mut self, uid: u32, kind: u8, open: bool) {
        let Some(user) = self.users.get_mut(&uid) else { return };
        let state = match kind {
            DEVICE_CAMERA => {
                user.camera = if open { GV_CAMERA_STATE_OPEN } else { GV_CAMERA_STATE_NORMAL };
                user.camera
            }
            DEVICE_MIC => {
                user.mic = if open { GV_AUDIO_STATE_OPEN } else { GV_AUDIO_STATE_NORMAL };
                user.mic
            }
            _ => return,
        };
        let mut members = match user.room {
            Some(r) => self.rooms.get(&r).map(|r| r.members.clone()).unwrap_or_default(),
            None => vec![uid],
        };
        if let Some(peer) = self.call_peer(uid) {
            if !members.contains(&peer) {
                members.push(peer);
            }
        }
        for m in members {
            self.send_user(m, ServerMsg::Device { user_id: uid, kind, state });
        }
    }

    // ----- the business server ------------------------------------------

    /// Sends a message to the business server, if one is linked.
    fn send_business(&mut self, msg: ServerMsg) {
        if let Some(b) = self.business {
            self.out.push_back(Output::Send(b, msg));
        }
    }

    /// Puts a question to the business server; `None` when there is none
    /// to ask (none has linked since the start). While its link is down the
    /// question waits for it to come back, within the business time-out.
    fn ask(&mut self, now: Instant, query: Query, msg: impl FnOnce(u32) -> ServerMsg) -> Option<u32> {
        if self.business.is_none() && !self.business_expected {
            return None;
        }
        let q = self.next_query;
        // Ids below QUERY_IDS_END: a cluster renumbers relayed questions above.
        self.next_query = if q + 1 >= QUERY_IDS_END { 1 } else { q + 1 };
        let msg = msg(q);
        self.send_business(msg.clone());
        self.queries.insert(q, (query, msg, now));
        self.timers.push(Reverse((now + self.config.business_timeout, Timer::Query(q))));
        Some(q)
    }

    /// With `--require-business`, whether logins and calls are refused now
    /// (206): no business server linked, and none just lost (whose
    /// questions wait for it to come back).
    fn business_missing(&self, now: Instant) -> bool {
        self.config.require_business
            && self.business.is_none()
            && self.business_hold.is_none_or(|(_, until)| now >= until)
    }

    fn business_message(&mut self, now: Instant, msg: ClientMsg) {
        match msg {
            ClientMsg::BizCallVerdict { query, code } => self.answer_query(now, query, Some((code, 0, 0, Vec::new()))),
            ClientMsg::BizVerifyResult { query, code, user_id, level, nick } => {
                self.answer_query(now, query, Some((code, user_id, level, nick)))
            }
            ClientMsg::BizEnterVerdict { query, code } => self.answer_query(now, query, Some((code, 0, 0, Vec::new()))),
            ClientMsg::BizVideoCall(ev) if ev.event == FINISH => self.forced_finish(ev),
            ClientMsg::BizUserControl { user_id, ctrl, wparam, .. } if ctrl == BRAS_USERINFO_CTRLCODE_KICKOUT => {
                let Some(conn) = self.users.get(&user_id).map(|u| u.conn) else {
                    tracing::info!(user = user_id, "kick-out of a user not online: ignored");
                    return;
                };
                tracing::info!(user = user_id, "kicked out by the business server");
                let code = if wparam != 0 { wparam } else { GV_ERR_CONNECT_ABORT };
                self.push(conn, ServerMsg::LinkClose { code });
                self.close(now, conn, CloseReason::Kicked);
            }
            ClientMsg::BizSendBuf { user_id, data } => self.send_user(user_id, ServerMsg::FilterData { data }),
            ClientMsg::BizSendRoom { room_id, data } => {
                let members = self.rooms.get(&room_id).map(|r| r.members.clone()).unwrap_or_default();
                for m in members {
                    self.send_user(m, ServerMsg::FilterData { data: data.clone() });
                }
            }
            ClientMsg::BizTransBuffer { user_id, data } => {
                let msg = ServerMsg::TransBuffer { from: 0, ex: false, wparam: 0, lparam: 0, task_id: 0, data };
                self.send_user(user_id, msg);
            }
            ClientMsg::BizUserControl { user_id, ctrl, wparam, lparam, text } => {
                self.user_control(now, user_id, ctrl, wparam, lparam, text);
            }
            ClientMsg::BizSetUserInfo { user_id, info_id, value } => self.set_info(user_id, info_id, value),
            other => tracing::debug!(?other, "ignored: not a business server's message"),
        }
    }

    /// Resolves a question: `Some((code, user_id, level, nick))` is the
    /// business server's answer, `None` a time-out or a lost link (207).
    fn answer_query(&mut self, now: Instant, q: u32, answer: Option<(u32, u32, u32, Vec<u8>)>) {
        let Some((query, _, asked)) = self.queries.remove(&q) else { return };
        let code = answer.as_ref().map_or(GV_ERR_SERVERSDK_TIMEOUT, |a| a.0);
        self.journal(Journal::BusinessAnswer {
            latency: now.saturating_duration_since(asked),
            answered: answer.is_some(),
        });
        match query {
            Query::Call { call_id } => {
                let Some(call) = self.calls.get(&call_id).filter(|c| c.state == CallState::Vetting) else { return };
                if code == 0 {
                    self.ring(now, call_id);
                    return;
                }
                tracing::info!(
                    caller = call.caller,
                    callee = call.callee,
                    code,
                    "call: refused by the business server"
                );
                // The business server knows its own refusal; a time-out it is told.
                let (note, outcome) = match answer {
                    Some(_) => (None, Outcome::Vetoed),
                    None => (Some((FINISH, 0, code)), Outcome::Unavailable),
                };
                let ending = Ending { note, ..Ending::new(Some((REPLY, code)), None, (0, 0, 0)) };
                self.end_call(call_id, ending.why(outcome, EndedBy::Business));
            }
            Query::Login { conn, ask } => {
                let Some(c) = self.conns.get_mut(&conn) else { return };
                if c.state != (ConnState::Ready { login: Some(q) }) {
                    return;
                }
                c.state = ConnState::Ready { login: None };
                // What the client sent after its Login waited for this.
                self.out.push_back(Output::Resume(conn));
                match answer {
                    Some((0, user_id, level, nick)) => {
                        // Only the business server's answer grants an id: 0
                        // gives the id kept for the name, never the claimed one.
                        let nick = if nick.is_empty() { ask.nick.clone() } else { nick };
                        self.login(now, conn, LoginAsk { app_id: user_id, nick, ..ask }, level);
                    }
                    _ => {
                        tracing::info!(conn = %conn, code, "login refused by the business server");
                        self.refuse_login(conn, ask.name, code);
                    }
                }
            }
            Query::Enter { uid, room_id } => {
                if !self.users.contains_key(&uid) {
                    return;
                }
                if code == 0 {
                    self.enter_room(uid, room_id);
                } else {
                    tracing::info!(user = uid, room = room_id, code, "enter room refused by the business server");
                    self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code });
                    self.drop_room_if_empty(room_id);
                }
            }
        }
    }

    /// The business server went away. Its questions wait for a business
    /// server to link again (each gets 207 at its time-out), and for the
    /// business time-out only the one that was linked (presenting its token)
    /// may take the slot back.
    fn business_gone(&mut self, now: Instant) {
        tracing::warn!(waiting = self.queries.len(), "business server link lost; questions wait for it to come back");
        self.business = None;
        self.business_hold = Some((self.business_token, now + self.config.business_timeout));
    }

    /// `BRAS_VideoCallControl(FINISH, user, code, …)`.
    fn forced_finish(&mut self, ev: CallEvent) {
        let Some(call_id) = self.users.get(&ev.user_id).and_then(|u| u.call) else {
            tracing::info!(user = ev.user_id, "forced finish of a user not in a call: ignored");
            return;
        };
        let Some(call) = self.calls.get(&call_id) else { return };
        tracing::info!(
            caller = call.caller,
            callee = call.callee,
            code = ev.error_code,
            "call: finished by the business server"
        );
        let ending = match call.state {
            CallState::Active { .. } => {
                let f = (FINISH, ev.error_code);
                Ending::new(Some(f), Some(f), (FINISH, 0, ev.error_code)).why(Outcome::Answered, EndedBy::Business)
            }
            CallState::Ringing { .. } | CallState::Vetting => {
                let code = if ev.error_code != 0 { ev.error_code } else { AC_ERROR_VIDEOCALL_CANCEL };
                let callee = (call.state != CallState::Vetting).then_some((REPLY, code));
                Ending::new(Some((REPLY, code)), callee, (FINISH, 0, code)).why(Outcome::Vetoed, EndedBy::Business)
            }
        };
        self.end_call(call_id, ending.carrying(ev.param, &ev.user_str));
    }

    // ----- sessions ---------------------------------------------------------

    fn refuse_login(&mut self, conn: ConnId, name: Vec<u8>, code: u32) {
        let (nick, address) = (Vec::new(), Vec::new());
        self.push(conn, ServerMsg::LoginResult { user_id: 0, code, name, level: 0, nick, address });
    }

    fn ask_login(&mut self, now: Instant, conn: ConnId, ask: LoginAsk, password: Vec<u8>) {
        if ask.name.is_empty() || ask.name.len() > MAX_USER_NAME || ask.nick.len() > MAX_USER_NAME {
            self.refuse_login(conn, ask.name, GV_ERR_CERTIFY_FAIL);
            return;
        }
        if self.drain.is_some() {
            tracing::info!(conn = %conn, "login refused: draining");
            self.refuse_login(conn, ask.name, DRAIN_CODE);
            return;
        }
        if self.business_missing(now) {
            tracing::info!(conn = %conn, "login refused: no business server linked");
            self.refuse_login(conn, ask.name, GV_ERR_SERVERSDK_FAIL);
            return;
        }
        if self.conns.get(&conn).is_some_and(|c| self.ip_blocked(&c.ip)) {
            tracing::info!(conn = %conn, "login refused: its address is blocked");
            self.stats.ip_refusals += 1;
            self.refuse_login(conn, ask.name, GV_ERR_IPADDR_LOCK);
            return;
        }
        let ip = self.conns.get(&conn).map(|c| c.ip.clone().into_bytes()).unwrap_or_default();
        let (name, user_id) = (ask.name.clone(), ask.app_id);
        let query = Query::Login { conn, ask: ask.clone() };
        let asked = self.ask(now, query, |query| ServerMsg::BizAskVerify { query, name, password, ip, user_id });
        match asked {
            Some(q) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = ConnState::Ready { login: Some(q) };
                }
            }
            None if self.held_by_another(ask.app_id, &ask.name) => {
                // Without a business server a claimed id never takes over
                // another user's session (a name does: newest wins).
                tracing::warn!(conn = %conn, user = ask.app_id, "login refused: the id claimed is another user's");
                self.stats.id_claims_refused += 1;
                self.refuse_login(conn, ask.name, GV_ERR_ALREADY_LOGIN);
            }
            None => self.login(now, conn, ask, 0),
        }
    }

    /// Whether user `id` is online under another name than `name`.
    fn held_by_another(&self, id: u32, name: &[u8]) -> bool {
        self.users.get(&id).is_some_and(|u| u.name != name)
    }

    /// Logs the connection in as `ask.name`, with the id given by the
    /// business server or `BRAC_LoginEx` (`ask.app_id`), or else the id kept
    /// for that name.
    fn login(&mut self, now: Instant, conn: ConnId, ask: LoginAsk, level: u32) {
        let LoginAsk { name, app_id: given_id, nick } = ask;
        let nick = if nick.is_empty() { name.clone() } else { nick };
        let kept = self.ids_by_name.get(&name).copied().filter(|id| !self.held_by_another(*id, &name));
        let uid = if given_id != 0 && given_id != u32::MAX {
            given_id
        } else if let Some(id) = kept {
            id
        } else {
            // Skip ids a business server handed out to users online now.
            let mut id = self.next_user_id;
            while self.users.contains_key(&id) {
                id = id.checked_add(1).filter(|n| *n < u32::MAX).unwrap_or(1);
            }
            self.next_user_id = id.checked_add(1).filter(|n| *n < u32::MAX).unwrap_or(1);
            self.keep_id(name.clone(), id);
            self.journal(Journal::UserId { name: name.clone(), id });
            id
        };
        if let Some(old) = self.users.get(&uid).map(|u| u.conn) {
            tracing::info!(user = uid, old_conn = %old, new_conn = %conn, "login elsewhere: closing old session");
            self.push(old, ServerMsg::LinkClose { code: GV_ERR_LOGIN_NEWLOGIN });
            self.close(now, old, CloseReason::LoggedInElsewhere);
        }
        self.users.insert(uid, User::new(name.clone(), nick.clone(), level, conn, now));
        let ip = match self.conns.get_mut(&conn) {
            Some(c) => {
                c.state = ConnState::LoggedIn(uid);
                c.ip.clone().into_bytes()
            }
            None => Vec::new(),
        };
        tracing::info!(user = uid, name = %String::from_utf8_lossy(&name), conn = %conn, "login");
        let address = ip.clone();
        self.push(conn, ServerMsg::LoginResult { user_id: uid, code: 0, name: name.clone(), level, nick, address });
        self.send_business(ServerMsg::BizUserLogin { user_id: uid, name, level, ip });
        self.friend_status(uid, true);
        self.show_missed(uid);
    }

    /// Forgets the connection (and its user's session) and asks the loop to
    /// close it after flushing what is queued.
    fn close(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        if let Some(c) = self.conns.remove(&conn) {
            tracing::info!(conn = %conn, ?reason, "disconnect");
            let code = match reason {
                CloseReason::LoggedInElsewhere => GV_ERR_LOGIN_NEWLOGIN,
                _ => GV_ERR_CONNECT_ABORT,
            };
            self.forget_conn(now, conn, c.state, Departure::Lost, code);
            self.out.push_back(Output::Close(conn, reason));
        }
    }

    /// What a connection leaves behind when it goes: its user's session, or
    /// the business server's link.
    fn forget_conn(&mut self, now: Instant, conn: ConnId, state: ConnState, how: Departure, code: u32) {
        match state {
            ConnState::LoggedIn(uid) => {
                tracing::info!(user = uid, conn = %conn, ?how, "session ended");
                self.drop_user(uid, how);
                self.send_business(ServerMsg::BizUserLogout { user_id: uid, code });
            }
            ConnState::Business if self.business == Some(conn) => self.business_gone(now),
            _ => tracing::debug!(conn = %conn, "connection closed before login"),
        }
    }

    /// Ends a user's session: its call, its room, its presence, its
    /// subscriptions both ways.
    fn drop_user(&mut self, uid: u32, how: Departure) {
        let Some(user) = self.users.get(&uid) else { return };
        if let Some(call_id) = user.call {
            self.depart_call(uid, call_id, how);
        }
        self.leave_room(uid);
        let Some(user) = self.users.remove(&uid) else { return };
        for (of, kind) in user.subscribed_to {
            if let Some(sender) = self.users.get_mut(&of) {
                let subs = if kind == MEDIA_VIDEO { &mut sender.video_subs } else { &mut sender.audio_subs };
                subs.retain(|s| *s != uid);
            }
        }
        for (subs, kind) in [(user.video_subs, MEDIA_VIDEO), (user.audio_subs, MEDIA_AUDIO)] {
            for s in subs {
                if let Some(sub) = self.users.get_mut(&s) {
                    sub.subscribed_to.retain(|x| *x != (uid, kind));
                }
            }
        }
        self.user_data_gone(uid, user.profile, !user.remote);
    }

    fn depart_call(&mut self, uid: u32, call_id: u64, how: Departure) {
        let Some(call) = self.calls.get(&call_id) else { return };
        let is_caller = call.caller == uid;
        let lost = AC_ERROR_VIDEOCALL_DISCONNECT;
        let by = if is_caller { EndedBy::Caller } else { EndedBy::Callee };
        let outcome = match (call.state, how, is_caller) {
            (CallState::Active { .. }, _, _) => Outcome::Answered,
            (CallState::Vetting, _, false) => Outcome::Offline,
            (_, Departure::Lost, _) => Outcome::Lost,
            (_, Departure::Logout, true) => Outcome::Cancelled,
            (_, Departure::Logout, false) => Outcome::Refused,
        };
        let ending = match (call.state, how, is_caller) {
            // The callee never heard of a call still being vetted.
            (CallState::Vetting, Departure::Lost, true) => Ending::new(None, None, (FINISH, 0, lost)),
            (CallState::Vetting, Departure::Logout, true) => {
                Ending::new(None, None, (REPLY, uid, AC_ERROR_VIDEOCALL_CANCEL))
            }
            (CallState::Vetting, _, false) => {
                let offline = AC_ERROR_VIDEOCALL_OFFLINE;
                Ending::new(Some((REPLY, offline)), None, (FINISH, 0, offline))
            }
            (CallState::Ringing { .. }, Departure::Lost, _) => {
                let r = Some((REPLY, lost));
                if is_caller {
                    Ending::new(None, r, (FINISH, 0, lost))
                } else {
                    Ending::new(r, None, (FINISH, 0, lost))
                }
            }
            (CallState::Ringing { .. }, Departure::Logout, true) => {
                Ending::new(None, Some((REPLY, AC_ERROR_VIDEOCALL_CANCEL)), (REPLY, uid, AC_ERROR_VIDEOCALL_CANCEL))
            }
            (CallState::Ringing { .. }, Departure::Logout, false) => {
                Ending::new(Some((REPLY, AC_ERROR_VIDEOCALL_REJECT)), None, (REPLY, uid, AC_ERROR_VIDEOCALL_REJECT))
            }
            (CallState::Active { .. }, Departure::Lost, _) => {
                let f = Some((FINISH, lost));
                if is_caller {
                    Ending::new(None, f, (FINISH, 0, lost))
                } else {
                    Ending::new(f, None, (FINISH, 0, lost))
                }
            }
            // As if the user had sent Finish(0): both parties are told.
            (CallState::Active { .. }, Departure::Logout, _) => {
                Ending::new(Some((FINISH, 0)), Some((FINISH, 0)), (FINISH, uid, 0))
            }
        };
        tracing::info!(user = uid, ?how, "call ended by departure");
        self.end_call(call_id, ending.why(outcome, by));
    }

    // ----- video calls ------------------------------------------------------

    fn video_call(&mut self, now: Instant, uid: u32, ev: CallEvent) {
        match ev.event {
            REQUEST => self.call_request(now, uid, ev),
            REPLY => self.call_reply(uid, ev),
            FINISH => self.call_finish(uid, ev),
            other => tracing::debug!(user = uid, event = other, "ignored: event a client may not send"),
        }
    }

    fn call_request(&mut self, now: Instant, a: u32, ev: CallEvent) {
        let b = ev.user_id;
        if b == a {
            tracing::debug!(user = a, "ignored: request to itself");
            return;
        }
        let busy_self = self.users.get(&a).is_some_and(|u| u.call.is_some()) || self.busy_elsewhere.contains(&a);
        let (code, outcome, by) = if self.drain.is_some() {
            (DRAIN_CODE, Outcome::Unavailable, EndedBy::Server)
        } else if busy_self {
            (AC_ERROR_VIDEOCALL_BUSY, Outcome::Busy, EndedBy::Caller)
        } else if self.business_missing(now) {
            (GV_ERR_SERVERSDK_FAIL, Outcome::Unavailable, EndedBy::Server)
        } else {
            match self.users.get(&b) {
                None => (AC_ERROR_VIDEOCALL_OFFLINE, Outcome::Offline, EndedBy::Server),
                Some(u) if u.call.is_some() || self.busy_elsewhere.contains(&b) => {
                    (AC_ERROR_VIDEOCALL_BUSY, Outcome::Busy, EndedBy::Server)
                }
                Some(_) => (0, Outcome::Answered, EndedBy::Server),
            }
        };
        let call_id = self.next_call_id;
        self.next_call_id += 1;
        if code != 0 {
            tracing::info!(caller = a, callee = b, code, "call: request refused");
            self.send_call(a, b, REPLY, code, ev.flags, 0, &[]);
            let call = Call {
                caller: a,
                callee: b,
                flags: ev.flags,
                param: ev.param,
                user_str: Vec::new(),
                state: CallState::Vetting,
                requested: now,
                started: None,
            };
            self.record_call(call_id, &call, outcome, by, code);
            return;
        }
        let call = Call {
            caller: a,
            callee: b,
            flags: ev.flags,
            param: ev.param,
            user_str: ev.user_str.clone(),
            state: CallState::Vetting,
            requested: now,
            started: None,
        };
        self.calls.insert(call_id, call);
        for u in [a, b] {
            if let Some(user) = self.users.get_mut(&u) {
                user.call = Some(call_id);
            }
        }
        let (flags, param, user_str) = (ev.flags, ev.param, ev.user_str);
        let ask = |query| ServerMsg::BizAskCall { query, src: a, tar: b, flags, param, user_str };
        if self.ask(now, Query::Call { call_id }, ask).is_some() {
            tracing::info!(caller = a, callee = b, flags, "call: request, asking the business server");
        } else {
            self.ring(now, call_id);
        }
    }

    /// Timers are checked lazily when they fire, so a ring timer stays in the
    /// heap after its call was answered. When the heap holds four times more
    /// entries than there were live ones at the last clean-up, the dead ones
    /// (answered calls, closed connections, answered questions) are dropped:
    /// memory stays proportional to what is going on, at any call rate.
    fn compact_timers(&mut self) {
        if self.timers.len() <= self.timers_compact_at {
            return;
        }
        let (calls, conns, queries) = (&self.calls, &self.conns, &self.queries);
        let (users, notices) = (&self.users, &self.notices);
        self.timers.retain(|Reverse((_, t))| match t {
            Timer::Keepalive(c) | Timer::Login(c) => conns.contains_key(c),
            Timer::KeyFrame(u) => users.get(u).is_some_and(|u| u.key_frame_due),
            Timer::Ring(id) => calls.get(id).is_some_and(|c| matches!(c.state, CallState::Ringing { .. })),
            Timer::Query(q) => queries.contains_key(q),
            Timer::UserData => !notices.is_empty(),
            Timer::Drain => true,
        });
        self.timers.shrink_to(self.timers.len() * 2);
        self.timers_compact_at = (self.timers.len() * 4).max(MIN_TIMERS_COMPACT);
    }

    /// The Request goes through: the callee rings.
    fn ring(&mut self, now: Instant, call_id: u64) {
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        let deadline = now + self.config.ring_timeout;
        call.state = CallState::Ringing { deadline };
        let (a, b, flags, param) = (call.caller, call.callee, call.flags, call.param);
        let user_str = std::mem::take(&mut call.user_str);
        self.timers.push(Reverse((deadline, Timer::Ring(call_id))));
        self.compact_timers();
        tracing::info!(caller = a, callee = b, flags, "call: request, ringing");
        self.send_call(b, a, REQUEST, 0, flags, param, &user_str);
        self.send_call(a, b, REPLY, 0, flags, 0, &[]);
    }

    /// The call `uid` takes part in with `peer`, if that is its current call.
    fn call_with(&self, uid: u32, peer: u32) -> Option<u64> {
        let call_id = self.users.get(&uid)?.call?;
        let call = self.calls.get(&call_id)?;
        (call.peer_of(uid) == peer).then_some(call_id)
    }

    fn call_reply(&mut self, uid: u32, ev: CallEvent) {
        let Some(call_id) = self.call_with(uid, ev.user_id) else {
            tracing::debug!(user = uid, peer = ev.user_id, "ignored: reply without a call with that peer");
            return;
        };
        let call = &self.calls[&call_id];
        let (a, b, flags, state) = (call.caller, call.callee, call.flags, call.state);
        let cancel = AC_ERROR_VIDEOCALL_CANCEL;
        match state {
            CallState::Active { .. } => tracing::debug!(user = uid, "ignored: reply to a call in progress"),
            // The callee has not heard of a call being vetted.
            CallState::Vetting if uid == b => tracing::debug!(user = uid, "ignored: reply to a call not ringing"),
            CallState::Vetting if ev.error_code != 0 => {
                tracing::info!(caller = a, callee = b, "call: cancelled by caller before ringing");
                let ending = Ending::new(None, None, (REPLY, a, cancel)).why(Outcome::Cancelled, EndedBy::Caller);
                self.end_call(call_id, ending.carrying(ev.param, &ev.user_str));
            }
            CallState::Ringing { .. } if uid == b && ev.error_code == 0 => {
                let room = self.alloc_call_room();
                self.rooms.insert(room, Room { call: Some(call_id), ..Room::default() });
                let now = self.now.unwrap_or_else(|| self.calls[&call_id].requested);
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.state = CallState::Active { room };
                    call.started = Some(now);
                    let setup = now.saturating_duration_since(call.requested);
                    self.journal(Journal::CallStarted { call_id, setup });
                }
                tracing::info!(caller = a, callee = b, room, "call: start");
                self.send_call(a, b, START, 0, flags, room, &ev.user_str);
                self.send_call(b, a, START, 0, flags, room, &ev.user_str);
                self.note(REPLY, b, a, 0, flags, ev.param, &ev.user_str);
                self.note(START, a, b, 0, flags, room, &ev.user_str);
            }
            CallState::Ringing { .. } if uid == b => {
                tracing::info!(caller = a, callee = b, code = ev.error_code, "call: refused by callee");
                let ending = Ending::new(Some((REPLY, ev.error_code)), None, (REPLY, b, ev.error_code));
                let ending = ending.why(Outcome::Refused, EndedBy::Callee);
                self.end_call(call_id, ending.carrying(ev.param, &ev.user_str));
            }
            _ if ev.error_code == 0 => tracing::debug!(user = uid, "ignored: caller replied 0"),
            _ => {
                tracing::info!(caller = a, callee = b, "call: cancelled by caller");
                let ending = Ending::new(None, Some((REPLY, cancel)), (REPLY, a, cancel));
                let ending = ending.why(Outcome::Cancelled, EndedBy::Caller);
                self.end_call(call_id, ending.carrying(ev.param, &ev.user_str));
            }
        }
    }

    fn call_finish(&mut self, uid: u32, ev: CallEvent) {
        let Some(call_id) = self.call_with(uid, ev.user_id) else {
            tracing::debug!(user = uid, peer = ev.user_id, "ignored: finish without a call with that peer");
            return;
        };
        let call = &self.calls[&call_id];
        let (a, b) = (call.caller, call.callee);
        match call.state {
            CallState::Active { .. } => {
                tracing::info!(caller = a, callee = b, by = uid, code = ev.error_code, "call: finish");
                let f = (FINISH, ev.error_code);
                let by = if uid == a { EndedBy::Caller } else { EndedBy::Callee };
                let ending = Ending::new(Some(f), Some(f), (FINISH, uid, ev.error_code)).why(Outcome::Answered, by);
                self.end_call(call_id, ending.carrying(ev.param, &ev.user_str));
            }
            // While ringing: a refusal from the callee, a cancel from the caller.
            _ => {
                let code = if uid == b { AC_ERROR_VIDEOCALL_REJECT } else { AC_ERROR_VIDEOCALL_CANCEL };
                self.call_reply(uid, CallEvent { error_code: code, event: REPLY, ..ev });
            }
        }
    }

    /// Ends a call: frees both parties, sends each its event, tells the
    /// business server, and closes the call's room (after the events, so
    /// that parties see FINISH before the room departures).
    fn end_call(&mut self, call_id: u64, e: Ending) {
        let Some(call) = self.calls.remove(&call_id) else { return };
        let code = e.caller.or(e.callee).map(|x| x.1).or(e.note.map(|n| n.2)).unwrap_or(0);
        self.record_call(call_id, &call, e.outcome, e.by, code);
        let (a, b, flags) = (call.caller, call.callee, call.flags);
        for u in [a, b] {
            if let Some(user) = self.users.get_mut(&u) {
                if user.call == Some(call_id) {
                    user.call = None;
                }
            }
        }
        if let Some((event, code)) = e.caller {
            self.send_call(a, b, event, code, flags, e.param, &e.user_str);
        }
        if let Some((event, code)) = e.callee {
            self.send_call(b, a, event, code, flags, e.param, &e.user_str);
        }
        if let Some((event, src, code)) = e.note {
            self.note(event, src, if src == b { a } else { b }, code, flags, e.param, &e.user_str);
        }
        if let CallState::Active { room } = call.state {
            self.close_call_room(room);
        }
    }

    /// Tells the business server of a call event (`src` 0: the server).
    #[allow(clippy::too_many_arguments)]
    fn note(&mut self, event: u32, src: u32, tar: u32, error_code: u32, flags: u32, param: u32, user_str: &[u8]) {
        if self.business.is_some() {
            let user_str = user_str.to_vec();
            self.send_business(ServerMsg::BizCallNote { event, src, tar, error_code, flags, param, user_str });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_call(&mut self, to: u32, peer: u32, event: u32, error_code: u32, flags: u32, param: u32, user_str: &[u8]) {
        let Some(user) = self.users.get(&to) else { return };
        let conn = user.conn;
        // An offline peer (Request to a user not logged in) has nothing to give.
        let peer_info = self.room_user(peer);
        let ev = CallEvent { event, user_id: peer, error_code, flags, param, user_str: user_str.to_vec() };
        self.out.push_back(Output::Send(conn, ServerMsg::VideoCall { ev, peer: peer_info }));
    }

    // ----- rooms ------------------------------------------------------------

    /// A room id not in use: no room has it, and nobody is waiting for the
    /// business server's answer to enter it.
    fn alloc_room_id(&mut self, base: u32, end: u32, call: bool) -> u32 {
        loop {
            let next = if call { &mut self.next_call_room } else { &mut self.next_named_room };
            let id = *next;
            *next = if id + 1 >= end { base } else { id + 1 };
            if !self.room_in_use(id) {
                return id;
            }
        }
    }

    /// The room of a call that starts: from the cluster's blocks while they
    /// last, else from this server's own counter.
    fn alloc_call_room(&mut self) -> u32 {
        while let Some((next, end)) = self.call_room_blocks.front().copied() {
            if next >= end {
                self.call_room_blocks.pop_front();
                continue;
            }
            self.call_room_blocks[0].0 = next + 1;
            if !self.room_in_use(next) {
                return next;
            }
        }
        let end = if self.call_room_blocks_on { CLUSTER_CALL_ROOM_BASE } else { u32::MAX };
        self.alloc_room_id(CALL_ROOM_BASE, end, true)
    }

    fn push(&mut self, conn: ConnId, msg: ServerMsg) {
        self.out.push_back(Output::Send(conn, msg));
    }

    fn send_user(&mut self, uid: u32, msg: ServerMsg) {
        if let Some(u) = self.users.get(&uid) {
            self.out.push_back(Output::Send(u.conn, msg));
        }
    }

    fn room_user(&self, uid: u32) -> RoomUser {
        match self.users.get(&uid) {
            Some(u) => RoomUser {
                user_id: uid,
                name: u.name.clone(),
                nick: u.nick.clone(),
                level: u.level,
                camera: u.camera,
                mic: u.mic,
            },
            None => RoomUser { user_id: uid, name: Vec::new(), nick: Vec::new(), level: 0, camera: 0, mic: 0 },
        }
    }

    /// Entering a room: a call's room is for its two parties only; an
    /// ordinary room is put to the business server first, if one is linked.
    fn ask_enter(&mut self, now: Instant, uid: u32, room_id: u32, room_name: Vec<u8>, password: Vec<u8>) {
        if room_id == 0 || room_id == ANY_ROOM {
            self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_INVALID });
            return;
        }
        if self.users.get(&uid).and_then(|u| u.room) == Some(room_id) {
            self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_ALREADIN });
            return;
        }
        // The call rooms' range is the calls' alone, and a refusal says
        // nothing of which call rooms are live.
        if room_id >= CALL_ROOM_BASE {
            let call = self.rooms.get(&room_id).and_then(|r| r.call).and_then(|c| self.calls.get(&c));
            if call.is_some_and(|c| c.caller == uid || c.callee == uid) {
                self.enter_room(uid, room_id);
            } else {
                tracing::info!(user = uid, room = room_id, "enter room refused: the call rooms' range");
                self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: GV_ERR_ROOM_LOCK });
            }
            return;
        }
        self.charge_room(now, uid, room_id);
        let query = Query::Enter { uid, room_id };
        let ask = |query| ServerMsg::BizAskEnter { query, user_id: uid, room_id, room_name, password };
        if self.ask(now, query, ask).is_none() {
            self.enter_room(uid, room_id);
        }
    }

    /// Counts what entering or leaving `room_id` makes the server send (a
    /// listing to the user, a notice to each member) against `uid`'s rate.
    fn charge_room(&mut self, now: Instant, uid: u32, room_id: u32) {
        let members = self.rooms.get(&room_id).map_or(0, |r| r.members.len());
        self.charge_bytes(now, uid, Class::Room, (members + 1) * 2 * ROOM_ENTRY_BYTES);
    }

    fn enter_room(&mut self, uid: u32, room_id: u32) {
        if self.users.get(&uid).and_then(|u| u.room).is_some() {
            self.leave_room(uid);
        }
        let me = self.room_user(uid);
        let room = self.rooms.entry(room_id).or_default();
        room.members.push(uid);
        let members = room.members.clone();
        if let Some(u) = self.users.get_mut(&uid) {
            u.room = Some(room_id);
        }
        tracing::info!(user = uid, room = room_id, "enter room");
        self.send_user(uid, ServerMsg::EnterRoomResult { room_id, code: 0 });
        let chunks: Vec<Vec<RoomUser>> =
            members.chunks(ROOM_USERS_PER_MESSAGE).map(|c| c.iter().map(|m| self.room_user(*m)).collect()).collect();
        let last = chunks.len() - 1;
        for (i, users) in chunks.into_iter().enumerate() {
            self.send_user(uid, ServerMsg::RoomUsers { room_id, users, more: i < last });
        }
        for m in members.into_iter().filter(|m| *m != uid) {
            self.send_user(m, ServerMsg::UserAtRoom { room_id, user: me.clone(), entered: true });
        }
        self.send_business(ServerMsg::BizUserRoom { user_id: uid, room_id, entered: true });
    }

    fn leave_room(&mut self, uid: u32) {
        let Some(room_id) = self.users.get_mut(&uid).and_then(|u| u.room.take()) else { return };
        let me = self.room_user(uid);
        let Some(room) = self.rooms.get_mut(&room_id) else { return };
        room.members.retain(|m| *m != uid);
        let members = room.members.clone();
        self.drop_room_if_empty(room_id);
        tracing::info!(user = uid, room = room_id, "leave room");
        for m in members {
            self.send_user(m, ServerMsg::UserAtRoom { room_id, user: me.clone(), entered: false });
        }
        self.send_business(ServerMsg::BizUserRoom { user_id: uid, room_id, entered: false });
    }

    /// Forgets an ordinary room nobody is in (and its name); a cluster is
    /// told of it (also of a room whose entry was refused before it existed).
    fn drop_room_if_empty(&mut self, room_id: u32) {
        if self.rooms.get(&room_id).is_some_and(|r| r.members.is_empty() && r.call.is_none()) {
            if let Some(name) = self.rooms.remove(&room_id).and_then(|r| r.name) {
                self.named_rooms.remove(&name);
            }
        }
        if !self.rooms.contains_key(&room_id) {
            if let Some(emptied) = &mut self.emptied_rooms {
                emptied.push(room_id);
            }
        }
    }

    fn close_call_room(&mut self, room_id: u32) {
        let Some(room) = self.rooms.remove(&room_id) else { return };
        for (i, m) in room.members.iter().enumerate() {
            for (j, other) in room.members.iter().enumerate() {
                if i != j {
                    let user = self.room_user(*other);
                    self.send_user(*m, ServerMsg::UserAtRoom { room_id, user, entered: false });
                }
            }
        }
        for m in &room.members {
            if let Some(u) = self.users.get_mut(m) {
                if u.room == Some(room_id) {
                    u.room = None;
                }
            }
            self.send_user(*m, ServerMsg::LeftRoom { room_id });
            self.send_business(ServerMsg::BizUserRoom { user_id: *m, room_id, entered: false });
        }
    }
}

// ----- cluster hooks (src/cluster/ drives them; unused without a cluster) ----

impl Core {
    /// Whether `uid` is logged in here (a local session or a remote user
    /// attached with [`Core::attach_remote`]).
    pub fn has_user(&self, uid: u32) -> bool {
        self.users.contains_key(&uid)
    }

    /// Whether `uid` takes part in a call held here.
    pub fn in_call(&self, uid: u32) -> bool {
        self.users.get(&uid).is_some_and(|u| u.call.is_some())
    }

    /// What others may know of `uid` (name, nick name, level, devices).
    pub fn user_info(&self, uid: u32) -> Option<RoomUser> {
        self.users.contains_key(&uid).then(|| self.room_user(uid))
    }

    /// The id the cluster gave `name`: a login by that name gets it.
    pub fn remember_id(&mut self, name: Vec<u8>, uid: u32) {
        self.keep_id(name, uid);
    }

    /// Keeps the id given to `name`, both ways.
    fn keep_id(&mut self, name: Vec<u8>, id: u32) {
        self.names_by_id.insert(id, name.clone());
        self.ids_by_name.insert(name, id);
    }

    /// Marks a local user as taking part in a call another server holds:
    /// a Request from or to it is answered BUSY here.
    pub fn set_busy_elsewhere(&mut self, uid: u32, busy: bool) {
        if busy {
            self.busy_elsewhere.insert(uid);
        } else {
            self.busy_elsewhere.remove(&uid);
        }
    }

    /// Attaches a user of another server on connection `conn` (which has no
    /// socket: its outputs go back to the user's own server), so that a call
    /// with it runs here like any other. No business-server note, no
    /// keep-alive (its server's liveness stands for it). False when `uid` is
    /// already logged in here.
    pub fn attach_remote(&mut self, now: Instant, conn: ConnId, info: RoomUser) -> bool {
        if self.users.contains_key(&info.user_id) || self.conns.contains_key(&conn) {
            return false;
        }
        let buckets = Buckets::new(now, &self.config.rate_limits);
        let state = ConnState::LoggedIn(info.user_id);
        let caps = CAP_OPUS;
        self.conns.insert(conn, Conn { state, last_rx: now, buckets, business_port: false, ip: String::new(), caps });
        let user = User {
            camera: info.camera,
            mic: info.mic,
            remote: true,
            ..User::new(info.name, info.nick, info.level, conn, now)
        };
        self.users.insert(info.user_id, user);
        true
    }

    /// Detaches a remote user: its session here ends as a logout
    /// (`logout`) or a lost connection, with no business-server note.
    pub fn detach_remote(&mut self, conn: ConnId, logout: bool) {
        if let Some(Conn { state: ConnState::LoggedIn(uid), .. }) = self.conns.remove(&conn) {
            self.drop_user(uid, if logout { Departure::Logout } else { Departure::Lost });
        }
    }

    /// The business server's link and its reconnect token, if one is linked
    /// (a socket here, or a remote link of [`Core::attach_remote_business`]).
    pub fn business_link(&self) -> Option<(ConnId, u64)> {
        self.business.map(|b| (b, self.business_token))
    }

    /// Attaches the business server linked to another server of the
    /// cluster on connection `conn` (no socket: what the core sends it is
    /// relayed, its answers and commands are fed back with
    /// [`Core::on_message`] on `conn`). The core treats it as its own
    /// business server, linked with reconnect token `token`. False when one
    /// is linked here already.
    pub fn attach_remote_business(&mut self, now: Instant, conn: ConnId, token: u64) -> bool {
        if self.business.is_some() || self.conns.contains_key(&conn) {
            return false;
        }
        tracing::info!(conn = %conn, "business server of the cluster attached");
        let buckets = Buckets::new(now, &self.config.rate_limits);
        let state = ConnState::AwaitHello;
        self.conns.insert(conn, Conn { state, last_rx: now, buckets, business_port: true, ip: String::new(), caps: 0 });
        self.business_linked_on(conn, token);
        true
    }

    /// Ends the business link, remote or not, as when its socket closes:
    /// a socket is sent `Refused(code)` and closed (a second business
    /// server of the cluster, found late); a remote link is forgotten (the
    /// server it is linked to died, or it unlinked).
    pub fn unlink_business(&mut self, now: Instant, code: u32) {
        if let Some(b) = self.business {
            tracing::info!(conn = %b, code, "business link ended by the cluster");
            self.push(b, ServerMsg::Refused { code });
            self.close(now, b, CloseReason::Handshake);
        }
    }

    /// The room `uid` is in here, if any.
    pub fn room_of(&self, uid: u32) -> Option<u32> {
        self.users.get(&uid).and_then(|u| u.room)
    }

    /// Whether `uid` is in a room here, or waits for the business server's
    /// answer to enter one.
    pub fn in_room_or_entering(&self, uid: u32) -> bool {
        self.room_of(uid).is_some()
            || self.queries.values().any(|q| matches!(q, (Query::Enter { uid: u, .. }, _, _) if *u == uid))
    }

    /// Whether room `room_id` has members here, or an entry into it waits
    /// for the business server's answer.
    pub fn room_in_use(&self, room_id: u32) -> bool {
        self.rooms.contains_key(&room_id)
            || self.queries.values().any(|q| matches!(q, (Query::Enter { room_id: r, .. }, _, _) if *r == room_id))
    }

    /// Room `room_id` is the one entered by `name` (its id given by the
    /// cluster): an entry by that name goes to it.
    pub fn name_room(&mut self, name: Vec<u8>, room_id: u32) {
        if let Some(old) = self.named_rooms.insert(name.clone(), room_id).filter(|old| *old != room_id) {
            tracing::warn!(old, room = room_id, "a room name changed its id");
        }
        self.rooms.entry(room_id).or_insert_with(|| Room { name: Some(name), ..Room::default() });
    }

    /// `count` call room ids from `first` are this server's alone (the
    /// cluster's engine handed them out): calls take their rooms there first.
    pub fn add_call_rooms(&mut self, first: u32, count: u32) {
        let end = first.saturating_add(count);
        if first >= CLUSTER_CALL_ROOM_BASE && first < end {
            self.call_room_blocks_on = true;
            self.call_room_blocks.push_back((first, end));
        }
    }

    /// Call room ids left in the blocks of [`Core::add_call_rooms`].
    pub fn call_rooms_left(&self) -> u64 {
        self.call_room_blocks.iter().map(|(next, end)| u64::from(end.saturating_sub(*next))).sum()
    }

    /// From now on, remember the ordinary rooms that become empty, for
    /// [`Core::take_emptied_rooms`].
    pub fn track_emptied_rooms(&mut self) {
        self.emptied_rooms.get_or_insert_with(Vec::new);
    }

    /// The ordinary rooms that became empty since the last call.
    pub fn take_emptied_rooms(&mut self) -> Vec<u32> {
        self.emptied_rooms.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Makes `conn` a media link between two core servers (the cluster
    /// checked its `Hello`, or opened it).
    pub fn make_peer(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Peer;
        }
    }

    /// Closes `uid`'s session with `WM_GV_LINKCLOSE(code)` (a newer login
    /// on another server).
    pub fn close_user(&mut self, now: Instant, uid: u32, code: u32) {
        if let Some(conn) = self.users.get(&uid).map(|u| u.conn) {
            self.push(conn, ServerMsg::LinkClose { code });
            self.close(now, conn, CloseReason::LoggedInElsewhere);
        }
    }
}

/// A well-mixed 64-bit value from `x` (SplitMix64's finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
