import Curl
import Logging
import RaftCore
import Sync
#if canImport(Glibc)
import Glibc
#endif

/// Settings of snapshot downloads.
public struct SnapshotFetcherConfiguration: Sendable {
    /// Bytes asked for per request (the server may send fewer).
    public var chunkBytes: Int = 1 << 20
    /// Tries per chunk before `fetch` gives up (the partial file stays for the next attempt).
    public var attemptsPerChunk: Int = 4
    /// Pause after a failed try; doubles with each further try of the same chunk.
    public var retryBackoffMilliseconds: Int = 200
    /// Whole-request timeout per chunk; it includes the server's rate-limit pacing.
    public var requestTimeoutMilliseconds: Int = 30_000

    public init() {}

    public func validate() throws(TransportError) {
        func check(_ ok: Bool, _ what: String) throws(TransportError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        try check((4 << 10...SnapshotServer.maxChunkBytes).contains(chunkBytes), "snapshot chunk bytes must be 4 KiB...8 MiB")
        try check((1...100).contains(attemptsPerChunk), "snapshot attempts per chunk must be 1...100")
        try check((1...60_000).contains(retryBackoffMilliseconds), "snapshot retry backoff must be 1...60000 ms")
        try check((100...600_000).contains(requestTimeoutMilliseconds), "snapshot request timeout must be 100...600000 ms")
    }
}

/// Downloads a snapshot file from a peer's `GET .../snapshots/{token}` in chunks, resumably.
///
/// Bytes go to `path + ".partial"`; `path + ".partial.info"` records which snapshot (token,
/// size, checksum) the partial file belongs to, so an interrupted download resumes from the
/// partial file's size when the peer still serves the same snapshot, and starts over otherwise.
/// At the end the whole file is checked against the announced size and checksum, fsynced, and
/// renamed to `path` (the directory is fsynced too). On a checksum mismatch the partial file is
/// deleted. `fetch` blocks its caller; run it on a thread of its own.
public final class SnapshotFetcher: Sendable {
    public let configuration: SnapshotFetcherConfiguration
    private let logger: Logger

    public init(configuration: SnapshotFetcherConfiguration = SnapshotFetcherConfiguration(), logger: Logger) {
        do { try configuration.validate() } catch { preconditionFailure("\(error)") }
        self.configuration = configuration
        self.logger = logger
    }

    /// Fetches snapshot `token` of `shard` from the peer at `baseURL` into `path`, calling
    /// `progress` after every chunk (on the caller's thread). Returns the file's size and checksum.
    ///
    /// Throws `.snapshotRefused` for an answer retrying cannot fix (401, 404: the peer no longer
    /// has that snapshot), `.snapshotFetchFailed` when a chunk failed `attemptsPerChunk` times,
    /// `.snapshotProtocol` for inconsistent answers, `.snapshotMismatch` when the file is wrong
    /// at the end, `.snapshotWrite` for local I/O errors. The caller retries later.
    @discardableResult
    public func fetch(from baseURL: String, token: String, to path: String, shard: Int, clusterToken: String?,
                      peer: NodeID? = nil, progress: @escaping @Sendable (SnapshotProgress) -> Void) throws(TransportError)
        -> (size: Int64, checksum: UInt64) {
        let url = InternalRoutes.trimmed(baseURL) + InternalRoutes.snapshotPath(shard: shard, token: token)
        var logger = self.logger
        logger[metadataKey: "shard"] = "\(shard)"
        let partialPath = path + ".partial"
        let infoPath = path + ".partial.info"
        let client: HTTPClient
        do { client = try HTTPClient() } catch {
            throw .snapshotFetchFailed(url: url, attempts: 0, lastError: error.description)
        }
        var announced = try resumableState(token: token, partialPath: partialPath, infoPath: infoPath)
        let file = try PosixFile.open(partialPath, mode: .write)
        var offset = try file.size()
        if announced == nil { try file.truncate(to: 0); offset = 0 }
        let resumedAt = offset
        let started = monotonicNanoseconds()
        var loggedDecile = -1
        logger.info("snapshot \(token): fetching from \(url)\(offset > 0 ? ", resuming at \(offset) bytes" : "")")

        while true {
            let chunk = try fetchChunk(client: client, url: url, offset: offset, clusterToken: clusterToken, peer: peer)
            if let known = announced, known.size != chunk.size || known.checksum != chunk.checksum {
                guard offset == resumedAt, resumedAt > 0 else {
                    throw .snapshotProtocol(url: url, reason: "size or checksum changed during the transfer")
                }
                // The partial file belongs to another snapshot served under this token: start over.
                logger.info("snapshot \(token): the partial download is of another snapshot; starting over")
                try file.truncate(to: 0)
                offset = 0
                announced = nil
                continue
            }
            if announced == nil {
                announced = (chunk.size, chunk.checksum)
                try FileSystem.writeAll(infoPath, "\(token) \(chunk.size) \(SnapshotChecksum.hex(chunk.checksum))\n")
            }
            let size = chunk.size
            guard Int64(chunk.bytes.count) <= size - offset else {
                throw .snapshotProtocol(url: url, reason: "chunk at \(offset) runs past the end (\(size) bytes)")
            }
            guard !chunk.bytes.isEmpty || offset == size else {
                throw .snapshotProtocol(url: url, reason: "empty chunk at \(offset) of \(size) bytes")
            }
            try file.write(chunk.bytes, at: offset)
            offset += Int64(chunk.bytes.count)

            let report = SnapshotProgress.measure(token: token, bytes: offset, total: size,
                                                  moved: offset - resumedAt, startedAt: started)
            progress(report)
            let decile = Int(report.percent / 10)
            if decile > loggedDecile {
                loggedDecile = decile
                let eta = report.etaSeconds.map { ", ETA \(Int($0.rounded(.up))) s" } ?? ""
                logger.info("snapshot \(token): \(offset)/\(size) bytes (\(Int(report.percent)) %), \(Int(report.bytesPerSecond)) B/s\(eta)")
            }
            if offset == size { break }
        }

        guard let expected = announced else { preconditionFailure("a finished transfer has an announced size") }
        try file.sync()
        let actual = try SnapshotChecksum.ofFile(path: partialPath)
        guard actual.size == expected.size, actual.checksum == expected.checksum else {
            FileSystem.remove(partialPath)
            FileSystem.remove(infoPath)
            throw .snapshotMismatch(path: path, expectedSize: expected.size, actualSize: actual.size,
                                    expectedChecksum: expected.checksum, actualChecksum: actual.checksum)
        }
        try FileSystem.rename(partialPath, path)
        FileSystem.remove(infoPath)
        try FileSystem.syncDirectory(of: path)
        let milliseconds = (monotonicNanoseconds() - started) / 1_000_000
        logger.info("snapshot \(token): complete, \(expected.size) bytes, checksum \(SnapshotChecksum.hex(expected.checksum)), \(milliseconds) ms")
        return expected
    }

