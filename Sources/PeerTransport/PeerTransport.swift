import Foundation
import Logging
import RaftCore
import Sync
import Synchronization

/// Sends Raft messages to peers over HTTP: one bounded queue and one sender thread per peer,
/// each with its own keep-alive connection.
///
/// `send` never blocks: it queues each message for its `to` peer, or drops it (counted) when
/// the peer is unknown or its queue is full — Raft retransmits. A sender thread posts everything
/// queued (up to `maxBatchBytes` per request) as one request and waits for the answer, so there
/// is one request in flight per peer, order per peer is preserved, and whatever queues meanwhile
/// goes in the next request. A failed request (connect error, timeout, non-2xx) drops its
/// messages, reports the peer to `onUnreachable`, and backs off before the next one.
///
/// Lifecycle: `setPeers` starts and stops sender threads; `close()` stops them all (waiting a
/// bounded time). After `close`, `send` drops everything and `setPeers` does nothing.
public final class PeerTransport: Sendable {
    public let configuration: TransportConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    private let droppedUnknown = Atomic<UInt64>(0)
    private let callback = CallbackSlot()
    private let threads = ThreadTracker()

    private struct State {
        var peers: [NodeID: PeerLink] = [:]
        var closed = false
    }

    /// `configuration` must pass `validate()` (checked here: a bad one is a programming error
    /// in the executable, which validates it first).
    public init(configuration: TransportConfiguration, logger: Logger) {
        do { try configuration.validate() } catch { preconditionFailure("\(error)") }
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "shard"] = "\(configuration.shard)"
        self.logger = logger
    }

    /// Called from a sender thread, once per failed request, with the peer's id (for
    /// `RawNode.reportUnreachable`). Must not block. Replaces any earlier callback.
    public func onUnreachable(_ f: @escaping @Sendable (NodeID) -> Void) {
        let box = UnreachableCallback(f)
        callback.slot.withLock { $0 = box }
    }

    /// Sets the peers (id → base URL such as `http://127.0.0.1:7002`). New peers get a queue
    /// and a sender thread; removed peers' threads stop after their current request (their
    /// queued messages are dropped); a peer whose URL changed is replaced.
    public func setPeers(_ peers: [NodeID: String]) {
        var removed: [PeerLink] = []
        var added: [PeerLink] = []
        state.withLock { state in
            guard !state.closed else { return }
            for (id, link) in state.peers where peers[id].map(InternalRoutes.trimmed) != link.baseURL {
                removed.append(link)
                state.peers[id] = nil
            }
            for (id, url) in peers where state.peers[id] == nil {
                let link = PeerLink(id: id, baseURL: url, shard: configuration.shard,
                                    capacity: configuration.queueCapacityPerPeer)
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
            startSender(link)
        }
    }

    /// Queues `messages` for their recipients. Never blocks; see the type's comment for drops.
    public func send(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        let peers = state.withLock { $0.closed ? [:] : $0.peers }
        var refused: [NodeID: UInt64] = [:]
        var unknown: UInt64 = 0
        for message in messages {
            guard let link = peers[message.to] else { unknown += 1; continue }
            if !link.queue.push(message) { refused[message.to, default: 0] += 1 }
        }
        if unknown > 0 { droppedUnknown.add(unknown, ordering: .relaxed) }
        for (id, count) in refused {
            peers[id]?.counters.withLock { $0.droppedQueueFull += count }
        }
    }

    /// Counters of every current peer.
    public var statistics: TransportStatistics {
        let peers = state.withLock { $0.peers }
        return TransportStatistics(peers: peers.mapValues(\.statistics),
                                   droppedUnknownPeer: droppedUnknown.load(ordering: .relaxed))
    }

    /// Stops every sender thread and waits for them, at most one request timeout plus a second
    /// (a request in flight cannot be interrupted). Returns false when some thread was still
    /// running at the deadline (it exits on its own once its request ends). Idempotent.
    @discardableResult
    public func close() -> Bool {
        let links: [PeerLink] = state.withLock { state in
            state.closed = true
            defer { state.peers = [:] }
            return Array(state.peers.values)
        }
        for link in links { link.stop() }
        let wait = UInt64(configuration.requestTimeoutMilliseconds + 1000) * 1_000_000
        let done = threads.waitForAll(untilNanoseconds: monotonicNanoseconds() + wait)
        if !done { logger.warning("transport: \(threads.count) sender threads still running after close") }
        return done
    }

    private func startSender(_ link: PeerLink) {
        let sender = Sender(link: link, configuration: configuration, logger: logger,
                            callback: callback, threads: threads)
        let thread = Thread { sender.run() }
        thread.name = "machdb-peer-\(link.id)"
        thread.start()
    }
}
