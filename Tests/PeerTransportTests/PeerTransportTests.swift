import Foundation
import PeerTransport
import RaftCore
import XCTest

final class PeerTransportTests: XCTestCase {
    private var peers: [TestPeer] = []
    private var transports: [PeerTransport] = []

    override func tearDown() {
        for transport in transports { XCTAssertTrue(transport.close(), "sender threads stop within the bound") }
        for peer in peers { peer.stop() }
        transports = []
        peers = []
    }

    private func peer(clusterToken: String? = nil) throws -> TestPeer {
        let peer = try TestPeer(clusterToken: clusterToken)
        peers.append(peer)
        return peer
    }

    private func transport(_ configure: (inout TransportConfiguration) -> Void = { _ in }) -> PeerTransport {
        var configuration = TransportConfiguration()
        configuration.backoffMilliseconds = 20
        configuration.requestTimeoutMilliseconds = 1000
        configure(&configuration)
        let transport = PeerTransport(configuration: configuration, logger: testLogger)
        transports.append(transport)
        return transport
    }

    func testBatchedDeliveryInOrderToTwoPeers() throws {
        let two = try peer(), three = try peer()
        let transport = transport()
        transport.setPeers([2: two.url, 3: three.url + "/"])  // a trailing slash is tolerated

        let perPeer: UInt64 = 600
        for round in 0..<(perPeer / 6) {
            var messages: [Message] = []
            for k in 0..<6 {
                let index = round * 6 + UInt64(k)
                messages.append(appendMessage(to: 2, index: index))
                messages.append(appendMessage(to: 3, index: index))
            }
            transport.send(messages)
        }
        waitUntil("all messages delivered and acknowledged") {
            let statistics = transport.statistics
            return statistics.peers[2]?.sentMessages == perPeer && statistics.peers[3]?.sentMessages == perPeer
        }

        for peer in [two, three] {
            XCTAssertEqual(peer.messages.map(\.index), Array(0..<perPeer), "order per peer is preserved")
        }
        XCTAssertTrue(two.messages.allSatisfy { $0.to == 2 } && three.messages.allSatisfy { $0.to == 3 })
        XCTAssertEqual(two.messages[7], appendMessage(to: 2, index: 7), "messages arrive intact")
        let statistics = transport.statistics
        XCTAssertEqual(statistics.peers[2]?.sentMessages, perPeer)
        XCTAssertEqual(statistics.peers[3]?.sentMessages, perPeer)
        XCTAssertEqual(statistics.peers[2]?.sentBatches, UInt64(two.batches.count))
        XCTAssertEqual(statistics.peers[2]?.dropped, 0)
        XCTAssertEqual(statistics.peers[2]?.failures, 0)
        XCTAssertEqual(statistics.peers[2]?.queueDepth, 0)
        XCTAssertEqual(statistics.droppedUnknownPeer, 0)
        XCTAssertEqual(two.server.connections, 1, "one keep-alive connection per peer")
        XCTAssertEqual(three.server.connections, 1)
    }

    func testBacklogIsOneRequestAndLargeBacklogIsSplitByBytes() throws {
        let two = try peer()
        let transport = transport { $0.maxBatchBytes = 64 << 10 }
        transport.setPeers([2: two.url])
        two.handler.faults.withLock { $0.holdBatches = true }

        transport.send([appendMessage(to: 2, index: 0)])
        waitUntil("the first request in flight") { two.handler.recorded.withLock { $0.heldRequests } == 1 }
        // While that request is in flight, 100 small and 40 × 4 KiB messages queue up.
        for index in 1...100 { transport.send([appendMessage(to: 2, index: UInt64(index))]) }
        transport.send((101...140).map { appendMessage(to: 2, index: UInt64($0), payload: 4096) })
        XCTAssertEqual(transport.statistics.peers[2]?.queueDepth, 140)
        two.handler.release()

        waitUntil("the backlog delivered") { two.messages.count == 141 }
        let sizes = two.batches.map(\.count)
        XCTAssertEqual(sizes.first, 1)
        XCTAssertGreaterThan(sizes[1], 100, "the whole backlog goes out at once, up to the byte limit: \(sizes)")
        XCTAssertTrue((4...5).contains(sizes.count), "about 180 KiB of backlog in requests of at most 64 KiB: \(sizes)")
        XCTAssertTrue(two.batches.allSatisfy { Message.encodeBatch($0).count <= 64 << 10 })
        XCTAssertEqual(two.messages.map(\.index), Array(0...140))
    }

    func testUnreachablePeerIsReportedAndDoesNotBlockTheOthers() throws {
        let two = try peer()
        let transport = transport()
        let unreachable = UnreachableLog()
        transport.onUnreachable { unreachable.record($0) }
        transport.setPeers([2: two.url, 3: "http://127.0.0.1:\(try deadPort())"])

        let started = Date()
        for index in 0..<200 {
            transport.send([appendMessage(to: 2, index: UInt64(index)), appendMessage(to: 3, index: UInt64(index))])
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "send never blocks")

        waitUntil("delivery to the live peer") { two.messages.count == 200 }
        waitUntil("the dead peer reported") { unreachable.all.contains(3) }
        waitUntil("every message to the dead peer dropped and counted") { transport.statistics.peers[3]?.droppedFailed == 200 }
        XCTAssertEqual(two.messages.map(\.index), Array(0..<200))
        XCTAssertFalse(unreachable.all.contains(2))

        let dead = try XCTUnwrap(transport.statistics.peers[3])
        XCTAssertGreaterThanOrEqual(dead.failures, 1)
        XCTAssertEqual(dead.queueDepth, 0)
        XCTAssertEqual(dead.sentMessages, 0)
        XCTAssertNotNil(dead.lastError)
        XCTAssertEqual(transport.statistics.peers[2]?.failures, 0)
    }

