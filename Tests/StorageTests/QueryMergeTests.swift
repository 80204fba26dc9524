import JSON
import RaftCore
import Storage
import XCTest

/// Scatter-gather against a model: documents spread over three stores ("shards"), every
/// page of a query merged from the three with ``QueryMerge`` must equal the page one store
/// holding everything returns, for every sort (mixed JSON types, missing fields, ties,
/// descending keys), page size and page.
final class QueryMergeTests: StoreTestCase {
    func testMergedPagesEqualOneStoreHoldingEverything() throws {
        let whole = try openStore()
        let shards = try (0..<3).map { n in try openStore(configuration { $0.path = directory + "/shard\(n).sqlite" }) }
        var generator = SplitMix64(seed: 0x5ca77e2)
        let values = [#"1"#, #"2.5"#, #"-3"#, #""a""#, #""B""#, #""ä""#, #"true"#, #"false"#, #"null"#, #"[1]"#, #"{"x":1}"#]
        for i in 0..<240 {
            let id = "d\(String(format: "%03d", Int(generator.next() % 1000)))-\(i)"
            var fields: [String] = []
            if generator.next() % 5 != 0 { fields.append(#""a": \#(values[Int(generator.next() % UInt64(values.count))])"#) }
            if generator.next() % 4 != 0 { fields.append(#""b": \#(Int(generator.next() % 3))"#) }
            let json = "{" + fields.joined(separator: ", ") + "}"
            try apply(whole, put("c", id, json))
            try apply(shards[Int(generator.next() % 3)], put("c", id, json))
        }
        for sort in [#"[]"#, #"["a"]"#, #"["-a"]"#, #"["b", "-a"]"#, #"["-b", "a"]"#] {
            for limit in [1, 7, 50, 1000] {
                var after = ""
                var pagesSeen = 0
                repeat {
                    let query = try DocumentQuery.parse(JSON.parse(#"{"sort": \#(sort), "limit": \#(limit)\#(after)}"#))
                    let expected = try whole.query(collection: "c", query)
                    let pages = try shards.map { shard in
                        let page = try shard.query(collection: "c", query, positions: true)
                        return QueryMerge.ShardPage(documents: zip(page.documents.map(\.id), page.positions ?? []).map { ($0, $1) },
                                                    hasMore: page.next != nil)
                    }
                    let merged = try QueryMerge.merge(pages, query: query)
                    XCTAssertEqual(merged.documents, expected.documents.map(\.id), "sort \(sort) limit \(limit) page \(pagesSeen)")
                    XCTAssertEqual(merged.next == nil, expected.next == nil, "sort \(sort) limit \(limit) page \(pagesSeen)")
                    guard let next = merged.next else { break }
                    after = #", "after": "\#(next)""#
                    pagesSeen += 1
                } while pagesSeen < 300
                XCTAssertLessThan(pagesSeen, 300)
            }
        }
    }

    func testAPositionFromAnotherQueryIsRefused() throws {
        let store = try openStore()
        try apply(store, put("c", "x", #"{"a": 1}"#))
        let byA = try DocumentQuery.parse(JSON.parse(#"{"sort": ["a"]}"#))
        let page = try store.query(collection: "c", byA, positions: true)
        let other = try DocumentQuery.parse(JSON.parse(#"{"sort": ["-a"]}"#))
        XCTAssertThrowsError(try QueryMerge.merge([QueryMerge.ShardPage(documents: [("x", page.positions![0])], hasMore: false)],
                                                  query: other))
        XCTAssertNil(try store.query(collection: "c", byA).positions, "positions only when asked for")
    }
}
