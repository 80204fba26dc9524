import RaftCore
import XCTest

final class DebugTests: XCTestCase {
    func testDebug() {
        let c = Cluster(seed: 3, voters: [1, 2, 3]) { $0.checkQuorum = false }
        c.elect(1)
        c.isolate(1)
        c.run(rounds: 50)
        print("leaders", c.upNodes.map { "\($0.id) \($0.raw!.status.role) t\($0.raw!.status.term)" })
        let d = Cluster(seed: 3, voters: [1, 2, 3])
        d.elect(1)
        d.isolate(1)
        for i in 0..<40 {
            d.tickAll(); d.deliverAll()
            print(i, d.upNodes.map { "\($0.id) \($0.raw!.status.role) t\($0.raw!.status.term)" })
        }
    }
}
