import RaftCore
import XCTest

extension Cluster {
    /// Makes `id` campaign now and lets the election finish.
    func elect(_ id: NodeID, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(try raw(id).campaign(), file: file, line: line)
        process(id)
        deliverAll()
        XCTAssertEqual(status(id).role, .leader, "node \(id) should lead", file: file, line: line)
    }

    /// Proposes `data` at `id` and delivers everything.
    @discardableResult
    func propose(_ id: NodeID, _ text: String, file: StaticString = #filePath, line: UInt = #line) -> LogPosition? {
        do {
            let p = try raw(id).propose(Array(text.utf8))
            process(id)
            deliverAll()
            return p
        } catch {
            XCTFail("proposal at \(id) failed: \(error)", file: file, line: line)
            return nil
        }
    }

    /// Normal entries applied at `id`, as strings.
    func appliedStrings(_ id: NodeID) -> [String] {
        nodes[id]!.appliedData.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Fails the test with the checker's findings, if any.
    func assertSafe(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(checker.violations, [], file: file, line: line)
    }
}
