import Scaling
import XCTest

final class SurgeTests: XCTestCase {
    /// A 10 s surge at 10× the baseline is reported and absorbed: no add_node, although the
    /// same traffic without surge detection does scale up (the surge lingers in the 60 s mean).
    func testShortSurgeIsReportedNotAnsweredWithAScaleOut() {
        func traffic(_ moment: Moment) -> Load {
            Load(latency: (120..<130).contains(moment.t) ? 25 : 2.5)
        }
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(600, load: traffic)
        XCTAssertEqual(sim.kinds, [])
        let surging = sim.surgingSeconds.map { Int($0 - sim.start) }
        XCTAssertFalse(surging.isEmpty)
        XCTAssertEqual(surging, Array(surging.first!...surging.last!), "one contiguous surge")
        XCTAssertTrue((121...126).contains(surging.first!), "\(surging)")
        XCTAssertTrue((130...136).contains(surging.last!), "\(surging)")
        XCTAssertNil(sim.state.surgeSince)
        XCTAssertEqual(sim.state.surgeEnded, sim.start + UInt64(surging.last! + 1))
        // While surging the up condition may hold, but its sustain timer is held at zero.
        for (_, evaluation) in sim.evaluations where evaluation.surging {
            XCTAssertNil(evaluation.state.upSince)
            XCTAssertTrue(evaluation.state.surging)
        }

        var control = ScalingPolicy.tiny
        control.surgeFactor = 1_000_000
        var blind = Simulator(policy: control, facts: .cluster(stage: 3, replicas: 1))
        blind.run(600, load: traffic)
        XCTAssertEqual(blind.kinds, [.addNode])
        XCTAssertTrue(blind.surgingSeconds.isEmpty)
    }

    /// Surges below the absolute floor (millisecond noise) are not surges.
    func testNoiseBelowTheFloorIsNoSurge() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(300) { moment in Load(latency: (100..<110).contains(moment.t) ? 0.02 : 0.001) }
        XCTAssertTrue(sim.surgingSeconds.isEmpty)
        XCTAssertEqual(sim.kinds, [])
    }

    /// A lasting step up is a surge at first; once it is the new normal the cluster scales up,
    /// judged on what was measured after the surge ended.
    func testLastingStepScalesUpAfterTheSurge() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(400) { moment in
            Load(latency: moment.t < 100 ? 0.2 : 5 / Double(1 + moment.nodesAdded))
        }
        XCTAssertEqual(sim.kinds, [.addNode])
        let ended = try XCTUnwrap(sim.state.surgeEnded)
        let added = try XCTUnwrap(sim.proposals.first?.second)
        XCTAssertFalse(sim.surgingSeconds.isEmpty)
        XCTAssertGreaterThanOrEqual(added, ended + UInt64(ScalingPolicy.tiny.sustainUpSeconds))
    }
}
