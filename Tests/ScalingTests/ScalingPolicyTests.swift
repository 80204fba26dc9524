import JSON
import Scaling
import XCTest

final class ScalingPolicyTests: XCTestCase {
    func testDefaultsAreTheDesigns() throws {
        let policy = ScalingPolicy()
        XCTAssertEqual(policy.upAverageSeconds, 3.0)
        XCTAssertEqual(policy.upAverageWindowSeconds, 3600)
        XCTAssertEqual(policy.upTimeoutRate, 0.01)
        XCTAssertEqual(policy.upTimeoutWindowSeconds, 300)
        XCTAssertEqual(policy.downAverageSeconds, 0.5)
        XCTAssertEqual(policy.downAverageWindowSeconds, 3600)
        XCTAssertEqual(policy.sustainUpSeconds, 60)
        XCTAssertEqual(policy.sustainDownSeconds, 900)
        XCTAssertEqual(policy.cooldownSeconds, 600)
        XCTAssertEqual(policy.downCooldownSeconds, 1800)
        XCTAssertEqual(policy.surgeWindowSeconds, 10)
        XCTAssertEqual(policy.surgeFactor, 4.0)
        XCTAssertEqual(policy.surgeMinimumSeconds, 0.25)
        XCTAssertEqual([policy.readIntensiveEnter, policy.readIntensiveLeave], [0.80, 0.70])
        XCTAssertEqual([policy.writeIntensiveEnter, policy.writeIntensiveLeave], [0.80, 0.70])
        XCTAssertEqual(policy.minimumRequests, 100)
        XCTAssertEqual(policy.minimumNodes, 3)
        try policy.validate()
        try policy.validate(for: LatencyWindows())
        try ScalingPolicy.tiny.validate(for: LatencyWindows())
    }

    func testValidate() {
        let rows: [(String, (inout ScalingPolicy) -> Void, String?)] = [
            ("defaults", { _ in }, nil),
            ("zero window", { $0.upAverageWindowSeconds = 0 }, "up_average_window_seconds"),
            ("negative timeout window", { $0.upTimeoutWindowSeconds = -1 }, "up_timeout_window_seconds"),
            ("huge window", { $0.downAverageWindowSeconds = 10_000_000 }, "down_average_window_seconds"),
            ("surge as long as up window", { $0.surgeWindowSeconds = 3600 }, "surge_window_seconds"),
            ("negative sustain", { $0.sustainUpSeconds = -1 }, "sustain_up_seconds"),
            ("down faster than up", { $0.sustainDownSeconds = 30 }, "sustain_down_seconds"),
            ("zero sustain up", { $0.sustainUpSeconds = 0 }, nil),
            ("zero cooldown", { $0.cooldownSeconds = 0 }, "cooldown_seconds"),
            ("zero down cooldown", { $0.downCooldownSeconds = 0 }, nil),
            ("zero up average", { $0.upAverageSeconds = 0 }, "up_average_seconds"),
            ("NaN up average", { $0.upAverageSeconds = .nan }, "up_average_seconds"),
            ("down above up", { $0.downAverageSeconds = 4 }, "down_average_seconds"),
            ("down equals up", { $0.downAverageSeconds = 3 }, "down_average_seconds"),
            ("timeout rate 0", { $0.upTimeoutRate = 0 }, "up_timeout_rate"),
            ("timeout rate 1", { $0.upTimeoutRate = 1 }, "up_timeout_rate"),
            ("surge factor 1", { $0.surgeFactor = 1 }, "surge_factor"),
            ("surge floor negative", { $0.surgeMinimumSeconds = -0.1 }, "surge_minimum_seconds"),
            ("surge floor zero", { $0.surgeMinimumSeconds = 0 }, nil),
            ("read enter = leave", { $0.readIntensiveLeave = 0.8 }, "read_intensive_leave"),
            ("read enter below leave", { $0.readIntensiveEnter = 0.6; $0.readIntensiveLeave = 0.65 }, "read_intensive_leave"),
            ("read enter 0.5", { $0.readIntensiveEnter = 0.5; $0.readIntensiveLeave = 0.4 }, "read_intensive_enter"),
            ("write enter above 1", { $0.writeIntensiveEnter = 1.1 }, "write_intensive_enter"),
            ("write leave 0", { $0.writeIntensiveLeave = 0 }, "write_intensive_leave"),
            ("bands overlap", { $0.readIntensiveLeave = 0.15; $0.writeIntensiveEnter = 0.85 }, "overlap"),
            ("narrow bands", { $0.readIntensiveEnter = 0.9; $0.readIntensiveLeave = 0.85 }, nil),
            ("minimum requests 0", { $0.minimumRequests = 0 }, "minimum_requests"),
            ("minimum nodes 2", { $0.minimumNodes = 2 }, "minimum_nodes"),
            ("minimum nodes 5", { $0.minimumNodes = 5 }, nil),
        ]
        for (name, change, complaint) in rows {
            var policy = ScalingPolicy()
            change(&policy)
            do {
                try policy.validate()
                XCTAssertNil(complaint, "\(name): accepted")
            } catch {
                guard case let .invalidPolicy(text) = error, let complaint else {
                    XCTFail("\(name): rejected: \(error)")
                    continue
                }
                XCTAssertTrue(text.contains(complaint), "\(name): \(text)")
                XCTAssertTrue(error.description.hasPrefix("invalid scaling policy: "))
            }
        }
    }