    func testFullQueueAndUnknownPeerDropsAreCounted() throws {
        let two = try peer()
        let transport = transport { $0.queueCapacityPerPeer = 4 }
        transport.setPeers([2: two.url])
        two.handler.faults.withLock { $0.holdBatches = true }

        transport.send([appendMessage(to: 2, index: 0)])
        waitUntil("the first request in flight") { two.handler.recorded.withLock { $0.heldRequests } == 1 }
        transport.send((1...10).map { appendMessage(to: 2, index: UInt64($0)) })
        transport.send([appendMessage(to: 9, index: 0), appendMessage(to: 9, index: 1)])

        var statistics = transport.statistics
        XCTAssertEqual(statistics.peers[2]?.queueDepth, 4)
        XCTAssertEqual(statistics.peers[2]?.droppedQueueFull, 6)
        XCTAssertEqual(statistics.droppedUnknownPeer, 2)

        two.handler.release()
        waitUntil("the queued messages acknowledged") { transport.statistics.peers[2]?.sentMessages == 5 }
        XCTAssertEqual(two.batches.map { $0.map(\.index) }, [[0], [1, 2, 3, 4]])
        statistics = transport.statistics
        XCTAssertEqual(statistics.peers[2]?.sentMessages, 5)
        XCTAssertEqual(statistics.peers[2]?.sentBatches, 2)
        XCTAssertEqual(statistics.peers[2]?.dropped, 6)
    }

    func testClusterTokenIsRequiredAndChecked() throws {
        let secured = try peer(clusterToken: "s3cret-token")
        for token in ["wrong-token", nil] as [String?] {
            let transport = transport { $0.clusterToken = token }
            let unreachable = UnreachableLog()
            transport.onUnreachable { unreachable.record($0) }
            transport.setPeers([2: secured.url])
            transport.send([appendMessage(to: 2, index: 1)])
            waitUntil("the refusal reported") { unreachable.all == [2] }
            let statistics = try XCTUnwrap(transport.statistics.peers[2])
            XCTAssertEqual(statistics.failures, 1)
            XCTAssertEqual(statistics.droppedFailed, 1)
            XCTAssertTrue(statistics.lastError?.hasPrefix("HTTP 401") ?? false, "\(statistics.lastError ?? "nil")")
        }
        XCTAssertEqual(secured.handler.recorded.withLock { $0.unauthorized }, 2)
        XCTAssertTrue(secured.messages.isEmpty, "nothing gets through without the token")

        let transport = transport { $0.clusterToken = "s3cret-token" }
        transport.setPeers([2: secured.url])
        transport.send([appendMessage(to: 2, index: 1)])
        waitUntil("delivery with the right token") { secured.messages.count == 1 }

        // A node without a token refuses requests that carry one (misconfigured cluster).
        let open = try peer(clusterToken: nil)
        let tokenSender = self.transport { $0.clusterToken = "s3cret-token" }
        tokenSender.setPeers([2: open.url])
        tokenSender.send([appendMessage(to: 2, index: 1)])
        waitUntil("the refusal counted") { tokenSender.statistics.peers[2]?.failures == 1 }
        XCTAssertTrue(open.messages.isEmpty)
    }

    func testPeerRecoversAfterFailures() throws {
        let two = try peer(clusterToken: "t")
        let bad = transport { $0.clusterToken = "x" }
        bad.setPeers([2: two.url])
        bad.send([appendMessage(to: 2, index: 0)])
        waitUntil("a failure") { bad.statistics.peers[2]?.failures == 1 }

        // The same peer behind a corrected URL: a changed URL replaces the sender.
        let good = transport { $0.clusterToken = "t" }
        good.setPeers([2: "http://127.0.0.1:\(try deadPort())"])
        good.send([appendMessage(to: 2, index: 0)])
        waitUntil("a failure") { good.statistics.peers[2]?.failures == 1 }
        good.setPeers([2: two.url])
        XCTAssertEqual(good.statistics.peers[2]?.failures, 0, "a new URL starts new counters")
        good.send([appendMessage(to: 2, index: 1)])
        waitUntil("delivery") { two.messages.count == 1 }
    }

    func testRemovedPeerStopsAndCloseIsPrompt() throws {
        let two = try peer(), three = try peer()
        let transport = transport()
        transport.setPeers([2: two.url, 3: three.url])
        transport.send([appendMessage(to: 2, index: 0), appendMessage(to: 3, index: 0)])
        waitUntil("delivery") { two.messages.count == 1 && three.messages.count == 1 }

        transport.setPeers([2: two.url])
        XCTAssertEqual(Array(transport.statistics.peers.keys), [2])
        transport.send([appendMessage(to: 3, index: 1)])
        XCTAssertEqual(transport.statistics.droppedUnknownPeer, 1)

        let started = Date()
        XCTAssertTrue(transport.close())
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5)
        transport.send([appendMessage(to: 2, index: 1)])
        XCTAssertEqual(transport.statistics.droppedUnknownPeer, 2, "after close everything is dropped")
        XCTAssertTrue(transport.statistics.peers.isEmpty)
        XCTAssertEqual(two.messages.count, 1)
    }

    func testConfigurationValidation() {
        XCTAssertNoThrow(try TransportConfiguration().validate())
        var bad = TransportConfiguration()
        bad.clusterToken = "has space"
        XCTAssertThrowsError(try bad.validate())
        bad = TransportConfiguration()
        bad.queueCapacityPerPeer = 0
        XCTAssertThrowsError(try bad.validate())
        bad = TransportConfiguration()
        bad.shard = 0
        XCTAssertThrowsError(try bad.validate())
        XCTAssertNoThrow(try SnapshotFetcherConfiguration().validate())
    }
}
