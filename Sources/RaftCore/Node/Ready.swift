/// Everything the application must do after feeding the core, in this order:
///
/// 1. Persist `snapshot` (if any), then `entries` (replacing any stored entries from
///    `entries[0].index` on), then `hardState` (if any) — durably (fsync) when `mustSync`.
/// 2. Only then send `messages` (they may promise what step 1 persisted, e.g. a vote or
///    an acknowledged entry).
/// 3. Apply `snapshot` (if any) to the state machine, then `committedEntries` in order;
///    all of them, including `.noop` and `.confChange` ones (whose effect the core already
///    tracks; the application may decode them to follow membership).
/// 4. Serve `readStates` once the applied index reaches each one's `index`.
/// 5. Call `RawNode.advance(_:)` with this value, before asking for the next `Ready`.
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
    /// Messages to send after persisting this `Ready`.
    public var messages: [Message]
    /// Answers to `readIndex` requests.
    public var readStates: [ReadState]
    /// The writes of step 1 must be durable before step 2.
    public var mustSync: Bool

    public init(
        softState: SoftState? = nil, hardState: HardState? = nil, snapshot: Snapshot? = nil,
        entries: [Entry] = [], committedEntries: [Entry] = [], messages: [Message] = [],
        readStates: [ReadState] = [], mustSync: Bool = false
    ) {
        self.softState = softState
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.committedEntries = committedEntries
        self.messages = messages
        self.readStates = readStates
        self.mustSync = mustSync
    }
}
