/// Everything the application must do after feeding the core, in this order:
///
/// 1. Send `earlyMessages`, if it likes, before (or while) doing step 2: a leader's
///    appends, so its followers write to disk in parallel with it (Raft dissertation
///    §10.2.1). Sending them with `messages` in step 3 is always correct too.
/// 2. Persist `snapshot` (if any), then `entries` (replacing any stored entries from
///    `entries[0].index` on), then `hardState` (if any) — durably (fsync) when `mustSync`.
///    A crash between steps 1 and 2 simply loses this `Ready`: restart from storage as
///    after any other crash.
/// 3. Only then send `messages` (they may promise what step 2 persisted, e.g. a vote or
///    an acknowledged entry).
/// 4. Apply `snapshot` (if any) to the state machine, then `committedEntries` in order;
///    all of them, including `.noop` and `.confChange` ones (whose effect the core already
///    tracks; the application may decode them to follow membership).
/// 5. Serve `readStates` once the applied index reaches each one's `index`.
/// 6. Call `RawNode.advance(_:)` with this value, before asking for the next `Ready`.
///
/// Why step 1 is safe: an early message promises nothing that step 2 writes. It is an
/// append of the leader's current term, handed out only when that term and the leader's
/// vote are already durable (never in a `Ready` that changes them), and its commit index
/// covers only entries the leader persisted in earlier `Ready`s. The leader's own match
/// does count its entries as soon as it appends them, but a commit index covering this
/// `Ready`'s entries shows only after step 2: in this `Ready`'s hard state, committed
/// entries and `messages` (a single voter), or in a later `Ready` (followers acknowledge
/// only after their own fsync; a commit the leader derives from that is handed out by the
/// next `Ready` at the earliest, which comes after `advance`, so after step 2). If
/// the leader crashes between steps 1 and 2, followers hold entries it lost; none of them
/// was committed, so Raft keeps or overwrites them as after any leader crash.
public struct Ready: Sendable {
    /// Leader and role, when they changed since the previous `Ready`.
    public var softState: SoftState?
    /// The hard state to persist, when it changed.
    public var hardState: HardState?
    /// A snapshot received from the leader, to persist and install.
    public var snapshot: Snapshot?
    /// Entries to append to stable storage.
    public var entries: [Entry]
    /// Entries known committed, to apply after persisting this `Ready`.
    public var committedEntries: [Entry]
    /// Messages that may be sent before this `Ready` is persisted (step 1): only a
    /// leader's `.append` messages, never a vote, response, heartbeat or snapshot.
    public var earlyMessages: [Message]
    /// Messages to send only after persisting this `Ready` (step 3): votes, responses,
    /// heartbeats, snapshots and every append not in `earlyMessages`.
    public var messages: [Message]
    /// Answers to `readIndex` requests.
    public var readStates: [ReadState]
    /// The writes of step 2 must be durable before step 3.
    public var mustSync: Bool

    public init(
        softState: SoftState? = nil, hardState: HardState? = nil, snapshot: Snapshot? = nil,
        entries: [Entry] = [], committedEntries: [Entry] = [], earlyMessages: [Message] = [],
        messages: [Message] = [], readStates: [ReadState] = [], mustSync: Bool = false
    ) {
        self.softState = softState
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.committedEntries = committedEntries
        self.earlyMessages = earlyMessages
        self.messages = messages
        self.readStates = readStates
        self.mustSync = mustSync
    }
}
