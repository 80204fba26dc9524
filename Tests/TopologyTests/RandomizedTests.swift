import Topology
import RaftCore
import XCTest

/// Seeded random histories of joins, failures, recoveries, departures, leader changes and
/// controller steps; the invariants are checked after every plan (by `planChecked`).
final class RandomizedTests: XCTestCase {
    func testRandomHistories() {
        var random = SplitMix64(seed: 0x6D61_6368_6462)
        for sequence in 0..<2000 {
            var sim = Simulator(founderLevel: Int.random(in: 1...5, using: &random))
            var nextID = 2
            let events = Int.random(in: 10...40, using: &random)
            for _ in 0..<events {
                let alive = sim.members.filter(\.alive).map(\.id)
                let dead = sim.members.filter { !$0.alive }.map(\.id)
                switch Int.random(in: 0..<100, using: &random) {
                case 0..<18:
                    if sim.leader != nil, sim.members.count < 9 {
                        sim.join("n\(nextID)", level: Int.random(in: 1...5, using: &random))
                        nextID += 1
                    }
                case 18..<28:
                    if let id = alive.randomElement(using: &random) { sim.fail(id) }
                case 28..<36:
                    if let id = dead.randomElement(using: &random) { sim.recover(id) }
                case 36..<41:
                    if let id = alive.randomElement(using: &random) { sim.leave(id) }
                case 41..<47:
                    // A spontaneous election (timeouts, a partition healing): any live voter with a majority.
                    let voters = sim.members.filter { $0.membership == .voter }
                    let candidates = voters.filter(\.alive)
                    if candidates.count >= voters.count / 2 + 1, let next = candidates.randomElement(using: &random) {
                        sim.leader = next.id
                    }
                case 47..<55:
                    sim.elapse(UInt64.random(in: 0...40_000, using: &random))
                case 55..<65:
                    if let index = sim.members.indices.randomElement(using: &random), sim.members[index].alive {
                        sim.members[index].caughtUp.toggle()
                    }
                case 65..<70:
                    sim.catchUp()
                default:
                    sim.step()
                }
                sim.plan()
            }
            sim.converge()
            if sequence % 500 == 0 { XCTAssertGreaterThan(sim.map.version, 0) }
        }
    }
}
