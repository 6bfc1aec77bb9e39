//! The SNTP client state machine, free of I/O. The worker feeds it the
//! monotonic time, local wall-clock timestamps, random nonces and received
//! datagrams; it answers with requests to send, samples for the clock's
//! owner and status changes, which the worker drains with
//! [`Client::poll_output`]. It measures its server itself (an [`Estimator`]:
//! the discipline's `Tracker`); steering the clock is the clock owner's,
//! which tells it its [`Role`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::auth::{AuthError, SymmetricKey};
use super::nts::{NtsError, NtsSession};
use super::packet::{Packet, HEADER_LEN, MODE_SERVER};
use super::schedule::Schedule;
use super::timestamp::NtpDuration;
use super::timestamp::NtpTimestamp;
use super::validate::{judge, Kiss, Reject, Sample, Verdict};

/// Consecutive requests without a valid reply after which sync is lost.
pub const MAX_MISSES: u32 = 4;

/// What the client is told to do by the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub server: SocketAddr,
    pub no_reply: Duration,
    pub had_reply: Duration,
    /// Space the first requests 2 s apart for a fast first sync.
    pub burst: bool,
    /// Whether its samples go to the clock's owner (false: measure only).
    pub steering: bool,
}

/// Why the client stopped querying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The server sent a DENY or RSTR kiss-o'-death.
    Kissed(Kiss),
    /// The clock backend was refused permission to adjust the clock.
    ClockRefused,
}

/// How a client authenticates its server's replies.
#[derive(Debug, Default)]
pub enum Auth {
    /// Plain SNTP: the origin timestamp is the only check.
    #[default]
    None,
    /// A symmetric key: requests carry its MAC, and a reply is used only
    /// with a valid MAC under the same key.
    Key(SymmetricKey),
    /// NTS: the keys and cookies of the last key exchange (None until one
    /// succeeds, and again once the cookies run out or the server refuses
    /// them); nothing goes over NTP without them.
    Nts(Option<NtsSession>),
}

impl Auth {
    /// The request datagram for `nonce`, signed when the client
    /// authenticates; None for NTS without a cookie.
    fn request(&mut self, nonce: NtpTimestamp) -> Option<Vec<u8>> {
        let header = Packet::request(nonce).encode();
        match self {
            Auth::None => Some(header.to_vec()),
            Auth::Key(key) => {
                let mut packet = header.to_vec();
                key.sign(&mut packet);
                Some(packet)
            }
            Auth::Nts(session) => {
                let request = session.as_mut()?.request(&header);
                if request.is_none() {
                    *session = None;
                }
                request
            }
        }
    }

    fn verify(&mut self, data: &[u8]) -> Result<(), Reject> {
        match self {
            Auth::None => Ok(()),
            Auth::Key(key) => key.verify(data).map_err(|e| match e {
                AuthError::Missing => Reject::AuthMissing,
                AuthError::WrongKeyId => Reject::AuthWrongKey,
                AuthError::BadMac => Reject::AuthBadMac,
            }),
            Auth::Nts(None) => Err(Reject::NtsMissing),
            Auth::Nts(Some(s)) => s.verify(data).map_err(|e| match e {
                NtsError::Missing => Reject::NtsMissing,
                NtsError::Bad => Reject::NtsBad,
            }),
        }
    }

    /// Whether `data`, answering the request whose nonce is `nonce`, is an
    /// NTS NAK: a kiss-o'-death "NTSN" that echoes the request's unique
    /// identifier (RFC 8915, section 5.7; it carries no authenticator).
    fn is_nak(&self, data: &[u8], nonce: NtpTimestamp) -> bool {
        let Auth::Nts(Some(s)) = self else { return false };
        Packet::parse(data).is_some_and(|p| {
            p.mode == MODE_SERVER && p.stratum == 0 && &p.reference_id == b"NTSN" && p.origin_ts == nonce
        }) && data.len() > HEADER_LEN
            && s.echoes_request(data)
    }

    /// NTS cookies held (0 otherwise).
    pub fn cookies(&self) -> usize {
        match self {
            Auth::Nts(Some(s)) => s.cookies(),
            _ => 0,
        }
    }

    /// What the statistics and traces call it: "none", "key 10 (AES128)", "NTS".
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "none".into(),
            Auth::Key(k) => format!("key {} ({})", k.id(), k.kind().name()),
            Auth::Nts(_) => "NTS".into(),
        }
    }
}

