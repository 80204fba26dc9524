import Glibc
import Logging
import RaftCore
import Sync
import Synchronization

/// Reads one accepted peer stream on a thread of its own and hands each frame to the inbox.
/// A malformed frame, end of stream, or silence past the idle timeout ends it.
final class StreamReceiver: Sendable {
    let peer: NodeID
    private let socket: StreamSocket
    private let leftover: [UInt8]
    private let release: @Sendable () -> Void
    private let stopped = Atomic<Bool>(false)
    /// Set once `run` has handed the socket back: `stop` must not touch it after that.
    private let released = Mutex(false)

    init(peer: NodeID, socket: StreamSocket, leftover: [UInt8], release: @escaping @Sendable () -> Void) {
        self.peer = peer
        self.socket = socket
        self.leftover = leftover
        self.release = release
    }

    /// Whether `stop` ended it (replaced by a newer stream, or the transport closed) rather than
    /// the peer or the network.
    var wasStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Ends the stream from another thread: the blocked read returns, the loop exits.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        released.withLock { done in if !done { socket.shutdownNow() } }
    }

    /// The loop; returns when the stream ends. `count` records received frames, bytes, messages.
    func run(idleTimeoutMilliseconds: Int, hooks: TransportHooks, logger: Logger,
             count: (_ frames: UInt64, _ bytes: UInt64, _ messages: UInt64) -> Void) {
        defer {
            released.withLock { $0 = true }
            socket.close()
            release()
        }
        socket.makeBlocking(sendTimeoutMilliseconds: 1000, receiveTimeoutMilliseconds: idleTimeoutMilliseconds)
        var reader = FrameReader()
        reader.feed(leftover)
        var chunk = [UInt8](repeating: 0, count: 256 << 10)
        var pending = !leftover.isEmpty
        while !stopped.load(ordering: .relaxed) {
            if !pending {
                while hooks.faults.pausesReading(peer) && !stopped.load(ordering: .relaxed) { usleepMilliseconds(20) }
                let received: Int
                do {
                    received = try socket.read(into: &chunk)
                } catch {
                    if !stopped.load(ordering: .relaxed) { logger.info("transport: stream from peer \(peer) ended: \(error)") }
                    return
                }
                guard received > 0 else { return }
                chunk.withUnsafeBytes { reader.feed(UnsafeRawBufferPointer(rebasing: $0[0..<received])) }
                count(0, UInt64(received), 0)
            }
            pending = false
            var frames: UInt64 = 0, messages: UInt64 = 0
            do {
                while let body = try reader.next() {
                    // Replaced by a newer stream from the same peer: deliver nothing more, so
                    // frames never arrive out of order (the sender counts these as lost).
                    if stopped.load(ordering: .relaxed) { break }
                    frames += 1
                    let frame = try PeerFrame.decode(body)
                    if hooks.faults.ignores(peer) { continue }
                    guard let inbox = hooks.inbox else { continue }
                    switch frame {
                    case let .messages(shard, batch):
                        messages += UInt64(batch.count)
                        inbox.deliver(batch, shard: shard, from: peer)
                    case .heartbeat: break
                    case let .call(id, shard, payload): inbox.call(id: id, shard: shard, payload: payload, from: peer)
                    case let .reply(id, payload): inbox.reply(id: id, payload: payload, from: peer)
                    }
                }
            } catch {
                logger.warning("transport: dropping the stream from peer \(peer): \(error)")
                count(frames, 0, messages)
                return
            }
            count(frames, 0, messages)
        }
    }
}

func usleepMilliseconds(_ milliseconds: Int) { sleep(nanoseconds: UInt64(milliseconds) * 1_000_000) }

/// Sleeps this long (the rest of it again when a signal cut it short).
func sleep(nanoseconds: UInt64) {
    var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
