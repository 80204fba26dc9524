import Glibc
import Logging
import RaftCore
import Sync

/// The loop of one peer's sender thread: keeps a stream open (reconnecting with backoff),
/// writes everything queued as one buffer per burst, and a heartbeat when idle.
struct StreamSender: Sendable {
    let link: PeerLink
    let configuration: TransportConfiguration
    let logger: Logger
    let hooks: TransportHooks
    let threads: ThreadTracker

    func run() {
        var socket: StreamSocket?
        defer {
            link.use(nil)  // before closing: nobody may shut down a descriptor number after it is closed
            socket?.close()
            threads.finished()
        }
        guard let (host, port, tls) = PeerStreamHandshake.endpoint(link.baseURL) else {
            logger.error("transport: peer \(link.id) has an unusable URL \(link.baseURL) (http(s)://host:port expected)")
            return
        }
        let baseBackoff = UInt64(configuration.backoffMilliseconds) * 1_000_000
        var backoff = baseBackoff
        var everConnected = false
        var buffer: [UInt8] = []
        let heartbeat = UInt64(configuration.heartbeatMilliseconds) * 1_000_000
        while !link.isStopped {
            guard let stream = socket else {
                do {
                    let opened = try open(host: host, port: port, tls: tls)
                    socket = opened
                    link.use(opened)
                    let recovered: UInt64 = link.counters.withLock { counters in
                        if everConnected { counters.reconnects += 1 }
                        defer { counters.consecutiveFailures = 0 }
                        return counters.consecutiveFailures
                    }
                    if recovered > 0 || everConnected {
                        logger.info("transport: stream to peer \(link.id) open again (after \(recovered) failures)")
                    }
                    everConnected = true
                    backoff = baseBackoff
                } catch {
                    failed("\(error)", lost: [])
                    dropQueued()
                    guard link.pause(nanoseconds: backoff) else { return }
                    backoff = min(backoff * 2, baseBackoff * 16)
                }
                continue
            }
            var frames = link.queue.popBatch(max: 1024, deadlineNanoseconds: monotonicNanoseconds() + heartbeat)
            if frames.isEmpty {
                if link.queue.isClosed { return }
                frames = [.heartbeat]
            }
            buffer.removeAll(keepingCapacity: true)
            let messages = encode(frames, into: &buffer)
            guard !buffer.isEmpty else { continue }
            hooks.throttle.pace(link.id, bytes: buffer.count) { link.isStopped }
            do {
                try stream.writeAll(buffer)
                link.counters.withLock { counters in
                    counters.sentFrames += UInt64(frames.count)
                    counters.sentBytes += UInt64(buffer.count)
                    counters.sentMessages += UInt64(messages)
                }
            } catch {
                link.use(nil)  // first: nobody may shut down a descriptor number after it is closed
                stream.close()
                socket = nil
                // Written in part or not at all: the peer may have read some of these frames,
                // so calls among them, and earlier ones not yet answered, are of unknown outcome.
                failed(link.isStopped ? "stopped" : "\(error)", lost: frames)
                hooks.inbox?.linkLost(link.id)
            }
            if buffer.capacity > 8 << 20 { buffer = [] }  // do not keep a rare huge burst's memory
        }
    }

    /// Connects and upgrades; the socket comes back blocking with the send timeout.
    private func open(host: String, port: UInt16, tls: Bool) throws(TransportError) -> StreamSocket {
        let socket = try StreamSocket.connect(host: host, port: port, timeoutMilliseconds: configuration.connectTimeoutMilliseconds)
        socket.makeBlocking(sendTimeoutMilliseconds: configuration.connectTimeoutMilliseconds,
                            receiveTimeoutMilliseconds: configuration.connectTimeoutMilliseconds)
        if tls { try socket.startTLS(try StreamTLS.current(), host: host) }
        try socket.writeAll(PeerStreamHandshake.request(host: host, port: port, from: configuration.nodeID,
                                                        clusterToken: configuration.clusterToken))
        do {
            _ = try PeerStreamHandshake.readAnswer(from: socket)
        } catch .handshake(let reason) {
            throw .handshake(reason)
        } catch {
            throw .handshake("no answer to the upgrade: \(error)")
        }
        socket.makeBlocking(sendTimeoutMilliseconds: configuration.sendTimeoutMilliseconds, receiveTimeoutMilliseconds: 0)
        return socket
    }

    /// Appends the wire form of `frames` (after injected faults); returns the Raft messages in it.
    private func encode(_ frames: [PeerFrame], into buffer: inout [UInt8]) -> Int {
        let faults = hooks.faults.active ? hooks.faults : nil
        if let delay = faults?.delayMilliseconds, delay > 0 { _ = link.pause(nanoseconds: UInt64(delay) * 1_000_000) }
        var messages = 0
        for frame in frames {
            for _ in 0..<(faults?.copies(of: frame, to: link.id) ?? 1) {
                frame.encode(into: &buffer)
                if case let .messages(_, batch) = frame { messages += batch.count }
            }
        }
        return messages
    }

    /// Everything queued while the link is down is stale: drop it (Raft resends what matters)
    /// and tell callers their calls were never sent.
    private func dropQueued() {
        let stale = link.queue.popBatch(max: link.queue.capacity, deadlineNanoseconds: 0)
        guard !stale.isEmpty else { return }
        link.counters.withLock { $0.droppedFailed += UInt64(stale.count) }
        let calls = stale.compactMap { frame -> UInt64? in
            if case let .call(id, _, _) = frame { return id }
            return nil
        }
        if !calls.isEmpty { hooks.inbox?.callsNotSent(calls, to: link.id) }
    }

    private func failed(_ reason: String, lost: [PeerFrame]) {
        let consecutive: UInt64 = link.counters.withLock { counters in
            counters.failures += 1
            counters.consecutiveFailures += 1
            counters.droppedFailed += UInt64(lost.count)
            counters.lastError = reason
            return counters.consecutiveFailures
        }
        hooks.inbox?.unreachable(link.id)
        if link.isStopped { return }
        if consecutive == 1 {
            logger.warning("transport: peer \(link.id) unreachable: \(reason)")
        } else {
            logger.debug("transport: peer \(link.id) still unreachable (\(consecutive) in a row): \(reason)")
        }
    }
}
