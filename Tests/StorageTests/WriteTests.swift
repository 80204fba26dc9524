import Glibc
import JSON
import Sharding
import Storage
import XCTest

final class WriteTests: StoreTestCase {
    func testPutReplaceDeleteAndTombstoneContinueTheRev() throws {
        let store = try openStore()
        let created = try written(write(store, put("carts", "c1", #"{"a": 1}"#)))
        XCTAssertEqual(created, WriteResult(collection: "carts", id: "c1", rev: 1, bucket: Bucket.of("c1"), created: true, deleted: false))

        let replaced = try written(write(store, put("carts", "c1", #"{"a": 2}"#)))
        XCTAssertEqual(replaced.rev, 2)
        XCTAssertFalse(replaced.created)

        let document = try XCTUnwrap(store.document(collection: "carts", id: "c1"))
        XCTAssertEqual(String(decoding: document.body, as: UTF8.self), #"{"a": 2}"#, "stored byte-exact, not re-serialized")
        XCTAssertEqual(document.rev, 2)
        XCTAssertEqual(document.bucket, Bucket.of("c1"))
        XCTAssertEqual(document.contentType, "application/json")
        XCTAssertTrue(document.isJSON)
        XCTAssertEqual(document.updatedAt, 1_700_000_000_000)
        XCTAssertEqual(document.writeIndex, store.appliedIndex)

        let deleted = try written(write(store, delete("carts", "c1")))
        XCTAssertEqual(deleted, WriteResult(collection: "carts", id: "c1", rev: 3, bucket: Bucket.of("c1"), created: false, deleted: true))
        XCTAssertNil(try store.document(collection: "carts", id: "c1"))
        XCTAssertEqual(try write(store, delete("carts", "c1")), .failed(.notFound))

        let recreated = try written(write(store, put("carts", "c1", "[]")))
        XCTAssertEqual(recreated.rev, 4, "re-creating continues after the tombstone")
        XCTAssertTrue(recreated.created)
        XCTAssertEqual(try store.document(collection: "carts", id: "c1")?.rev, 4)
        XCTAssertNil(try store.document(collection: "other", id: "c1"), "collections are separate")
    }

    func testRawBodiesAreStoredExactly() throws {
        let store = try openStore()
        let bytes: [UInt8] = [0, 0xFF, 0x80, 10, 0, 13]
        _ = try written(write(store, putRaw("files", "f", bytes, contentType: "image/png")))
        _ = try written(write(store, putRaw("files", "empty", [], contentType: "text/plain")))
        let document = try XCTUnwrap(store.document(collection: "files", id: "f"))
        XCTAssertEqual(document.body, bytes)
        XCTAssertFalse(document.isJSON)
        XCTAssertEqual(document.contentType, "image/png")
        XCTAssertEqual(try store.document(collection: "files", id: "empty")?.body, [])

        let scalar = try written(write(store, put("files", "json-scalar", "  \"text\" ")))
        XCTAssertEqual(scalar.rev, 1)
        XCTAssertEqual(try body(store, "files", "json-scalar"), "  \"text\" ")
        _ = try written(write(store, putRaw("files", "json-scalar", Array("now raw".utf8))))
        XCTAssertEqual(try store.document(collection: "files", id: "json-scalar")?.isJSON, false)
    }

    func testPutPreconditions() throws {
        let store = try openStore()
        // Absent document.
        XCTAssertEqual(try write(store, put("c", "d", "1", .ifMatch([1]))), .failed(.preconditionFailed(currentRev: nil)))
        XCTAssertEqual(try write(store, put("c", "d", "1", .ifExists)), .failed(.preconditionFailed(currentRev: nil)))
        XCTAssertEqual(try written(write(store, put("c", "d", "1", .ifAbsent))).rev, 1)
        // Live document at rev 1.
        XCTAssertEqual(try write(store, put("c", "d", "2", .ifAbsent)), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try write(store, put("c", "d", "2", .ifMatch([2, 3]))), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try written(write(store, put("c", "d", "2", .ifMatch([5, 1])))).rev, 2)
        XCTAssertEqual(try written(write(store, put("c", "d", "3", .ifExists))).rev, 3)
        XCTAssertEqual(try written(write(store, put("c", "d", "4", .none))).rev, 4)
        XCTAssertEqual(try body(store, "c", "d"), "4", "failed operations wrote nothing")
        // Tombstone at rev 5: not live.
        _ = try written(write(store, delete("c", "d")))
        XCTAssertEqual(try write(store, put("c", "d", "6", .ifMatch([5]))), .failed(.preconditionFailed(currentRev: nil)))
        XCTAssertEqual(try write(store, put("c", "d", "6", .ifExists)), .failed(.preconditionFailed(currentRev: nil)))
        let recreated = try written(write(store, put("c", "d", "6", .ifAbsent)))
        XCTAssertEqual(recreated.rev, 6)
        XCTAssertTrue(recreated.created)
    }

    func testDeleteAndPatchPreconditions() throws {
        let store = try openStore()
        XCTAssertEqual(try write(store, delete("c", "d", .ifMatch([1]))), .failed(.notFound), "notFound comes before preconditions")
        XCTAssertEqual(try write(store, patch("c", "d", "{}", .ifAbsent)), .failed(.notFound))
        _ = try written(write(store, put("c", "d", #"{"n": 1}"#)))
        XCTAssertEqual(try write(store, delete("c", "d", .ifMatch([2]))), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try write(store, delete("c", "d", .ifAbsent)), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try write(store, patch("c", "d", #"{"n": 2}"#, .ifMatch([7]))), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try write(store, patch("c", "d", #"{"n": 2}"#, .ifAbsent)), .failed(.preconditionFailed(currentRev: 1)))
        XCTAssertEqual(try written(write(store, patch("c", "d", #"{"n": 2}"#, .ifMatch([1])))).rev, 2)
        XCTAssertEqual(try written(write(store, patch("c", "d", #"{"n": 3}"#, .ifExists))).rev, 3)
        XCTAssertEqual(try written(write(store, delete("c", "d", .ifExists))).rev, 4)
        _ = try written(write(store, put("c", "e", "{}")))
        XCTAssertEqual(try written(write(store, delete("c", "e", .ifMatch([1])))).rev, 2)
    }

    func testPatchMergesAndReportsFailures() throws {
        let store = try openStore()
        XCTAssertEqual(try write(store, patch("c", "missing", #"{"a": 1}"#)), .failed(.notFound))
        _ = try written(write(store, put("c", "d", #"{"a": {"b": 1, "c": 2}, "keep": true, "drop": 0}"#)))
        let patched = try written(write(store, patch("c", "d", #"{"a": {"b": null, "d": [1]}, "drop": null, "new": "x"}"#)))
        XCTAssertEqual(patched.rev, 2)
        XCTAssertFalse(patched.created)
        let document = try XCTUnwrap(store.document(collection: "c", id: "d"))
        XCTAssertEqual(try JSON.parse(document.body), try JSON.parse(#"{"a": {"c": 2, "d": [1]}, "keep": true, "new": "x"}"#))
        XCTAssertFalse(document.body.contains(UInt8(ascii: " ")), "a PATCH result is re-encoded compactly")
        XCTAssertEqual(document.contentType, "application/json")

        // A non-object patch replaces the document.
        _ = try written(write(store, patch("c", "d", "[1, 2]")))
        XCTAssertEqual(try body(store, "c", "d"), "[1,2]")

        // Not JSON.
        _ = try written(write(store, putRaw("c", "raw", [1, 2, 3])))
        XCTAssertEqual(try write(store, patch("c", "raw", "{}")), .failed(.notJSON))
        XCTAssertEqual(try store.document(collection: "c", id: "raw")?.body, [1, 2, 3])

        // Deleted.
        _ = try written(write(store, delete("c", "d")))
        XCTAssertEqual(try write(store, patch("c", "d", "{}")), .failed(.notFound))
    }

    func testPatchResultDeeperThanTheLimitIsRefused() throws {
        let store = try openStore(configuration { $0.maxJSONDepth = 4 })
        _ = try written(write(store, put("c", "d", #"{"a": {"b": {"c": 1}}}"#)))  // depth 3
        XCTAssertEqual(try written(write(store, patch("c", "d", #"{"a": {"b": {"c": {}}}}"#))).rev, 2)  // depth 4
        XCTAssertEqual(try write(store, patch("c", "d", #"{"a": {"b": {"c": {"d": []}}}}"#)), .failed(.patchResultTooDeep))
        XCTAssertEqual(try store.document(collection: "c", id: "d")?.rev, 2)
        XCTAssertEqual(try body(store, "c", "d"), #"{"a":{"b":{"c":{}}}}"#)
    }

    func testInvalidPatchBodyIsRefusedBeforeQueueing() throws {
        let store = try openStore()
        let before = store.appliedIndex
        XCTAssertThrowsError(try apply(store, WriteCommand(operations: [put("c", "x", "1"), patch("c", "x", "{nope")], timestampMilliseconds: 1))) { error in
            guard case let .invalidCommand(detail) = error as? StorageError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("operation 1"), detail)
        }
        XCTAssertEqual(store.appliedIndex, before)
        XCTAssertNil(try store.document(collection: "c", id: "x"))
    }

    func testBulkOperationsApplyInOrderEachOnItsOwn() throws {
        let store = try openStore()
        let result = try apply(store, WriteCommand(operations: [
            put("c", "a", #"{"v": 1}"#),
            put("c", "a", #"{"v": 2}"#, .ifMatch([1])),
            put("c", "b", "{}", .ifMatch([9])),
            patch("c", "a", #"{"w": true}"#),
            delete("c", "missing"),
            put("d", "x", "{}"),
            delete("d", "x"),
            put("c", "b", "{}", .ifAbsent),
        ], timestampMilliseconds: 42))
        XCTAssertEqual(result.outcomes.count, 8)
        XCTAssertEqual(try written(result.outcomes[0]).rev, 1)
        XCTAssertEqual(try written(result.outcomes[1]).rev, 2, "sees the earlier operation of the same command")
        XCTAssertEqual(result.outcomes[2], .failed(.preconditionFailed(currentRev: nil)))
        XCTAssertEqual(try written(result.outcomes[3]).rev, 3)
        XCTAssertEqual(result.outcomes[4], .failed(.notFound))
        XCTAssertTrue(try written(result.outcomes[6]).deleted)
        XCTAssertTrue(try written(result.outcomes[7]).created)
        XCTAssertEqual(try body(store, "c", "a"), #"{"v":2,"w":true}"#)
        let a = try XCTUnwrap(store.document(collection: "c", id: "a"))
        XCTAssertEqual(a.writeIndex, result.index, "every operation of a command carries its index")
        XCTAssertEqual(a.updatedAt, 42)
        XCTAssertEqual(try store.collections().map(\.name), ["c"])
        XCTAssertEqual(try store.collections().map(\.count), [2])
    }

    func testCollectionCountsFollowLiveDocuments() throws {
        let store = try openStore()
        XCTAssertTrue(try store.collections().isEmpty)
        _ = try apply(store, put("zeta", "1", "{}"), put("alpha", "1", "{}"), put("alpha", "2", "{}"), putRaw("alpha", "3", [1]))
        _ = try apply(store, put("alpha", "2", "{}"))  // replace: no change
        XCTAssertEqual(try store.collections().map { "\($0.name)=\($0.count)" }, ["alpha=3", "zeta=1"])
        XCTAssertEqual(store.statistics.documentCount, 4)
        _ = try apply(store, delete("zeta", "1"), delete("alpha", "3"), delete("alpha", "3"))
        XCTAssertEqual(try store.collections().map { "\($0.name)=\($0.count)" }, ["alpha=2"], "empty collections are not listed")
        _ = try apply(store, put("zeta", "1", "{}"))
        XCTAssertEqual(try store.collections().map { "\($0.name)=\($0.count)" }, ["alpha=2", "zeta=1"])
        XCTAssertEqual(store.statistics.documentCount, 3)
        store.close()
        let reopened = try openStore()
        XCTAssertEqual(reopened.statistics.documentCount, 3, "count restored from the collections table")
        XCTAssertEqual(try reopened.collections().map { "\($0.name)=\($0.count)" }, ["alpha=2", "zeta=1"])
    }

    func testConfigurationIsValidated() throws {
        XCTAssertNoThrow(try configuration().validate())
        let bad: [(String, (inout StoreConfiguration) -> Void)] = [
            ("readerPoolSize", { $0.readerPoolSize = 0 }),
            ("writeQueueCapacity", { $0.writeQueueCapacity = 0 }),
            ("maxBatch", { $0.maxBatch = 0 }),
            ("queryTimeoutMilliseconds", { $0.queryTimeoutMilliseconds = 0 }),
            ("maxJSONDepth", { $0.maxJSONDepth = 0 }),
            ("path", { $0.path = "" }),
        ]
        for (name, adjust) in bad {
            XCTAssertThrowsError(try openStore(configuration(adjust))) { error in
                guard case let .invalidConfiguration(detail) = error as? StorageError else { return XCTFail("\(error)") }
                XCTAssertTrue(detail.contains(name), detail)
            }
        }
    }

    func testOpeningAForeignDatabaseFails() throws {
        let path = directory + "/foreign.sqlite"
        let file = fopen(path, "w")
        fputs("this is not a database, just some text that is long enough to look like a header......", file)
        fclose(file)
        XCTAssertThrowsError(try openStore(configuration { $0.path = path }))
    }
}
