import Foundation
import Logging
import RaftCore
import Sync
import Synchronization

/// Carries Raft traffic of every shard between nodes over long-lived streams: one outgoing
/// stream per peer (opened with an HTTP Upgrade on the peer's ordinary port, see
/// `PeerStreamHandshake`), and the peers' streams to us, accepted by the HTTP server and
/// handed over with `accept`. docs/ARCHITECTURE.md ("Peer streams") has the picture.
///
/// Sending never blocks: `send`, `call` and `reply` queue one frame for the peer's sender
/// thread, or drop it when the peer is unknown or its queue is full (counted, and the peer is
/// reported unreachable to the inbox — Raft retransmits). A sender writes everything queued in
/// one write per burst, a heartbeat when idle, and reconnects with backoff when the stream
/// breaks (frames queued meanwhile are dropped and reported). Order per peer is preserved.
///
/// Receiving: each accepted stream has a reader thread that hands frames to the `PeerInbox`
/// (Raft messages, calls and replies). A newer stream from the same peer replaces the older.
///
/// Lifecycle: `attach` the inbox, `setPeers` starts and stops sender threads; `close()` stops
/// every thread (waiting a bounded time). After `close`, sends drop and `accept` refuses.
public final class PeerTransport: Sendable {
    public let configuration: TransportConfiguration
    /// Faults injected by tests; inert unless set.
    public let faults = TransportFaults()
    /// Paces what goes to Load Managers' silent replicas (see `CatchUpThrottle`).
    public let catchUp = CatchUpThrottle()
    private let logger: Logger
    private let state = Mutex(State())
    private let droppedUnknown = Atomic<UInt64>(0)
    private let hooks: TransportHooks
    private let threads = ThreadTracker()

    private struct State {
        var peers: [NodeID: PeerLink] = [:]
        var receivers: [NodeID: StreamReceiver] = [:]
        var received: [NodeID: (frames: UInt64, bytes: UInt64, messages: UInt64)] = [:]
        var closed = false
    }

    /// `configuration` must pass `validate()` (checked here: a bad one is a programming error
    /// in the executable, which validates it first).
    public init(configuration: TransportConfiguration, logger: Logger) {
        do { try configuration.validate() } catch { preconditionFailure("\(error)") }
        self.configuration = configuration
        self.logger = logger
        hooks = TransportHooks(faults: faults, throttle: catchUp)
    }

    /// Where received frames and delivery failures go. Replaces any earlier inbox; nil detaches.
    public func attach(_ inbox: (any PeerInbox)?) { hooks.set(inbox) }

    /// Sets the peers (id → base URL such as `http://127.0.0.1:7002`). New peers get a queue
    /// and a sender thread; removed peers' threads stop (their queued frames are dropped); a
    /// peer whose URL changed is replaced.
    public func setPeers(_ peers: [NodeID: String]) {
        var removed: [PeerLink] = []
        var added: [PeerLink] = []
        state.withLock { state in
            guard !state.closed else { return }
            for (id, link) in state.peers where peers[id].map(InternalRoutes.trimmed) != link.baseURL {
                removed.append(link)
                state.peers[id] = nil
            }
            for (id, url) in peers where state.peers[id] == nil && id != configuration.nodeID {
                let link = PeerLink(id: id, baseURL: url, capacity: configuration.queueCapacityPerPeer)
                state.peers[id] = link
                added.append(link)
                threads.started()  // before close() can look, so it waits for this thread too
            }
        }
        for link in removed {
            logger.info("transport: peer \(link.id) removed (\(link.baseURL))")
            link.stop()
        }
        for link in added {
            logger.info("transport: peer \(link.id) at \(link.baseURL)")
            let sender = StreamSender(link: link, configuration: configuration, logger: logger, hooks: hooks, threads: threads)
            let thread = Thread { sender.run() }
            thread.name = "peer-out-\(link.id % 10_000)"
            thread.start()
        }
    }

    /// Queues Raft messages of `shard` for their recipients: one frame per recipient, or more
    /// when a recipient's batch passes `maxFrameMessagesBytes` (frames stay well below what a
    /// receiver accepts, `PeerFrame.maxFrameBytes`).
    public func send(_ messages: [Message], shard: Int) {
        guard !messages.isEmpty else { return }
        var byPeer: [NodeID: [Message]] = [:]
        if messages.allSatisfy({ $0.to == messages[0].to }) {
            byPeer[messages[0].to] = messages
        } else {
            for message in messages { byPeer[message.to, default: []].append(message) }
        }
        for (peer, batch) in byPeer {
            var start = 0, bytes = 0
            for (index, message) in batch.enumerated() {
                let size = Self.estimatedSize(message)
                if index > start && bytes + size > Self.maxFrameMessagesBytes {
                    enqueue(.messages(shard: shard, Array(batch[start..<index])), to: peer, count: index - start)
                    start = index
                    bytes = 0
                }
                bytes += size
            }
            enqueue(.messages(shard: shard, start == 0 ? batch : Array(batch[start...])), to: peer, count: batch.count - start)
        }
    }

    /// Encoded bytes of Raft messages per frame, at most (a single larger message goes alone).
    static let maxFrameMessagesBytes = 8 << 20

    /// An upper bound of `message`'s encoded size, without encoding it.
    static func estimatedSize(_ message: Message) -> Int {
        var size = 96 + message.context.count
        for entry in message.entries { size += 32 + entry.data.count }
        if let snapshot = message.snapshot {
            size += 128 + snapshot.data.count + 24 * (snapshot.metadata.confState.members.count + snapshot.metadata.confState.attributes.count)
        }
        return size
    }

