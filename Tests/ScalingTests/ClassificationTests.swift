import Scaling
import XCTest

final class ClassificationTests: XCTestCase {
    /// Enter at >= 80 %, leave below 70 %, for reads and for writes.
    func testBandsHaveHysteresis() {
        let policy = ScalingPolicy()
        let rows: [(from: WorkloadClass, read: Double, expected: WorkloadClass)] = [
            (.balanced, 0.79, .balanced),
            (.balanced, 0.80, .readIntensive),
            (.balanced, 0.81, .readIntensive),
            (.readIntensive, 0.75, .readIntensive),
            (.readIntensive, 0.70, .readIntensive),
            (.readIntensive, 0.69, .balanced),
            (.balanced, 0.75, .balanced),
            (.balanced, 0.21, .balanced),
            (.balanced, 0.19, .writeIntensive),
            (.writeIntensive, 0.25, .writeIntensive),
            (.writeIntensive, 0.31, .balanced),
            (.writeIntensive, 0.85, .readIntensive),  // leaving one band may enter the other
            (.readIntensive, 0.05, .writeIntensive),
        ]
        for row in rows {
            XCTAssertEqual(
                row.from.next(readFraction: row.read, writeFraction: 1 - row.read, policy: policy), row.expected, "\(row)")
        }
    }

    /// The same through the engine: the class follows the mix of the up-average window.
    func testEngineClassifiesTheUpWindow() {
        let phases: [(read: Double, expected: WorkloadClass)] = [
            (0.79, .balanced), (0.81, .readIntensive), (0.75, .readIntensive), (0.69, .balanced),
            (0.19, .writeIntensive), (0.25, .writeIntensive), (0.31, .balanced),
        ]
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        for phase in phases {
            sim.run(90, Load(latency: 0.3, readFraction: phase.read))
            XCTAssertEqual(sim.last?.workload, phase.expected, "\(phase)")
            XCTAssertEqual(sim.state.workload, phase.expected)
        }
        XCTAssertEqual(sim.kinds, [])
    }

    /// Too few requests to say keep the previous class.
    func testQuietWindowKeepsTheClass() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(90, Load(latency: 0.3, readFraction: 0.9))
        XCTAssertEqual(sim.last?.workload, .readIntensive)
        sim.run(60, Load(requestsPerSecond: 0))
        sim.run(300, Load(requestsPerSecond: 1, latency: 0.3, readFraction: 0))
        XCTAssertEqual(sim.last?.workload, .readIntensive)
    }
}