    /// The snapshot a partial download belongs to, when it is `token`'s and not past its end;
    /// otherwise nil (the partial file is discarded).
    private func resumableState(token: String, partialPath: String, infoPath: String) throws(TransportError)
        -> (size: Int64, checksum: UInt64)? {
        guard let partialSize = FileSystem.size(partialPath), let info = try FileSystem.readAll(infoPath) else {
            FileSystem.remove(infoPath)
            return nil
        }
        let fields = info.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, fields[0] == token, let size = Int64(fields[1]), size >= partialSize,
              let checksum = SnapshotChecksum.parse(String(fields[2])) else {
            FileSystem.remove(infoPath)
            return nil
        }
        return (size, checksum)
    }

    private struct Chunk {
        var bytes: [UInt8]
        var size: Int64
        var checksum: UInt64
    }

    /// One chunk, retried with backoff on connection errors, timeouts and 5xx.
    private func fetchChunk(client: HTTPClient, url: String, offset: Int64, clusterToken: String?,
                            peer: NodeID?) throws(TransportError) -> Chunk {
        var headers: [(name: String, value: String)] = []
        // Who downloads: the server paces a silent replica (see `CatchUpThrottle`).
        if let peer { headers.append((name: PeerStreamHandshake.peerHeader, value: String(peer))) }
        if let authorization = InternalAuth.headerValue(clusterToken: clusterToken) {
            headers.append((name: "Authorization", value: authorization))
        }
        let request = ClientRequest(url: "\(url)?offset=\(offset)&length=\(configuration.chunkBytes)", headers: headers,
                                    timeoutMilliseconds: configuration.requestTimeoutMilliseconds)
        var lastError = ""
        var backoff = UInt64(configuration.retryBackoffMilliseconds) * 1_000_000
        for attempt in 1...configuration.attemptsPerChunk {
            if attempt > 1 {
                logger.debug("snapshot: retrying \(request.url) in \(backoff / 1_000_000) ms after: \(lastError)")
                sleep(nanoseconds: backoff)
                backoff *= 2
            }
            let response: ClientResponse
            do { response = try client.perform(request) } catch {
                lastError = error.description
                continue
            }
            switch response.status {
            case 200:
                return try parse(response, url: request.url, offset: offset)
            case 500..<600, 408, 429:
                lastError = "HTTP \(response.status): \(String(response.text.prefix(200)))"
            default:
                throw .snapshotRefused(url: request.url, status: response.status, body: String(response.text.prefix(200)))
            }
        }
        throw .snapshotFetchFailed(url: request.url, attempts: configuration.attemptsPerChunk, lastError: lastError)
    }

    private func parse(_ response: ClientResponse, url: String, offset: Int64) throws(TransportError) -> Chunk {
        guard let size = response.header(InternalRoutes.snapshotSizeHeader).flatMap({ Int64($0) }), size >= 0 else {
            throw .snapshotProtocol(url: url, reason: "missing or bad \(InternalRoutes.snapshotSizeHeader)")
        }
        guard let checksum = response.header(InternalRoutes.snapshotChecksumHeader).flatMap(SnapshotChecksum.parse) else {
            throw .snapshotProtocol(url: url, reason: "missing or bad \(InternalRoutes.snapshotChecksumHeader)")
        }
        guard response.header(InternalRoutes.snapshotOffsetHeader).flatMap({ Int64($0) }) == offset else {
            throw .snapshotProtocol(url: url, reason: "\(InternalRoutes.snapshotOffsetHeader) does not echo \(offset)")
        }
        return Chunk(bytes: response.body, size: size, checksum: checksum)
    }

}