    /// Queues a call for `peer`; false when it certainly was not sent (unknown peer, full
    /// queue). A call dropped later while queued is reported with `PeerInbox.callsNotSent`.
    public func call(_ peer: NodeID, id: UInt64, shard: Int, payload: [UInt8]) -> Bool {
        enqueue(.call(id: id, shard: shard, payload: payload), to: peer, count: 1)
    }

    /// The peer at `url` (a base URL as given to `setPeers`) when its stream is open now: a
    /// caller may then send it calls instead of HTTP requests.
    public func connectedPeer(url: String) -> NodeID? {
        let trimmed = InternalRoutes.trimmed(url)
        let link = state.withLock { $0.closed ? nil : $0.peers.values.first { $0.baseURL == trimmed } }
        guard let link, link.isConnected else { return nil }
        return link.id
    }

    /// Queues the answer to a call `peer` made.
    public func reply(_ peer: NodeID, id: UInt64, payload: [UInt8]) {
        enqueue(.reply(id: id, payload: payload), to: peer, count: 1)
    }

    @discardableResult
    private func enqueue(_ frame: PeerFrame, to peer: NodeID, count: Int) -> Bool {
        guard let link = state.withLock({ $0.closed ? nil : $0.peers[peer] }) else {
            droppedUnknown.add(UInt64(count), ordering: .relaxed)
            return false
        }
        if link.queue.push(frame) { return true }
        link.counters.withLock { $0.droppedQueueFull += 1 }
        hooks.inbox?.unreachable(peer)
        return false
    }

    /// Takes over a stream the HTTP server accepted from `peer` (after the upgrade answer):
    /// reads it on a thread of its own until it ends, then calls `release` (which closes the
    /// socket). `descriptor` stays owned by the server.
    public func accept(from peer: NodeID, descriptor: Int32, leftover: [UInt8], release: @escaping @Sendable () -> Void) {
        let receiver = StreamReceiver(peer: peer, socket: StreamSocket(descriptor: descriptor, owned: false),
                                      leftover: leftover, release: release)
        let previous: StreamReceiver?? = state.withLock { state in
            guard !state.closed else { return .none }
            threads.started()
            defer { state.receivers[peer] = receiver }
            return .some(state.receivers[peer])
        }
        guard let previous else { return release() }
        previous?.stop()  // the peer reconnected: its old stream is dead or dying
        let idle = configuration.idleTimeoutMilliseconds
        let hooks = self.hooks, logger = self.logger
        let thread = Thread { [self] in
            defer { threads.finished() }
            receiver.run(idleTimeoutMilliseconds: idle, hooks: hooks, logger: logger) { frames, bytes, messages in
                state.withLock { state in
                    var counts = state.received[peer] ?? (0, 0, 0)
                    counts.frames += frames
                    counts.bytes += bytes
                    counts.messages += messages
                    state.received[peer] = counts
                }
            }
            let link: PeerLink? = state.withLock { state in
                if state.receivers[peer] === receiver { state.receivers[peer] = nil }
                return state.peers[peer]
            }
            if !receiver.wasStopped {
                // The peer's stream ended on its own: the peer died or the network broke. Our
                // stream to it is probably dead too — reconnect now rather than write into it.
                link?.reset()
                hooks.inbox?.linkLost(peer)
            }
        }
        thread.name = "peer-in-\(peer % 10_000)"
        thread.start()
    }

    /// Breaks the streams to and from `peer` (both reconnect): for tests, like a cut cable.
    public func resetLinks(to peer: NodeID) {
        let (link, receiver) = state.withLock { ($0.peers[peer], $0.receivers[peer]) }
        link?.reset()
        receiver?.stop()
    }

    /// Counters of every current peer.
    public var statistics: TransportStatistics {
        let (peers, received, incoming) = state.withLock { ($0.peers, $0.received, $0.receivers.count) }
        var result: [NodeID: PeerStatistics] = [:]
        for (id, link) in peers {
            var statistics = link.statistics
            if let counts = received[id] {
                statistics.receivedFrames = counts.frames
                statistics.receivedBytes = counts.bytes
                statistics.receivedMessages = counts.messages
            }
            result[id] = statistics
        }
        return TransportStatistics(peers: result, droppedUnknownPeer: droppedUnknown.load(ordering: .relaxed),
                                   incomingStreams: incoming)
    }

    /// Stops every thread and waits for them (at most a send timeout plus a second). Returns
    /// false when some thread was still running at the deadline. Idempotent.
    @discardableResult
    public func close() -> Bool {
        let (links, receivers): ([PeerLink], [StreamReceiver]) = state.withLock { state in
            state.closed = true
            defer { state.peers = [:]; state.receivers = [:] }
            return (Array(state.peers.values), Array(state.receivers.values))
        }
        for link in links { link.stop() }
        for receiver in receivers { receiver.stop() }
        let wait = UInt64(configuration.sendTimeoutMilliseconds + 1000) * 1_000_000
        let done = threads.waitForAll(untilNanoseconds: monotonicNanoseconds() + wait)
        if !done { logger.warning("transport: \(threads.count) threads still running after close") }
        hooks.set(nil)
        return done
    }
}

/// The inbox and faults, shared with sender and receiver threads. The inbox is boxed: an
/// existential kept directly in a `Mutex` is fine, but reads must be cheap on every frame.
final class TransportHooks: Sendable {
    let faults: TransportFaults
    let throttle: CatchUpThrottle
    private let slot = Mutex<(any PeerInbox)?>(nil)

    init(faults: TransportFaults, throttle: CatchUpThrottle) {
        self.faults = faults
        self.throttle = throttle
    }

    func set(_ inbox: (any PeerInbox)?) { slot.withLock { $0 = inbox } }

    var inbox: (any PeerInbox)? { slot.withLock { $0 } }
}