/// What the worker must do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send this request, then report the local send time with [`Client::on_sent`].
    Send(Vec<u8>),
    /// Steering: hand this valid sample to the clock's owner, then report
    /// what it did with [`Client::on_steered`].
    Steer(Sample),
    /// Steering: the server stopped answering ([`MAX_MISSES`] requests in a
    /// row); tell the clock's owner.
    Unreachable,
    /// The synchronised state changed.
    SyncChanged(bool),
    /// Querying stopped until the next [`Client::configure`].
    Stopped(StopReason),
    /// NTS: a key exchange is needed (none yet, cookies used up, or the
    /// server refused them); requests wait until [`Client::set_nts_session`].
    NeedKeys,
}

/// What a source is to the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Steering, but not followed now (the discipline's `Why` says why).
    Candidate,
    /// The preferred source: followed, its leap indicator and error bounds
    /// go to the kernel.
    Selected,
    /// Followed, combined with the selected one.
    Combined,
    /// Outside the majority's agreement: not followed.
    Falseticker,
    /// Measuring only (`PROSSNTP_CLOCK=none`, or no right to set the clock).
    #[default]
    Measuring,
    /// Measuring only: the clock has another owner (the discipline's `Why`
    /// says which).
    StandingDown,
}

impl Role {
    /// Whether the clock follows this source.
    pub fn follows(self) -> bool {
        matches!(self, Role::Selected | Role::Combined)
    }
}

/// How the offset is corrected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correction {
    /// Jump the clock by the offset at once.
    Step,
    /// Correct the offset gradually, at the backend's slew rate.
    Slew,
}

/// A client's own estimate of its server's offset and the clock's drift
/// (the discipline's `Tracker`), fed each valid sample the client measures;
/// a fresh one (its default) when what was measured is let go.
pub trait Estimator: Default {
    /// Adds `sample`, taken at monotonic time `now`.
    fn measure(&mut self, now: Duration, sample: &Sample);
}

/// What the clock's owner did with a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Steered {
    /// Corrected the clock.
    Applied(Correction),
    /// Nothing to correct (awaiting agreement, other sources, or not followed).
    Held,
    /// A step this large was called for and refused (beyond the bounds).
    Refused(NtpDuration),
    /// The clock call failed (not permission) with this errno; the sample
    /// is not counted.
    Failed(i32),
    /// Not permitted to adjust the clock: stop.
    ClockRefused,
    /// The owner is not steering (another owner of the clock).
    NotSteering,
}

/// Counters kept for statistics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    pub valid_replies: u64,
    /// Rejected replies by [`Reject::index`].
    pub rejected: [u64; Reject::COUNT],
    pub kisses: u64,
    pub steps: u64,
    pub slews: u64,
    pub steps_refused: u64,
    /// Valid replies not used: the clock was stepped while they were in flight.
    pub stale: u64,
}

impl Counters {
    #[cfg(test)]
    pub fn rejected(&self, r: Reject) -> u64 {
        self.rejected[r.index()]
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    nonce: NtpTimestamp,
    /// Local send time, once the worker reported it.
    t1: Option<NtpTimestamp>,
    /// The clock was stepped since the request left ([`Client::clock_stepped`]).
    stale: bool,
}

#[derive(Debug)]
pub struct Client<E> {
    config: Option<Config>,
    schedule: Option<Schedule>,
    outstanding: Option<Outstanding>,
    /// Whether the last request got a valid reply.
    answered: bool,
    misses: u32,
    /// A valid sample came since the last [`MAX_MISSES`] misses in a row.
    measured: bool,
    synced: bool,
    stopped: Option<StopReason>,
    /// What the clock's owner says it is (measuring only until told).
    role: Role,
    tracker: E,
    last_sample: Option<Sample>,
    counters: Counters,
    auth: Auth,
    /// NTS: [`Output::NeedKeys`] went and no session came since.
    keys_wanted: bool,
    out: VecDeque<Output>,
}

impl<E: Estimator> Default for Client<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Estimator> Client<E> {
    pub fn new() -> Self {
        Client {
            config: None,
            schedule: None,
            outstanding: None,
            answered: true,
            misses: 0,
            measured: false,
            synced: false,
            stopped: None,
            role: Role::Measuring,
            tracker: E::default(),
            last_sample: None,
            counters: Counters::default(),
            auth: Auth::None,
            keys_wanted: false,
            out: VecDeque::new(),
        }
    }

    /// Its own estimate of the server's offset and the clock's drift.
    pub fn tracker(&self) -> &E {
        &self.tracker
    }

    /// What the clock's owner says this client's server is to the clock:
    /// `has_sync` follows (see [`Client::synced`]).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
        self.update_sync();
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// (Re)configures: the first request is due at once. Clears a stop.
    pub fn configure(&mut self, config: Config, now: Duration) {
        self.schedule = Some(Schedule::new(now, config.no_reply, config.had_reply, config.burst));
        self.config = Some(config);
        self.outstanding = None;
        self.answered = true;
        self.misses = 0;
        self.stopped = None;
        // Until the clock's owner says otherwise, a steering client is not followed.
        match (config.steering, self.role) {
            (false, _) => self.role = Role::Measuring,
            (true, Role::Measuring) => self.role = Role::Candidate,
            _ => {}
        }
    }

