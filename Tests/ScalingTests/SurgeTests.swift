import JSON
import Scaling
import XCTest

final class SurgeTests: XCTestCase {
    /// A 10 s surge at 10× the baseline is reported and absorbed: no add_node, although the
    /// same traffic without surge detection does scale up (the surge lingers in the 60 s mean).
    func testShortSurgeIsReportedNotAnsweredWithAScaleOut() throws {
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

        // Reported once, as an episode, after it ended and its window turned over.
        XCTAssertEqual(sim.surges.count, 1)
        let (reported, episode) = try XCTUnwrap(sim.surges.first)
        XCTAssertEqual(episode.start, sim.start + UInt64(surging.first!))
        XCTAssertEqual(episode.end, sim.state.surgeEnded)
        XCTAssertEqual(episode.durationSeconds, surging.count)
        XCTAssertGreaterThanOrEqual(reported, episode.end! + UInt64(ScalingPolicy.tiny.surgeWindowSeconds))
        XCTAssertLessThanOrEqual(reported, episode.end! + UInt64(ScalingPolicy.tiny.sustainUpSeconds))
        let evidence = episode.evidence
        XCTAssertEqual(try XCTUnwrap(evidence["peak_average_seconds_10"]), 25, accuracy: 0.5)
        XCTAssertEqual(try XCTUnwrap(evidence["baseline_average_seconds_50"]), 2.5, accuracy: 0.05)
        XCTAssertEqual(try XCTUnwrap(evidence["peak_ratio"]), 10, accuracy: 0.5)
        XCTAssertEqual(evidence["peak_requests_10"], 200)
        XCTAssertEqual(evidence["peak_timeout_rate_10"], 0)
        XCTAssertEqual(evidence["duration_seconds"], Double(surging.count))
        XCTAssertTrue(episode.reason.hasPrefix("Surge: the mean response time over 10 s rose to 25"), episode.reason)
        // A report is no recommendation: no cooldown, nothing pending.
        XCTAssertNil(sim.state.lastRecommendation)
        XCTAssertNil(sim.state.surgeEpisode)

        var control = ScalingPolicy.tiny
        control.surgeFactor = 1_000_000
        var blind = Simulator(policy: control, facts: .cluster(stage: 3, replicas: 1))
        blind.run(600, load: traffic)
        XCTAssertEqual(blind.kinds, [.addNode])
        XCTAssertTrue(blind.surgingSeconds.isEmpty)
        XCTAssertTrue(blind.surges.isEmpty)
    }