    func testValidateForWindows() {
        var policy = ScalingPolicy()
        policy.downAverageWindowSeconds = 3_601
        XCTAssertNoThrow(try policy.validate())
        XCTAssertThrowsError(try policy.validate(for: LatencyWindows())) { error in
            XCTAssertTrue("\(error)".contains("down_average_window_seconds"), "\(error)")
        }
        XCTAssertNoThrow(try policy.validate(for: LatencyWindows(coarseMinutes: 62)))
    }

    func testJSONRoundTrip() throws {
        var policy = ScalingPolicy.tiny
        policy.upAverageSeconds = 2.5
        policy.surgeFactor = 6
        policy.minimumNodes = 4
        let json = policy.json
        XCTAssertEqual(json.members.map(\.key), ScalingPolicy.jsonKeys)
        XCTAssertEqual(json.count, 19)
        XCTAssertEqual(json["up_average_window_seconds"]?.kind, .integer)
        XCTAssertEqual(json["up_average_seconds"]?.kind, .real)
        XCTAssertEqual(try ScalingPolicy(json: json), policy)
        XCTAssertEqual(try ScalingPolicy(json: JSON.parse(json.text)), policy)
        XCTAssertEqual(try ScalingPolicy(json: ScalingPolicy().json), ScalingPolicy())
    }

    func testPartialUpdateKeepsTheOtherFields() throws {
        let rows: [(text: String, check: (ScalingPolicy) -> Bool)] = [
            (#"{}"#, { $0 == .tiny }),
            (#"{"up_average_seconds": 4}"#, { $0.upAverageSeconds == 4 && $0.upAverageWindowSeconds == 60 }),
            (#"{"cooldown_seconds": 120, "surge_factor": 5.5}"#, { $0.cooldownSeconds == 120 && $0.surgeFactor == 5.5 && $0.sustainUpSeconds == 10 }),
            (#"{"read_intensive_enter": 0.9}"#, { $0.readIntensiveEnter == 0.9 && $0.readIntensiveLeave == 0.7 }),
        ]
        for row in rows {
            let policy = try ScalingPolicy(json: JSON.parse(row.text), defaults: .tiny)
            XCTAssertTrue(row.check(policy), row.text)
        }
        // The defaults default to the design's.
        XCTAssertEqual(try ScalingPolicy(json: JSON.parse(#"{"minimum_requests": 50}"#)).upAverageWindowSeconds, 3600)
    }

    func testBadDocumentsAreRejected() {
        let rows: [(text: String, complaint: String)] = [
            (#"{"up_average_secs": 4, "zzz": 1, "cooldown_seconds": 60}"#, "unknown key(s): up_average_secs, zzz"),
            (#"[]"#, "expected a JSON object"),
            (#""x""#, "expected a JSON object"),
            (#"{"cooldown_seconds": "60"}"#, "cooldown_seconds must be an integer"),
            (#"{"cooldown_seconds": 60.5}"#, "cooldown_seconds must be an integer"),
            (#"{"cooldown_seconds": null}"#, "cooldown_seconds must be an integer"),
            (#"{"surge_factor": true}"#, "surge_factor must be a number"),
            (#"{"surge_factor": 1}"#, "surge_factor must be > 1"),
            (#"{"down_average_seconds": 5}"#, "down_average_seconds must be > 0 and < up_average_seconds"),
            (#"{"minimum_nodes": 1}"#, "minimum_nodes must be >= 3"),
            (#"{"up_average_window_seconds": -60}"#, "up_average_window_seconds must be in"),
            (#"{"read_intensive_leave": 0.9}"#, "read_intensive_leave must be > 0 and < read_intensive_enter"),
        ]
        for row in rows {
            do {
                _ = try ScalingPolicy(json: JSON.parse(row.text))
                XCTFail("accepted \(row.text)")
            } catch let error as ScalingError {
                guard case let .invalidPolicy(text) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(text.contains(row.complaint), "\(row.text): \(text)")
            } catch {
                XCTFail("\(row.text): \(error)")
            }
        }
    }
}
