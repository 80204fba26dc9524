import RaftCore
import XCTest

final class FlowControlTests: XCTestCase {
    func testProposalsFailFastBeyondUncommittedBytes() throws {
        let c = Cluster(seed: 61, voters: [1, 2, 3]) { cfg in cfg.maxUncommittedBytes = 100 }
        c.elect(1)
        c.isolate(1)
        let raw = c.raw(1)
        let thirty = [UInt8](repeating: 1, count: 30)
        for _ in 0..<3 { XCTAssertNoThrow(try raw.propose(thirty)) }
        XCTAssertThrowsError(try raw.propose(thirty)) { error in
            XCTAssertEqual(error as? RaftError, .uncommittedBytesExceeded(uncommitted: 90, limit: 100))
        }
        XCTAssertEqual(raw.status.uncommittedBytes, 90)
        c.process(1)
        c.heal()
        c.run(rounds: 3)
        XCTAssertEqual(c.status(1).uncommittedBytes, 0)
        XCTAssertNoThrow(try raw.propose(thirty))
        // One entry larger than the limit still goes through on an empty backlog.
        c.process(1)
        c.run(rounds: 2)
        XCTAssertNoThrow(try raw.propose([UInt8](repeating: 2, count: 500)))
        c.process(1)
        c.run(rounds: 2)
        XCTAssertEqual(c.appliedStrings(2).count, 5)
        c.assertSafe()
    }

    /// Group commit: proposals made between two `Ready`s leave in one append per follower.
    func testProposalsAreBatchedIntoOneAppendPerFollower() throws {
        let c = Cluster(seed: 62, voters: [1, 2, 3])
        c.elect(1)
        for i in 0..<10 { try c.raw(1).propose(Array("e\(i)".utf8)) }
        c.process(1)
        let appends = c.network.map(\.message).filter { $0.kind == .append }
        XCTAssertEqual(appends.count, 2)
        XCTAssertEqual(appends.map(\.entries.count), [10, 10])
        c.deliverAll()
        XCTAssertEqual(c.appliedStrings(3).count, 10)
        c.assertSafe()
    }

    /// `maxSizePerMsg` splits batches; `maxInflightMsgs` bounds the pipeline per follower.
    func testMessageSizeAndInflightWindowAreBounded() throws {
        let c = Cluster(seed: 63, voters: [1, 2, 3]) { cfg in
            cfg.maxSizePerMsg = 100
            cfg.maxInflightMsgs = 3
            cfg.maxInflightBytes = 1_000
        }
        c.elect(1)
        c.propose(1, "warm-up")  // followers now replicate (pipelined)
        let sixty = [UInt8](repeating: 7, count: 60)
        for _ in 0..<10 { try c.raw(1).propose(sixty) }
        c.process(1)
        let toTwo = c.network.map(\.message).filter { $0.kind == .append && $0.to == 2 }
        XCTAssertEqual(toTwo.count, 3, "window of 3 messages")
        XCTAssertTrue(toTwo.allSatisfy { $0.entries.count == 1 }, "84-byte entries, 100-byte messages")
        c.deliverAll()
        XCTAssertEqual(c.appliedStrings(2).count, 11)
        c.assertSafe()
    }

    /// A follower that rejects appends (diverging log) is probed back to the match point.
    func testDivergingFollowerIsRepaired() throws {
        let c = Cluster(seed: 64, voters: [1, 2, 3])
        c.elect(1)
        c.isolate(1)
        // 1 keeps appending entries that will never commit.
        for i in 0..<5 { try c.raw(1).propose(Array("lost\(i)".utf8)) }
        c.process(1)
        c.network.removeAll()
        c.run(upTo: 100) { c.leader != nil && c.leader != 1 }
        guard let leader = c.leader, leader != 1 else { return XCTFail("no new leader") }
        for i in 0..<3 { c.propose(leader, "kept\(i)") }
        c.heal()
        c.run(rounds: 10)
        XCTAssertEqual(c.appliedStrings(1), ["kept0", "kept1", "kept2"])
        c.assertSafe()
    }
}