    /// Surges below the absolute floor (millisecond noise) are not surges.
    func testNoiseBelowTheFloorIsNoSurge() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(300) { moment in Load(latency: (100..<110).contains(moment.t) ? 0.02 : 0.001) }
        XCTAssertTrue(sim.surgingSeconds.isEmpty)
        XCTAssertEqual(sim.kinds, [])
        XCTAssertTrue(sim.surges.isEmpty)
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
        // It was a surge only until the long window caught up: not reported as one.
        XCTAssertTrue(sim.surges.isEmpty, "\(sim.surges)")
        XCTAssertNil(sim.state.surgeEpisode)
    }

    /// Two bursts far apart are two episodes, each reported once with its own figures.
    func testTwoSeparateBurstsAreTwoEpisodes() {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(600) { moment in
            Load(latency: (120..<126).contains(moment.t) ? 25 : (300..<308).contains(moment.t) ? 40 : 2.5)
        }
        XCTAssertEqual(sim.kinds, [])
        XCTAssertEqual(sim.surges.count, 2, "\(sim.surges)")
        guard sim.surges.count == 2 else { return }
        let starts = sim.surges.map { Int($0.episode.start - sim.start) }
        XCTAssertTrue((120...126).contains(starts[0]), "\(starts)")
        XCTAssertTrue((300...308).contains(starts[1]), "\(starts)")
        XCTAssertLessThan(sim.surges[0].episode.peakAverageSeconds, sim.surges[1].episode.peakAverageSeconds)
        XCTAssertLessThan(sim.surges[0].second, sim.surges[1].episode.start, "the first is reported before the second starts")
    }

    /// A surge detected again soon after it ended (within the surge window) continues the same
    /// episode: one report from the first detection to the last end.
    func testASurgeThatReturnsAtOnceIsOneEpisode() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(120, Load(latency: 2.5))
        sim.run(6, Load(latency: 25))
        XCTAssertTrue(sim.state.surging)
        let start = try XCTUnwrap(sim.state.surgeSince)
        while sim.state.surging, sim.now < sim.start + 200 { sim.run(1, Load(latency: 2.5)) }
        let firstEnd = try XCTUnwrap(sim.state.surgeEnded)
        XCTAssertNotNil(sim.state.surgeEpisode?.end, "ended, pending")
        let firstPeak = try XCTUnwrap(sim.state.surgeEpisode?.peakAverageSeconds)
        sim.run(2, Load(latency: 2.5))
        for _ in 0..<8 where !sim.state.surging { sim.run(1, Load(latency: 40)) }
        XCTAssertTrue(sim.state.surging, "detected again")
        XCTAssertLessThan(sim.now, firstEnd + UInt64(ScalingPolicy.tiny.surgeWindowSeconds), "within the surge window")
        XCTAssertEqual(sim.state.surgeEpisode?.start, start, "the same episode")
        XCTAssertNil(sim.state.surgeEpisode?.end)
        sim.run(200, Load(latency: 2.5))
        XCTAssertEqual(sim.kinds, [])
        XCTAssertEqual(sim.surges.count, 1, "\(sim.surges)")
        let episode = try XCTUnwrap(sim.surges.first?.episode)
        XCTAssertEqual(episode.start, start)
        XCTAssertGreaterThan(episode.peakAverageSeconds, firstPeak, "the second burst's peak counts")
        XCTAssertGreaterThan(try XCTUnwrap(episode.end), firstEnd)
        XCTAssertEqual(episode.end, sim.state.surgeEnded)
    }

    /// A surge followed by silence is reported once `sustainUpSeconds` have passed with no
    /// requests to judge by.
    func testASurgeFollowedBySilenceIsReported() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(120, Load(latency: 2.5))
        sim.run(4, Load(latency: 25))
        sim.run(60, Load(requestsPerSecond: 0))
        XCTAssertEqual(sim.surges.count, 1)
        let (reported, episode) = try XCTUnwrap(sim.surges.first)
        let end = try XCTUnwrap(episode.end)
        XCTAssertGreaterThanOrEqual(reported, end + UInt64(max(ScalingPolicy.tiny.sustainUpSeconds, ScalingPolicy.tiny.surgeWindowSeconds)))
    }

    /// A surge report starts no cooldown: a lasting rise right after it is still answered at
    /// once (one add_node, and the surge before it reported on its own).
    func testAReportedSurgeDelaysNoScaleUp() throws {
        var sim = Simulator(policy: .tiny, facts: .cluster(stage: 3, replicas: 1))
        sim.run(120, Load(latency: 0.2))
        sim.run(4, Load(latency: 25))
        while sim.surges.isEmpty, sim.now < sim.start + 300 { sim.run(1, Load(latency: 0.2)) }
        XCTAssertEqual(sim.surges.count, 1)
        XCTAssertNil(sim.state.lastRecommendation)
        let reported = sim.now
        sim.run(200) { moment in Load(latency: 5 / Double(1 + moment.nodesAdded)) }
        XCTAssertEqual(sim.kinds, [.addNode])
        XCTAssertEqual(sim.surges.count, 1, "the lasting rise is not a second surge report")
        let added = try XCTUnwrap(sim.proposals.first?.second)
        XCTAssertLessThan(added, reported + UInt64(ScalingPolicy.tiny.cooldownSeconds))
    }

    /// The episode is visible while pending (admin view) and its report reads as a sentence.
    func testEpisodeJSONAndReason() throws {
        let episode = SurgeEpisode(
            start: 100, end: 107, surgeWindowSeconds: 10, baselineWindowSeconds: 50, baselineAverageSeconds: 0.002,
            baselineRequests: 1000, peakAverageSeconds: 0.41, peakRequests: 240, peakTimeoutRate: 0.5)
        XCTAssertEqual(
            episode.reason,
            "Surge: the mean response time over 10 s rose to 0.41 s (205 × the 0.002 s mean of the 50 s before) and fell back "
                + "after 7 s; back pressure absorbed it, nothing to scale.")
        XCTAssertEqual(episode.json["start"]?.intValue, 100)
        XCTAssertEqual(episode.json["end"]?.intValue, 107)
        XCTAssertEqual(episode.json["evidence"]?["peak_timeout_rate_10"]?.doubleValue, 0.5)
        var open = episode
        open.end = nil
        XCTAssertEqual(open.json["end"], .null)
        XCTAssertNil(open.durationSeconds)
        var flat = episode
        flat.baselineAverageSeconds = 0
        XCTAssertNil(flat.evidence["peak_ratio"])
        XCTAssertTrue(flat.reason.contains("(from 0 s over the 50 s before)"), flat.reason)
    }
}