    /// Authenticates the server's replies with `auth` from now on (or no
    /// more, with [`Auth::None`]). What was measured under the old rule is
    /// let go: the estimate starts afresh, a steering client tells the
    /// clock's owner its server is unreachable until new samples come, and
    /// a configured client starts querying again at once.
    pub fn set_auth(&mut self, auth: Auth, now: Duration) {
        self.auth = auth;
        self.keys_wanted = false;
        self.tracker = E::default();
        self.last_sample = None;
        if self.measured && self.config.is_some_and(|c| c.steering) {
            self.out.push_back(Output::Unreachable);
        }
        self.measured = false;
        self.update_sync();
        if let Some(config) = self.config {
            self.configure(config, now);
        }
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// NTS: the keys and cookies of a successful key exchange, for NTP to
    /// `server` (the one the exchange named, else the configured one): a
    /// request goes at once. Ignored unless the client uses NTS.
    pub fn set_nts_session(&mut self, session: NtsSession, server: SocketAddr, now: Duration) {
        let Auth::Nts(slot) = &mut self.auth else { return };
        *slot = Some(session);
        self.keys_wanted = false;
        if let Some(config) = self.config {
            let misses = self.misses;
            self.configure(Config { server, ..config }, now);
            self.misses = misses;
        }
    }

    /// The monotonic time at which [`Client::handle_timeout`] must next run.
    pub fn deadline(&self) -> Option<Duration> {
        if self.stopped.is_some() {
            return None;
        }
        self.schedule.as_ref()?.next()
    }

    /// Runs the schedule: when a request is due, counts a miss for the last
    /// one if it went unanswered and emits the next request with `nonce`
    /// (a fresh random value) as its transmit timestamp. The next request
    /// is then due `no_reply` later, or, after [`MAX_MISSES`] misses in a
    /// row, twice the last wait, up to `had_reply` (see
    /// [`Schedule::no_reply_wait`]).
    pub fn handle_timeout(&mut self, now: Duration, nonce: u64) {
        if self.stopped.is_some() {
            return;
        }
        if !self.schedule.as_ref().is_some_and(|s| s.is_due(now)) {
            return;
        }
        if !self.answered {
            self.misses = self.misses.saturating_add(1);
            if self.misses >= MAX_MISSES {
                if self.measured && self.config.is_some_and(|c| c.steering) {
                    self.out.push_back(Output::Unreachable);
                }
                self.measured = false;
                self.update_sync();
            }
        }
        // Past MAX_MISSES misses in a row the wait for a reply doubles each time.
        if let Some(schedule) = self.schedule.as_mut() {
            schedule.on_sent(now, self.misses);
        }
        // A zero nonce would match a zero origin; avoid it.
        let nonce = NtpTimestamp(nonce.max(1));
        self.answered = false;
        let Some(request) = self.auth.request(nonce) else {
            // NTS without a cookie: nothing over NTP until a key exchange.
            self.outstanding = None;
            if !self.keys_wanted {
                self.keys_wanted = true;
                self.out.push_back(Output::NeedKeys);
            }
            return;
        };
        self.outstanding = Some(Outstanding { nonce, t1: None, stale: false });
        self.out.push_back(Output::Send(request));
    }

    /// The request just emitted left at local wall time `t1` (called again
    /// with a better `t1`, such as the kernel's transmit timestamp, it only
    /// replaces the time). `requests` counts requests that left.
    pub fn on_sent(&mut self, t1: NtpTimestamp) {
        if let Some(o) = self.outstanding.as_mut() {
            if o.t1.is_none() {
                self.counters.requests += 1;
            }
            o.t1 = Some(t1);
        }
    }

    /// The clock was stepped after the request in flight left. Its reply,
    /// valid, still answers the request (the server is reachable, the
    /// schedule goes on) but is not measured nor handed to the clock's
    /// owner: its send and receive times may lie on either side of the step,
    /// and a sample judged against the clock as it is now would be off by
    /// the step. (Slews and frequency changes move the clock by at most
    /// 500 ppm of the flight time, which the sample's own uncertainty covers.)
    pub fn clock_stepped(&mut self) {
        if let Some(o) = self.outstanding.as_mut() {
            o.stale = true;
        }
    }

    /// The client's time was disrupted: sample soon rather than wait out
    /// the poll interval; with `burst` (a suspend, a jump of the raw clock:
    /// the rate must be found again) in a short burst from now, without (the
    /// server stepped: one sample confirms it) once, a burst's spacing on.
    pub fn resample(&mut self, now: Duration, burst: bool) {
        if self.stopped.is_some() {
            return;
        }
        let in_flight = self.outstanding.is_some() && !self.answered;
        if let Some(s) = self.schedule.as_mut() {
            s.resample(now, in_flight, burst);
        }
    }

    /// The request just emitted could not be sent: it is not counted, and
    /// no reply can match it (it still counts as unanswered for sync).
    pub fn on_send_failed(&mut self) {
        self.outstanding = None;
    }

    /// A datagram from `from` arrived at local wall time `t4`, monotonic time `now`.
    pub fn handle_packet(&mut self, from: SocketAddr, data: &[u8], t4: NtpTimestamp, now: Duration) -> Verdict {
        let verdict = self.judge(from, data, t4);
        match verdict {
            Verdict::Rejected(r) => self.counters.rejected[r.index()] += 1,
            Verdict::Kiss(kiss) => {
                self.counters.kisses += 1;
                self.outstanding = None;
                match kiss {
                    Kiss::Rate => {
                        if let Some(s) = self.schedule.as_mut() {
                            s.on_rate_kiss();
                        }
                    }
                    Kiss::Deny | Kiss::Rstr => self.stop(StopReason::Kissed(kiss)),
                    Kiss::NtsNak => {
                        self.auth = Auth::Nts(None);
                        self.keys_wanted = true;
                        self.out.push_back(Output::NeedKeys);
                    }
                }
            }
            Verdict::Valid(sample) => {
                // Each nonce is accepted once.
                let stale = self.outstanding.take().is_some_and(|o| o.stale);
                self.answered = true;
                self.misses = 0;
                self.counters.valid_replies += 1;
                if let Some(s) = self.schedule.as_mut() {
                    s.on_reply();
                }
                if stale {
                    self.counters.stale += 1;
                    return verdict;
                }
                self.last_sample = Some(sample);
                self.tracker.measure(now, &sample);
                self.measured = true;
                if self.config.is_some_and(|c| c.steering) {
                    self.out.push_back(Output::Steer(sample));
                }
                self.update_sync();
            }
        }
        verdict
    }

    fn judge(&mut self, from: SocketAddr, data: &[u8], t4: NtpTimestamp) -> Verdict {
        if self.stopped.is_some() || self.config.is_none_or(|c| !same_peer(c.server, from)) {
            return Verdict::Rejected(Reject::WrongSource);
        }
        match self.outstanding {
            // Nothing in a reply is looked at before its authentication
            // (but for an NTS NAK, which has none).
            Some(Outstanding { nonce, t1: Some(t1), .. }) => match self.auth.verify(data) {
                Ok(()) => judge(data, nonce, t1, t4),
                Err(_) if self.auth.is_nak(data, nonce) => Verdict::Kiss(Kiss::NtsNak),
                Err(r) => Verdict::Rejected(r),
            },
            _ => match Packet::parse(data) {
                None => Verdict::Rejected(Reject::Truncated),
                Some(_) => Verdict::Rejected(Reject::BadOrigin),
            },
        }
    }

    /// Reports what the clock's owner did with the last [`Output::Steer`].
    pub fn on_steered(&mut self, result: Steered) {
        match result {
            Steered::Applied(Correction::Step) => self.counters.steps += 1,
            Steered::Applied(Correction::Slew) => self.counters.slews += 1,
            Steered::Refused(_) => self.counters.steps_refused += 1,
            Steered::ClockRefused if self.stopped.is_none() => self.stop(StopReason::ClockRefused),
            _ => {}
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn synced(&self) -> bool {
        self.synced
    }
    #[cfg(any(test, feature = "__internal-api"))]
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }
    pub fn last_sample(&self) -> Option<&Sample> {
        self.last_sample.as_ref()
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// The current interval between requests; `None` when not querying.
    pub fn poll_interval(&self) -> Option<Duration> {
        if self.stopped.is_some() {
            return None;
        }
        self.schedule.as_ref()?.interval()
    }

    fn stop(&mut self, reason: StopReason) {
        self.stopped = Some(reason);
        self.outstanding = None;
        if let Some(s) = self.schedule.as_mut() {
            s.stop();
        }
        self.out.push_back(Output::Stopped(reason));
    }

    /// Synchronised: a valid sample since the last run of misses and, when
    /// steering, the clock follows this client's server.
    fn update_sync(&mut self) {
        let follows = match self.role {
            Role::Measuring | Role::StandingDown => true,
            role => role.follows(),
        };
        self.set_synced(self.measured && follows);
    }

    fn set_synced(&mut self, synced: bool) {
        if self.synced != synced {
            self.synced = synced;
            self.out.push_back(Output::SyncChanged(synced));
        }
    }
}

/// Address and port equal; IPv6 scope ids are not compared (replies carry the
/// interface's).
fn same_peer(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() && a.port() == b.port()
}
