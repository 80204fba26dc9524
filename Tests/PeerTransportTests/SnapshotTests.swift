import Foundation
import PeerTransport
import Synchronization
import XCTest

final class SnapshotTests: XCTestCase {
    private var directory: URL!
    private var peers: [TestPeer] = []

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("machdb-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for peer in peers { peer.stop() }
        peers = []
        try? FileManager.default.removeItem(at: directory)
    }

    private func peer(clusterToken: String? = "cluster", bytesPerSecond: Int? = nil) throws -> TestPeer {
        let peer = try TestPeer(clusterToken: clusterToken, bytesPerSecond: bytesPerSecond)
        peers.append(peer)
        return peer
    }

    /// A file of `size` pseudo-random bytes (seeded, so failures replay).
    private func makeFile(_ name: String, size: Int, seed: UInt64 = 42) throws -> (path: String, bytes: [UInt8]) {
        var state = seed
        var bytes = [UInt8](repeating: 0, count: size)
        for index in stride(from: 0, to: size, by: 8) {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            for k in 0..<min(8, size - index) { bytes[index + k] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(k))) }
        }
        let path = directory.appendingPathComponent(name).path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return (path, bytes)
    }

    private func fetcher(attempts: Int = 3) -> SnapshotFetcher {
        var configuration = SnapshotFetcherConfiguration()
        configuration.attemptsPerChunk = attempts
        configuration.retryBackoffMilliseconds = 5
        configuration.requestTimeoutMilliseconds = 5000
        return SnapshotFetcher(configuration: configuration, logger: testLogger)
    }

    private func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }

    func testChecksumVectors() throws {
        XCTAssertEqual(SnapshotChecksum.hex(SnapshotChecksum.of([])), "cbf29ce484222325")
        XCTAssertEqual(SnapshotChecksum.of(Array("a".utf8)), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(SnapshotChecksum.of(Array("foobar".utf8)), 0x8594_4171_f739_67e8)
        XCTAssertEqual(SnapshotChecksum.parse("00000000000000ff"), 255)
        XCTAssertNil(SnapshotChecksum.parse("xyz"))
        let file = try makeFile("vector", size: 3 << 20 | 17)
        let whole = try SnapshotChecksum.ofFile(path: file.path)
        XCTAssertEqual(whole.size, Int64(file.bytes.count))
        XCTAssertEqual(whole.checksum, SnapshotChecksum.of(file.bytes), "piecewise equals whole")
    }

    func testFetchFiveMegabytesWithProgress() throws {
        let leader = try peer()
        let source = try makeFile("source", size: 5_000_000 + 123)
        try leader.handler.register(token: "snap-1", path: source.path)
        let target = directory.appendingPathComponent("received").path
        let reports = Mutex<[SnapshotProgress]>([])

        let result = try fetcher().fetch(from: leader.url, token: "snap-1", to: target, shard: 1, clusterToken: "cluster") { progress in
            reports.withLock { $0.append(progress) }
        }

        XCTAssertEqual(contents(target), source.bytes)
        XCTAssertEqual(result.size, Int64(source.bytes.count))
        XCTAssertEqual(result.checksum, SnapshotChecksum.of(source.bytes))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + ".partial"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + ".partial.info"))
        let progress = reports.withLock { $0 }
        XCTAssertEqual(progress.count, 5, "1 MiB chunks")
        XCTAssertEqual(progress.map(\.bytes), progress.map(\.bytes).sorted())
        XCTAssertEqual(progress.last?.bytes, Int64(source.bytes.count))
        XCTAssertEqual(progress.last?.percent, 100)
        XCTAssertEqual(progress.last?.etaSeconds, 0)
        XCTAssertGreaterThan(progress.last?.bytesPerSecond ?? 0, 0)
        XCTAssertEqual(leader.handler.recorded.withLock { $0.snapshotOffsets }, [0, 1, 2, 3, 4].map { Int64($0 << 20) })

        let served = try XCTUnwrap(leader.handler.snapshots.progress(token: "snap-1"))
        XCTAssertEqual(served.bytes, served.total)
        XCTAssertEqual(served.percent, 100)
        XCTAssertEqual(leader.handler.snapshots.progress.map(\.token), ["snap-1"])
        leader.handler.snapshots.forget(token: "snap-1")
        XCTAssertNil(leader.handler.snapshots.progress(token: "snap-1"))
    }

    func testInterruptedFetchResumesFromThePartialFile() throws {
        let leader = try peer()
        let source = try makeFile("source", size: 4_500_000)
        try leader.handler.register(token: "snap-2", path: source.path)
        let target = directory.appendingPathComponent("received").path
        leader.handler.faults.withLock { $0.failAfterChunks = 2 }

        XCTAssertThrowsError(try fetcher(attempts: 2).fetch(from: leader.url, token: "snap-2", to: target, shard: 1,
                                                            clusterToken: "cluster") { _ in }) { error in
            guard case .snapshotFetchFailed(_, let attempts, let last)? = error as? TransportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(attempts, 2)
            XCTAssertTrue(last.contains("500"), last)
        }
        XCTAssertEqual(contents(target + ".partial")?.count, 2 << 20, "two chunks kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))

        leader.handler.faults.withLock { $0.failAfterChunks = nil }
        leader.handler.recorded.withLock { $0.snapshotOffsets = [] }
        let first = Mutex<SnapshotProgress?>(nil)
        try fetcher().fetch(from: leader.url, token: "snap-2", to: target, shard: 1, clusterToken: "cluster") { progress in
            first.withLock { if $0 == nil { $0 = progress } }
        }
        XCTAssertEqual(leader.handler.recorded.withLock { $0.snapshotOffsets }, [2 << 20, 3 << 20, 4 << 20],
                       "the second fetch starts where the first stopped")
        XCTAssertEqual(first.withLock { $0 }?.bytes, 3 << 20, "progress counts the resumed prefix")
        XCTAssertEqual(contents(target), source.bytes)
    }

    func testPartialOfAnotherSnapshotIsDiscarded() throws {
        let leader = try peer()
        let source = try makeFile("source", size: 1_500_000)
        try leader.handler.register(token: "snap-3", path: source.path)
        let target = directory.appendingPathComponent("received").path
        // A partial download of an older snapshot that was served under the same token.
        XCTAssertTrue(FileManager.default.createFile(atPath: target + ".partial", contents: Data(repeating: 7, count: 500_000)))
        XCTAssertTrue(FileManager.default.createFile(atPath: target + ".partial.info",
                                                     contents: Data("snap-3 1500000 0123456789abcdef\n".utf8)))
        try fetcher().fetch(from: leader.url, token: "snap-3", to: target, shard: 1, clusterToken: "cluster") { _ in }
        XCTAssertEqual(contents(target), source.bytes)
        XCTAssertEqual(leader.handler.recorded.withLock { $0.snapshotOffsets }, [500_000, 0, 1 << 20])
    }

    func testRateLimitPacesTheTransfer() throws {
        let leader = try peer(bytesPerSecond: 4_000_000)
        let source = try makeFile("source", size: 2_000_000)
        try leader.handler.register(token: "snap-4", path: source.path)
        let target = directory.appendingPathComponent("received").path
        let started = Date()
        let last = Mutex<SnapshotProgress?>(nil)
        try fetcher().fetch(from: leader.url, token: "snap-4", to: target, shard: 1, clusterToken: "cluster") { progress in
            last.withLock { $0 = progress }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(elapsed, 0.45, "2 MB at 4 MB/s takes 0.5 s")
        XCTAssertLessThan(elapsed, 3)
        XCTAssertLessThanOrEqual(last.withLock { $0 }?.bytesPerSecond ?? .infinity, 4_400_000)
        XCTAssertEqual(contents(target), source.bytes)
        XCTAssertTrue(leader.handler.recorded.withLock { $0.snapshotOffsets }.count >= 2, "chunks capped to a quarter second")
    }

    func testRateLimitIsSharedByConcurrentTransfers() throws {
        let leader = try peer(bytesPerSecond: 8_000_000)
        let source = try makeFile("source", size: 2_000_000)
        try leader.handler.register(token: "a", path: source.path)
        try leader.handler.register(token: "b", path: source.path)
        let started = Date()
        let failures = Mutex(0)
        let group = DispatchGroup()
        for token in ["a", "b"] {
            group.enter()
            let target = directory.appendingPathComponent("received-\(token)").path
            let fetcher = fetcher()
            let url = leader.url
            Thread.detachNewThread {
                defer { group.leave() }
                do { try fetcher.fetch(from: url, token: token, to: target, shard: 1, clusterToken: "cluster") { _ in } }
                catch { failures.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(failures.withLock { $0 }, 0)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.45, "4 MB in total at 8 MB/s takes 0.5 s")
    }

    func testCorruptedChunkFailsTheChecksum() throws {
        let leader = try peer()
        let source = try makeFile("source", size: 2_500_000)
        try leader.handler.register(token: "snap-5", path: source.path)
        leader.handler.faults.withLock { $0.corruptChunk = 1 }
        let target = directory.appendingPathComponent("received").path
        XCTAssertThrowsError(try fetcher().fetch(from: leader.url, token: "snap-5", to: target, shard: 1,
                                                 clusterToken: "cluster") { _ in }) { error in
            guard case .snapshotMismatch(_, let expectedSize, let actualSize, let expected, let actual)? = error as? TransportError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(expectedSize, actualSize)
            XCTAssertNotEqual(expected, actual)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + ".partial"), "bad bytes are not resumed")

        leader.handler.faults.withLock { $0.corruptChunk = nil }
        try fetcher().fetch(from: leader.url, token: "snap-5", to: target, shard: 1, clusterToken: "cluster") { _ in }
        XCTAssertEqual(contents(target), source.bytes)
    }

    func testRefusalsAreNotRetried() throws {
        let leader = try peer()
        let source = try makeFile("source", size: 1000)
        try leader.handler.register(token: "snap-6", path: source.path)
        let target = directory.appendingPathComponent("received").path
        for (token, clusterToken, status) in [("snap-6", "wrong", 401), ("snap-6", nil, 401), ("gone", "cluster", 404)] as [(String, String?, Int)] {
            XCTAssertThrowsError(try fetcher().fetch(from: leader.url, token: token, to: target, shard: 1,
                                                     clusterToken: clusterToken) { _ in }) { error in
                XCTAssertEqual((error as? TransportError)?.status, status, "\(error)")
            }
        }
        XCTAssertEqual(leader.handler.recorded.withLock { $0.unauthorized }, 2, "one try each")
    }

    func testASnapshotFetchedAgainStartsItsProgressOver() throws {
        // A second follower (or a retry) fetching the same snapshot must not show as complete.
        let server = SnapshotServer(bytesPerSecond: nil)
        let source = try makeFile("again", size: 100)
        let checksum = SnapshotChecksum.of(source.bytes)
        for offset in [0, 40, 80] {
            _ = try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: Int64(offset), maxLength: 40)
        }
        XCTAssertEqual(server.progress(token: "t")?.bytes, 100)
        _ = try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 0, maxLength: 40)
        XCTAssertEqual(server.progress(token: "t")?.bytes, 40)
        XCTAssertEqual(server.progress(token: "t")?.total, 100)
        _ = try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 40, maxLength: 40)
        XCTAssertEqual(server.progress(token: "t")?.bytes, 80)
    }

    func testServerChunkBounds() throws {
        let server = SnapshotServer(bytesPerSecond: nil)
        let source = try makeFile("source", size: 100)
        let checksum = SnapshotChecksum.of(source.bytes)
        let chunk = try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 90, maxLength: 1 << 20)
        XCTAssertEqual(chunk.bytes, Array(source.bytes[90...]))
        let headers = Dictionary(uniqueKeysWithValues: chunk.headers.map { ($0.name, $0.value) })
        XCTAssertEqual(headers["X-Machdb-Snapshot-Size"], "100")
        XCTAssertEqual(headers["X-Machdb-Snapshot-Offset"], "90")
        XCTAssertEqual(headers["X-Machdb-Snapshot-Checksum"], SnapshotChecksum.hex(checksum))
        XCTAssertEqual(headers["Content-Type"], "application/octet-stream")
        XCTAssertEqual(try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 100, maxLength: 10).bytes, [])
        XCTAssertThrowsError(try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 101, maxLength: 10)) {
            XCTAssertEqual(($0 as? TransportError)?.status, 416)
        }
        XCTAssertThrowsError(try server.chunk(token: "t", path: source.path, size: 200, checksum: checksum, offset: 0, maxLength: 200)) {
            XCTAssertEqual(($0 as? TransportError)?.status, 500, "a file shorter than announced")
        }
        server.close()
        XCTAssertThrowsError(try server.chunk(token: "t", path: source.path, size: 100, checksum: checksum, offset: 0, maxLength: 10)) {
            XCTAssertEqual($0 as? TransportError, .closed)
        }
    }
}
