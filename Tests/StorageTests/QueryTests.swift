import JSON
import RaftCore
import Storage
import XCTest

final class QueryTests: StoreTestCase {
    /// Documents whose `v` covers every JSON type, plus documents queries must never return.
    private func seed(_ store: Store) throws {
        let documents: [(String, String)] = [
            ("a", #"{"v": 1}"#), ("b", #"{"v": 1.0}"#), ("c", #"{"v": true}"#), ("d", #"{"v": "1"}"#),
            ("e", #"{"v": null}"#), ("f", #"{}"#), ("g", #"{"v": 2.5}"#), ("h", #"{"v": "abc"}"#),
            ("i", #"{"v": false}"#), ("j", #"{"v": [1]}"#), ("k", #"{"v": {"x": 1}}"#), ("l", #"{"v": 0}"#),
            ("n", #"{"v": 10, "obj": {"tier": "gold", "list": [{"sku": "A"}, {"sku": "B"}]}, "a-b": 1}"#),
            ("s", "5"),
        ]
        var operations = documents.map { put("items", $0.0, $0.1) }
        operations.append(putRaw("items", "raw", Array(#"{"v": 1}"#.utf8)))  // not JSON: never queried
        operations.append(put("items", "z", #"{"v": 1}"#))
        operations.append(put("elsewhere", "a2", #"{"v": 1}"#))  // another collection
        _ = try apply(store, WriteCommand(operations: operations, timestampMilliseconds: 5))
        _ = try apply(store, delete("items", "z"))  // tombstone: never queried
    }

    private func ids(_ store: Store, _ query: String, collection: String = "items", file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let parsed = try DocumentQuery.parse(JSON.parse(query))
        return try store.query(collection: collection, parsed).documents.map(\.id)
    }

    private func matches(_ store: Store, _ filter: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        try ids(store, #"{"filter": \#(filter)}"#, file: file, line: line)
    }

    func testOperatorsFollowJSONTypes() throws {
        let store = try openStore()
        try seed(store)
        let cases: [(String, [String])] = [
            (#"{"v": 1}"#, ["a", "b"]),
            (#"{"v": {"eq": 1.0}}"#, ["a", "b"]),
            (#"{"v": true}"#, ["c"]),
            (#"{"v": false}"#, ["i"]),
            (#"{"v": null}"#, ["e"]),
            (#"{"v": "1"}"#, ["d"]),
            (#"{"v": {"ne": 1}}"#, ["c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "s"]),
            (#"{"v": {"ne": null}}"#, ["a", "b", "c", "d", "f", "g", "h", "i", "j", "k", "l", "n", "s"]),
            (#"{"v": {"ne": true}}"#, ["a", "b", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "s"]),
            (#"{"v": {"lt": 2}}"#, ["a", "b", "l"]),
            (#"{"v": {"lte": 2.5}}"#, ["a", "b", "g", "l"]),
            (#"{"v": {"gt": 2}}"#, ["g", "n"]),
            (#"{"v": {"gte": 0, "lt": 2}}"#, ["a", "b", "l"]),
            (#"{"v": {"gt": ""}}"#, ["d", "h"]),
            (#"{"v": {"gte": "abc"}}"#, ["h"]),
            (#"{"v": {"lt": "abc"}}"#, ["d"]),
            (#"{"v": {"in": [1, "abc", null, true]}}"#, ["a", "b", "c", "e", "h"]),
            (#"{"v": {"in": [false, 2.5]}}"#, ["g", "i"]),
            (#"{"v": {"exists": true}}"#, ["a", "b", "c", "d", "e", "g", "h", "i", "j", "k", "l", "n"]),
            (#"{"v": {"exists": false}}"#, ["f", "s"]),
            (#"{"obj.tier": "gold"}"#, ["n"]),
            (#"{"obj.list[1].sku": "B", "obj.list[0].sku": {"exists": true}}"#, ["n"]),
            (#"{"obj.list[2].sku": {"exists": true}}"#, []),
            (#"{"a-b": 1}"#, ["n"]),
            (#"{"v": 1, "obj.tier": "gold"}"#, []),
            (#"{}"#, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "s"]),
        ]
        for (filter, expected) in cases {
            XCTAssertEqual(try matches(store, filter), expected, filter)
        }
        XCTAssertEqual(try ids(store, #"{"filter": {"v": 1}}"#, collection: "elsewhere"), ["a2"])
        XCTAssertEqual(try ids(store, #"{}"#, collection: "empty"), [])
    }

    func testValuesAreBoundNotSpliced() throws {
        let store = try openStore()
        _ = try apply(store, put("c", "x", #"{"name": "it's \"quoted\" -- ; DROP TABLE documents"}"#))
        XCTAssertEqual(try matches(store, #"{"name": "it's \"quoted\" -- ; DROP TABLE documents"}"#).count, 0, "other collection")
        let query = try DocumentQuery.parse(JSON.parse(#"{"filter": {"name": "it's \"quoted\" -- ; DROP TABLE documents"}}"#))
        XCTAssertEqual(try store.query(collection: "c", query).documents.map(\.id), ["x"])
        XCTAssertEqual(try store.query(collection: "c'; --", query).documents.map(\.id), [])
    }

    func testSortOrdersTypesWithMissingFirstAscendingAndLastDescending() throws {
        let store = try openStore()
        try seed(store)
        XCTAssertEqual(try ids(store, #"{"sort": ["v"]}"#), ["f", "s", "e", "i", "c", "l", "a", "b", "g", "n", "d", "h", "j", "k"])
        XCTAssertEqual(try ids(store, #"{"sort": ["-v"]}"#), ["k", "j", "h", "d", "n", "g", "a", "b", "l", "c", "i", "e", "f", "s"],
                       "ties (a, b) stay in id order when descending")
        XCTAssertEqual(try ids(store, #"{"sort": []}"#), ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "s"])
        XCTAssertEqual(try ids(store, #"{"sort": ["v"], "limit": 3}"#), ["f", "s", "e"])
    }

    func testMultiKeySortAndReturnedFields() throws {
        let store = try openStore()
        _ = try apply(store,
                      put("o", "1", #"{"total": 5, "customer": {"name": "bo"}}"#),
                      put("o", "2", #"{"total": 7, "customer": {"name": "al"}}"#),
                      put("o", "3", #"{"total": 5, "customer": {"name": "al"}}"#),
                      put("o", "4", #"{"total": 7}"#),
                      time: 99)
        let page = try store.query(collection: "o", DocumentQuery.parse(JSON.parse(#"{"sort": ["-total", "customer.name"]}"#)))
        XCTAssertEqual(page.documents.map(\.id), ["4", "2", "3", "1"])
        XCTAssertNil(page.next)
        let first = try XCTUnwrap(page.documents.first)
        XCTAssertEqual(String(decoding: first.body, as: UTF8.self), #"{"total": 7}"#)
        XCTAssertEqual(first.rev, 1)
        XCTAssertEqual(first.updatedAt, 99)
        XCTAssertTrue(first.isJSON)
        XCTAssertEqual(first.collection, "o")
    }

    /// Concatenating pages of every size gives the single-page result, for every sort.
    func testPagesConcatenateToTheFullResult() throws {
        let store = try openStore()
        try seed(store)
        for sort in [#"[]"#, #"["v"]"#, #"["-v"]"#, #"["-v", "obj.tier"]"#, #"["obj.tier", "-v"]"#] {
            let full = try ids(store, #"{"sort": \#(sort)}"#)
            for limit in 1...5 {
                var collected: [String] = []
                var after: String? = nil
                var pages = 0
                repeat {
                    let cursor = after.map { #", "after": "\#($0)""# } ?? ""
                    let query = try DocumentQuery.parse(JSON.parse(#"{"sort": \#(sort), "limit": \#(limit)\#(cursor)}"#))
                    let page = try store.query(collection: "items", query)
                    XCTAssertLessThanOrEqual(page.documents.count, limit)
                    collected += page.documents.map(\.id)
                    after = page.next
                    pages += 1
                } while after != nil && pages < 100
                XCTAssertEqual(collected, full, "sort \(sort), limit \(limit)")
            }
        }
    }

    /// Every document that exists throughout, with sort values that do not change, appears
    /// exactly once across pages while other documents are created and updated between pages.
    func testPaginationIsExactlyOnceUnderConcurrentWrites() throws {
        let store = try openStore()
        var random = SplitMix64(seed: 0x5EED)
        func score() -> String {
            switch random.next() % 9 {
            case 0: return ""  // missing
            case 1: return #""score": null, "#
            case 2: return #""score": \#(random.next() % 2 == 0), "#
            case 3, 4: return #""score": \#(random.next() % 20), "#
            case 5: return #""score": \#(Double(random.next() % 40) / 4), "#
            default: return #""score": "s\#(random.next() % 10)", "#
            }
        }
        var original: [String: String] = [:]  // id -> body
        var operations: [WriteOperation] = []
        for n in 0..<200 {
            let id = "doc\(random.next() % 100_000)-\(n)"
            let body = "{\(score())\"name\": \"n\(random.next() % 7)\"}"
            original[id] = body
            operations.append(put("p", id, body))
        }
        _ = try apply(store, WriteCommand(operations: operations, timestampMilliseconds: 1))

        for (round, sort) in [#"["-score", "name"]"#, #"["score"]"#, #"["name", "-score"]"#].enumerated() {
            var seen: [String: Int] = [:]
            var after: String? = nil
            var page = 0
            repeat {
                let cursor = after.map { #", "after": "\#($0)""# } ?? ""
                let query = try DocumentQuery.parse(JSON.parse(#"{"sort": \#(sort), "limit": 9\#(cursor)}"#))
                let result = try store.query(collection: "p", query)
                for document in result.documents { seen[document.id, default: 0] += 1 }
                after = result.next
                page += 1
                // Between pages: new documents anywhere in the order, and updates that keep the
                // sort values of existing documents.
                var writes: [WriteOperation] = []
                for extra in 0..<4 {
                    writes.append(put("p", "new\(round)-\(page)-\(extra)-\(random.next() % 1000)", "{\(score())\"name\": \"n\(random.next() % 7)\"}"))
                }
                let updated = original.keys.sorted()[Int(random.next() % UInt64(original.count))]
                let body = original[updated]!
                writes.append(put("p", updated, String(body.dropLast()) + ", \"touched\": \(page)}"))
                _ = try apply(store, WriteCommand(operations: writes, timestampMilliseconds: 2))
            } while after != nil && page < 500
            XCTAssertNil(after, "paging terminates")
            for id in original.keys {
                XCTAssertEqual(seen[id], 1, "\(id) seen \(seen[id] ?? 0) times with sort \(sort)")
            }
            XCTAssertTrue(seen.values.allSatisfy { $0 == 1 }, "no document twice")
        }
    }

    func testInvalidQueriesAreRefusedWithPreciseDetails() throws {
        let deep = (1...17).map { "k\($0)" }.joined(separator: ".")
        let long = String(repeating: "a", count: 257)
        let manyValues = "[" + (0...100).map(String.init).joined(separator: ",") + "]"
        let cases: [(String, String)] = [
            (#"[]"#, "must be a JSON object"),
            (#"{"filters": {}}"#, "unknown key 'filters'"),
            (#"{"filter": []}"#, "filter must be an object"),
            (#"{"filter": {"v": {"like": 1}}}"#, "unknown operator 'like' for 'v'"),
            (#"{"filter": {"v": {}}}"#, "empty operator object"),
            (#"{"filter": {"v": [1]}}"#, "must be a string, number, boolean or null"),
            (#"{"filter": {"v": {"eq": {"a": 1}}}}"#, "operator 'eq' on 'v' must be a string"),
            (#"{"filter": {"v": {"lt": true}}}"#, "operator 'lt' on 'v' needs a number or a string"),
            (#"{"filter": {"v": {"gte": null}}}"#, "needs a number or a string"),
            (#"{"filter": {"v": {"in": []}}}"#, "needs an array of 1 to 100 values, got 0 values"),
            (#"{"filter": {"v": {"in": 1}}}"#, "needs an array of 1 to 100 values"),
            (#"{"filter": {"v": {"in": \#(manyValues)}}}"#, "got 101 values"),
            (#"{"filter": {"v": {"in": [[1]]}}}"#, "operator 'in' on 'v' must be a string"),
            (#"{"filter": {"v": {"exists": 1}}}"#, "operator 'exists' on 'v' needs true or false"),
            (#"{"filter": {"a..b": 1}}"#, "path 'a..b': expected a key at character 3"),
            (#"{"filter": {"a.": 1}}"#, "path 'a.': expected a key after '.' at the end"),
            (#"{"filter": {".a": 1}}"#, "path '.a': expected a key at character 1"),
            (#"{"filter": {"": 1}}"#, "path is empty"),
            (#"{"filter": {"a b": 1}}"#, "unexpected ' ' at character 2"),
            (#"{"filter": {"a[x]": 1}}"#, "'[' at character 2 must be followed by digits and ']'"),
            (#"{"filter": {"a[]": 1}}"#, "empty array index at character 2"),
            (#"{"filter": {"a[1": 1}}"#, "'[' at character 2 must be followed by digits"),
            (#"{"filter": {"a[1]b": 1}}"#, "unexpected 'b' at character 5"),
            (#"{"filter": {"[0]": 1}}"#, "expected a key at character 1"),
            (#"{"filter": {"a[9999999999]": 1}}"#, "larger than"),
            (#"{"filter": {"$.a": 1}}"#, "expected a key at character 1"),
            (#"{"filter": {"a\"b": 1}}"#, "unexpected '\"' at character 2"),
            (#"{"filter": {"é": 1}}"#, "a non-ASCII character"),
            (#"{"filter": {"\#(deep)": 1}}"#, "17 segments (keys and array indexes); at most 16"),
            (#"{"filter": {"\#(long)": 1}}"#, "257 characters long; at most 256"),
            (#"{"sort": "v"}"#, "sort must be an array"),
            (#"{"sort": ["a", "b", "c", "d", "e"]}"#, "sort has 5 keys; at most 4"),
            (#"{"sort": [1]}"#, "sort key 0 must be a string"),
            (#"{"sort": ["-"]}"#, "path is empty"),
            (#"{"sort": ["a..b"]}"#, "path 'a..b'"),
            (#"{"limit": 0}"#, "limit must be an integer from 1 to 1000, got the number 0"),
            (#"{"limit": 1001}"#, "got the number 1001"),
            (#"{"limit": 10.0}"#, "limit must be an integer"),
            (#"{"limit": "10"}"#, "got a string"),
        ]
        for (body, fragment) in cases {
            XCTAssertThrowsError(try DocumentQuery.parse(JSON.parse(body)), body) { error in
                guard case let .invalidQuery(detail) = error as? QueryError else { return XCTFail("\(body): \(error)") }
                XCTAssertTrue(detail.contains(fragment), "\(body): \(detail)")
            }
        }
        // The limits themselves are accepted.
        let sixteen = (1...16).map { "k\($0)" }.joined(separator: ".")
        XCTAssertNoThrow(try DocumentQuery.parse(JSON.parse(#"{"filter": {"\#(sixteen)": 1}, "sort": ["a", "-b", "c[0]", "d-e.f_g"], "limit": 1000}"#)))
        XCTAssertNoThrow(try DocumentQuery.parse(JSON.parse(#"{"filter": {"\#(String(repeating: "a", count: 256))": 1}, "limit": 1, "after": null}"#)))
        XCTAssertEqual(try DocumentQuery.parse(JSON.parse("{}")).limit, 100)
    }

    func testInvalidCursorsAreRefused() throws {
        let store = try openStore()
        try seed(store)
        let first = try store.query(collection: "items", DocumentQuery.parse(JSON.parse(#"{"sort": ["v"], "limit": 2}"#)))
        let cursor = try XCTUnwrap(first.next)
        XCTAssertTrue(cursor.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "base64url: \(cursor)")
        // The same sort and filter (in another key order) accept it; the limit may change.
        XCTAssertNoThrow(try DocumentQuery.parse(JSON.parse(#"{"limit": 5, "after": "\#(cursor)", "sort": ["v"]}"#)))

        let tampered = try XCTUnwrap(Self.reencode(cursor) { $0.replacingOccurrences(of: "\"k\":[[0,", with: "\"k\":[[9,") })
        let foreign = [
            (#"{"sort": ["-v"], "after": "\#(cursor)"}"#, "different sort or filter"),
            (#"{"sort": ["v", "w"], "after": "\#(cursor)"}"#, "different sort or filter"),
            (#"{"sort": ["v"], "filter": {"v": 1}, "after": "\#(cursor)"}"#, "different sort or filter"),
            (#"{"sort": ["v"], "after": "not a cursor!"}"#, "not base64url"),
            (#"{"sort": ["v"], "after": "e30"}"#, "malformed"),  // "{}"
            (#"{"sort": ["v"], "after": "bm90IGpzb24"}"#, "malformed"),  // "not json"
            (#"{"sort": ["v"], "after": "A"}"#, "not base64url"),
            (#"{"sort": ["v"], "after": ""}"#, "malformed"),
            (#"{"sort": ["v"], "after": "\#(tampered)"}"#, "malformed sort value"),
            (#"{"sort": ["v"], "after": 5}"#, "after must be a string"),
        ]
        for (body, fragment) in foreign {
            XCTAssertThrowsError(try DocumentQuery.parse(JSON.parse(body)), body) { error in
                guard case let .invalidCursor(detail) = error as? QueryError else { return XCTFail("\(body): \(error)") }
                XCTAssertTrue(detail.contains(fragment), "\(body): \(detail)")
            }
        }
    }

    func testQueriesTimeOut() throws {
        let store = try openStore(configuration { $0.queryTimeoutMilliseconds = 1 })
        for chunk in 0..<20 {
            let operations = (0..<1000).map { n in
                put("big", "d\(chunk)-\(n)", #"{"a": {"b": \#(n % 97), "c": "\#(String(repeating: "x", count: n % 50))"}, "n": \#(n)}"#)
            }
            XCTAssertTrue(store.submit(WriteCommand(operations: operations, timestampMilliseconds: 1)) { _ in })
        }
        _ = try apply(store, put("big", "last", "{}"))
        let query = try DocumentQuery.parse(JSON.parse(#"{"filter": {"a.b": {"gte": 0}, "n": {"ne": -1}}, "sort": ["-a.c", "a.b", "-n"], "limit": 1000}"#))
        XCTAssertThrowsError(try store.query(collection: "big", query)) { error in
            guard case .queryTimeout = error as? StorageError else { return XCTFail("\(error)") }
        }
        // The reader is usable afterwards (point reads have no deadline).
        XCTAssertNotNil(try store.document(collection: "big", id: "d0-1"))
    }

    /// Decodes a cursor, edits its JSON text and encodes it again.
    private static func reencode(_ cursor: String, _ edit: (String) -> String) -> String? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var bits: UInt32 = 0, count = 0
        var bytes: [UInt8] = []
        for character in cursor.utf8 {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            bits = bits << 6 | UInt32(value)
            count += 6
            if count >= 8 {
                count -= 8
                bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            }
        }
        let edited = Array(edit(String(decoding: bytes, as: UTF8.self)).utf8)
        var out: [UInt8] = []
        var index = 0
        while index < edited.count {
            let chunk = edited[index..<min(index + 3, edited.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << UInt32(16 - 8 * offset) }
            for position in 0...chunk.count { out.append(alphabet[Int(value >> UInt32(18 - 6 * position) & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
