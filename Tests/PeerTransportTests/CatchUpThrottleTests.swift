import PeerTransport
import RaftCore
import Sync
import XCTest

/// The pacing of silent replicas (docs/ARCHITECTURE.md, "Throttled silent replica").
final class CatchUpThrottleTests: XCTestCase {
    func seconds(_ body: () -> Void) -> Double {
        let start = monotonicNanoseconds()
        body()
        return Double(monotonicNanoseconds() - start) / 1e9
    }

    func testASilentPeerIsPacedAtTheRateAndOthersNot() {
        let throttle = CatchUpThrottle()
        throttle.set(silent: [2], known: [2, 3], bytesPerSecond: 1_000_000)
        // 400 KB in 40 sends of 10 KB: 0.4 s at 1 MB/s.
        let paced = seconds { for _ in 0..<40 { throttle.pace(2, bytes: 10_000) } }
        XCTAssertEqual(paced, 0.4, accuracy: 0.06)
        let free = seconds { for _ in 0..<40 { throttle.pace(3, bytes: 10_000) } }
        XCTAssertLessThan(free, 0.01)
        XCTAssertEqual(throttle.totals.bytes, 400_000)
        XCTAssertGreaterThan(throttle.totals.seconds, 0.3)
        XCTAssertEqual(throttle.current.peers, 1)
    }

    func testNoRateMeansNobodyIsPaced() {
        let throttle = CatchUpThrottle()
        throttle.set(silent: [2], known: [2, 3], bytesPerSecond: 0)
        XCTAssertFalse(throttle.isThrottled(2))
        XCTAssertLessThan(seconds { throttle.pace(2, bytes: 10_000_000) }, 0.01)
    }

    /// The planner needs the node: the throttle lifts in the middle of a wait.
    func testLiftingEndsAWaitAtOnce() {
        let throttle = CatchUpThrottle()
        throttle.set(silent: [2], known: [2, 3], bytesPerSecond: 100_000)
        let lifter = Thread {
            usleep(150_000)
            throttle.set(silent: [], known: [2], bytesPerSecond: 100_000)
        }
        lifter.start()
        // 1 MB at 100 KB/s would take 10 s.
        let waited = seconds { throttle.pace(2, bytes: 1_000_000) }
        XCTAssertLessThan(waited, 0.5)
        XCTAssertGreaterThan(waited, 0.1)
    }

    /// A node that joined since the last decision is paced for snapshots, not for the log.
    func testNewcomersArePacedOnlyWhereAsked() {
        let throttle = CatchUpThrottle()
        throttle.set(silent: [], known: [1], bytesPerSecond: 1_000_000)
        XCTAssertTrue(throttle.isThrottled(9, newcomers: true))
        XCTAssertFalse(throttle.isThrottled(9))
        XCTAssertFalse(throttle.isThrottled(1, newcomers: true))
        XCTAssertEqual(seconds { throttle.pace(9, bytes: 100_000, newcomers: true) }, 0.1, accuracy: 0.04)
        XCTAssertLessThan(seconds { throttle.pace(9, bytes: 100_000) }, 0.01)
    }

    func testAStoppedSenderDoesNotWait() {
        let throttle = CatchUpThrottle()
        throttle.set(silent: [2], known: [2, 3], bytesPerSecond: 100_000)
        XCTAssertLessThan(seconds { throttle.pace(2, bytes: 1_000_000) { true } }, 0.05)
    }
}
