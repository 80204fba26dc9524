import Foundation
import MachdbClient
import OpenAPIRuntime
import XCTest

/// A shopping cart, end to end, against a real `machdb serve` (Mach I) through the generated
/// client only: every request and every answer goes through the types generated from
/// OpenAPI/machdb.yaml.
final class CartScenarioTests: XCTestCase {
    typealias JsonValue = Components.Schemas.JsonValue

    private var node: MachdbNode?

    /// Starts this test's node. Called first in each test rather than in `setUp`, so a missing
    /// binary is a plain test failure (XCTest on Linux reports a throwing `setUp` as skipped too).
    private func startNode() async throws -> MachdbNode {
        let node = try MachdbNode(adminToken: "admin-\(UUID().uuidString)")
        self.node = node
        try await node.start()
        return node
    }

    override func tearDown() {
        guard let node else { return }
        node.stop()
        if (testRun?.totalFailureCount ?? 0) > 0 {
            print("---- \(node.logURL.path) ----\n\(node.log())\n---- end of log ----")
        } else {
            node.removeFiles()
        }
        self.node = nil
    }

    // MARK: - Documents, query, bulk, collections

    func testShoppingCart() async throws {
        let node = try await startNode()
        let client = Client(baseURL: node.baseURL)
        let c1 = Operations.PutDocument.Input.Path(collection: "carts", id: "c1")

        // PUT a new cart: 201, rev 1, ETag "1", Location, bucket from the id.
        let cart = try json(#"{"customer": "alice", "status": "open", "items": [{"sku": "apple", "qty": 3, "price": 0.5}], "total": 1.5}"#)
        let put = try await client.putDocument(path: c1, body: .json(cart))
        guard case .created(let created) = put else { throw unexpected("PUT c1 (new)", put) }
        XCTAssertEqual(created.headers.eTag, #""1""#)
        XCTAssertTrue(created.headers.location.hasSuffix("/v1/collections/carts/docs/c1"), created.headers.location)
        XCTAssertEqual(created.headers.xMachdbServedBy, "n1")
        let first = try created.body.json
        XCTAssertEqual(first.collection, "carts")
        XCTAssertEqual(first.id, "c1")
        XCTAssertEqual(first.rev, 1)
        XCTAssertEqual(first.bucket, bucket(of: "c1"))
        XCTAssertEqual(first.index, created.headers.xMachdbIndex)

        // GET it back: the same JSON, ETag "1"; If-None-Match "1" answers 304.
        let get = try await client.getDocument(path: .init(collection: "carts", id: "c1"))
        guard case .ok(let got) = get else { throw unexpected("GET c1", get) }
        XCTAssertEqual(try got.body.json, cart)
        XCTAssertEqual(got.headers.eTag, #""1""#)
        XCTAssertEqual(got.headers.xMachdbRev, 1)
        XCTAssertEqual(got.headers.xMachdbBucket, bucket(of: "c1"))
        let unchanged = try await client.getDocument(
            path: .init(collection: "carts", id: "c1"), headers: .init(ifNoneMatch: #""1""#))
        guard case .notModified(let notModified) = unchanged else { throw unexpected("GET c1 If-None-Match", unchanged) }
        XCTAssertEqual(notModified.headers.eTag, #""1""#)

        // Conditional replace with If-Match "1": 200, rev 2.
        let twoItems = try json(#"{"customer": "alice", "status": "open", "items": [{"sku": "apple", "qty": 3, "price": 0.5}, {"sku": "pear", "qty": 1, "price": 0.75}], "total": 2.25}"#)
        let replace = try await client.putDocument(path: c1, headers: .init(ifMatch: #""1""#), body: .json(twoItems))
        guard case .ok(let replaced) = replace else { throw unexpected("PUT c1 If-Match 1", replace) }
        XCTAssertEqual(replaced.headers.eTag, #""2""#)
        XCTAssertEqual(try replaced.body.json.rev, 2)

        // The same If-Match "1" is stale now: a typed 412 problem, nothing written.
        let stale = try await client.putDocument(path: c1, headers: .init(ifMatch: #""1""#), body: .json(cart))
        guard case .preconditionFailed(let failed) = stale else { throw unexpected("PUT c1 stale If-Match", stale) }
        let problem = try failed.body.applicationProblemJson
        XCTAssertEqual(problem._type, "urn:machdb:problem:precondition-failed")
        XCTAssertEqual(problem.status, 412)
        XCTAssertEqual(problem.instance, "/v1/collections/carts/docs/c1")

        // PATCH (merge patch): status changes, the rest stays; rev 3.
        let patch = try await client.patchDocument(
            path: .init(collection: "carts", id: "c1"),
            headers: .init(ifMatch: #""2""#),
            body: .applicationMergePatchJson(try json(#"{"status": "checkout", "coupon": null}"#)))
        guard case .ok(let patched) = patch else { throw unexpected("PATCH c1", patch) }
        XCTAssertEqual(patched.headers.eTag, #""3""#)
        let afterPatch = try await client.getDocument(path: .init(collection: "carts", id: "c1"))
        guard case .ok(let gotPatched) = afterPatch else { throw unexpected("GET c1 after PATCH", afterPatch) }
        XCTAssertEqual(try gotPatched.body.json, try json(#"{"customer": "alice", "status": "checkout", "items": [{"sku": "apple", "qty": 3, "price": 0.5}, {"sku": "pear", "qty": 1, "price": 0.75}], "total": 2.25}"#))

        // POST: the server picks the id (20 characters [0-9a-z]); 201 with Location.
        let post = try await client.createDocument(
            path: .init(collection: "carts"),
            body: .json(try json(#"{"customer": "bob", "status": "open", "items": [{"sku": "kiwi", "qty": 1, "price": 0.25}], "total": 0.25}"#)))
        guard case .created(let posted) = post else { throw unexpected("POST carts", post) }
        let serverID = try posted.body.json.id
        XCTAssertEqual(serverID.count, 20)
        XCTAssertTrue(serverID.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) }, serverID)
        XCTAssertTrue(posted.headers.location.hasSuffix("/v1/collections/carts/docs/\(serverID)"), posted.headers.location)
        XCTAssertEqual(posted.headers.eTag, #""1""#)

        // More open carts to query.
        let seeded: [(id: String, customer: String, total: Double)] = [
            ("c2", "alice", 9.5), ("c3", "carol", 4.25), ("c4", "bob", 7.75), ("c5", "dave", 3.5), ("c6", "carol", 12.5),
        ]
        for cart in seeded {
            let body = try json(#"{"customer": "\#(cart.customer)", "status": "open", "items": [{"sku": "fig", "qty": 1, "price": \#(cart.total)}], "total": \#(cart.total)}"#)
            let output = try await client.putDocument(
                path: .init(collection: "carts", id: cart.id), headers: .init(ifNoneMatch: ._ast_), body: .json(body))
            guard case .created = output else { throw unexpected("PUT \(cart.id)", output) }
        }

        // Query: open carts of alice, bob or carol, biggest first, two per page.
        let filter = Components.Schemas.Query.FilterPayload(additionalProperties: [
            "status": .Operators(.init(eq: "open")),
            "customer": .Operators(.init(_in: ["alice", "bob", "carol"])),
            "items[0].sku": .Operators(.init(exists: true)),
        ])
        var hits: [Components.Schemas.QueryHit] = []
        var after: String? = nil
        var pages = 0
        repeat {
            let query = try await client.queryDocuments(
                path: .init(collection: "carts"),
                body: .json(.init(filter: filter, sort: ["-total"], limit: 2, after: after)))
            guard case .ok(let page) = query else { throw unexpected("query page \(pages + 1)", query) }
            let result = try page.body.json
            XCTAssertEqual(result.count, result.docs.count)
            XCTAssertLessThanOrEqual(result.docs.count, 2)
            hits += result.docs
            after = result.next
            pages += 1
        } while after != nil && pages < 10
        // bob's POSTed cart (0.25) matches too: c6 12.5, c2 9.5, c4 7.75, c3 4.25, server id 0.25.
        XCTAssertEqual(hits.map(\.id), ["c6", "c2", "c4", "c3", serverID])
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(try hits.map { try number(field("total", of: $0.doc)) }, [12.5, 9.5, 7.75, 4.25, 0.25])
        XCTAssertEqual(hits.first?.bucket, bucket(of: "c6"))
        XCTAssertEqual(hits.first?.rev, 1)

        // Bulk, mixed: put (if-none-match *), create, a stale patch (412 item), delete.
        let bulk = try await client.bulk(body: .json(.init(ops: [
            .put(.init(op: "put", collection: "carts", id: "c7", doc: try json(#"{"customer": "erin", "status": "open", "total": 1.25}"#), ifNoneMatch: "*")),
            .create(.init(op: "create", collection: "carts", doc: try json(#"{"customer": "frank", "status": "open", "total": 2.5}"#))),
            .patch(.init(op: "patch", collection: "carts", id: "c2", patch: try json(#"{"status": "closed"}"#), ifMatch: .case1("7"))),
            .delete(.init(op: "delete", collection: "carts", id: "c5", ifMatch: .case2(1))),
        ])))
        guard case .ok(let bulked) = bulk else { throw unexpected("bulk", bulk) }
        let results = try bulked.body.json
        XCTAssertEqual(results.index, bulked.headers.xMachdbIndex)
        XCTAssertEqual(results.results.count, 4)
        guard results.results.count == 4 else { return }
        guard case .BulkOpSuccess(let putItem) = results.results[0] else { throw unexpected("bulk put item", results.results[0]) }
        XCTAssertEqual(putItem.status, ._201)
        XCTAssertEqual(putItem.id, "c7")
        XCTAssertEqual(putItem.rev, 1)
        XCTAssertEqual(putItem.bucket, bucket(of: "c7"))
        guard case .BulkOpSuccess(let createItem) = results.results[1] else { throw unexpected("bulk create item", results.results[1]) }
        XCTAssertEqual(createItem.status, ._201)
        XCTAssertEqual(createItem.id.count, 20)
        guard case .BulkOpError(let patchItem) = results.results[2] else { throw unexpected("bulk patch item", results.results[2]) }
        XCTAssertEqual(patchItem.status, 412)
        XCTAssertEqual(patchItem.error._type, "urn:machdb:problem:precondition-failed")
        guard case .BulkOpSuccess(let deleteItem) = results.results[3] else { throw unexpected("bulk delete item", results.results[3]) }
        XCTAssertEqual(deleteItem.status, ._200)
        XCTAssertEqual(deleteItem.id, "c5")
        XCTAssertEqual(deleteItem.rev, 2)
        XCTAssertEqual(deleteItem.deleted, true)

        // Collections: c1, the POSTed cart, c2, c3, c4, c6, c7 and the bulk-created one.
        let list = try await client.listCollections()
        guard case .ok(let listed) = list else { throw unexpected("GET /v1/collections", list) }
        let collections = try listed.body.json.collections
        XCTAssertEqual(collections.map(\.name), ["carts"])
        XCTAssertEqual(collections.first?.count, 8)

        // DELETE c1 with If-Match: the tombstone takes rev 4; HEAD and GET then answer 404.
        let delete = try await client.deleteDocument(path: .init(collection: "carts", id: "c1"), headers: .init(ifMatch: #""3""#))
        guard case .ok(let deleted) = delete else { throw unexpected("DELETE c1", delete) }
        let tombstone = try deleted.body.json
        XCTAssertEqual(tombstone.value1.rev, 4)
        XCTAssertEqual(tombstone.value1.id, "c1")
        XCTAssertEqual(tombstone.value2.deleted, true)
        let headGone = try await client.headDocument(path: .init(collection: "carts", id: "c1"))
        guard case .notFound = headGone else { throw unexpected("HEAD c1 after DELETE", headGone) }
        let getGone = try await client.getDocument(path: .init(collection: "carts", id: "c1"))
        guard case .notFound(let notFound) = getGone else { throw unexpected("GET c1 after DELETE", getGone) }
        XCTAssertEqual(try notFound.body.applicationProblemJson._type, "urn:machdb:problem:not-found")

        // HEAD of a live cart: the GET headers, no body.
        let head = try await client.headDocument(path: .init(collection: "carts", id: "c2"))
        guard case .ok(let headers) = head else { throw unexpected("HEAD c2", head) }
        XCTAssertEqual(headers.headers.eTag, #""1""#)
        XCTAssertEqual(headers.headers.xMachdbRev, 1)
        XCTAssertEqual(headers.headers.xMachdbBucket, bucket(of: "c2"))
    }

    // MARK: - Admin

    func testAdminClusterView() async throws {
        let node = try await startNode()

        // Without the token: a typed 401 problem.
        let anonymous = try await Client(baseURL: node.baseURL).getClusterMap()
        guard case .unauthorized(let refused) = anonymous else { throw unexpected("cluster view without token", anonymous) }
        XCTAssertEqual(try refused.body.applicationProblemJson._type, "urn:machdb:problem:unauthorized")

        // With it (BearerTokenMiddleware on /admin routes): Mach I, one node with every role.
        let admin = Client(baseURL: node.baseURL, adminToken: node.adminToken)
        let output = try await admin.getClusterMap()
        guard case .ok(let ok) = output else { throw unexpected("cluster view", output) }
        let map = try ok.body.json
        XCTAssertEqual(map.stage, "Mach I")
        XCTAssertEqual(map.stageNumber, 1)
        XCTAssertEqual(map.servedBy, node.nodeID)
        XCTAssertEqual(map.nodes.count, 1)
        let only = try XCTUnwrap(map.nodes.first)
        XCTAssertEqual(only.id, node.nodeID)
        XCTAssertEqual(only.roles, [.writer, .replica, .loadManager])
        XCTAssertEqual(only.state, .active)
        XCTAssertEqual(only.raftState, .standalone)
        XCTAssertTrue(only.primaryLoadManager)
        XCTAssertEqual(map.shards.count, 1)
        XCTAssertEqual(map.shards.first?.value1.id, 1)
        XCTAssertEqual(map.shards.first?.value2.leader, node.nodeID)
    }

    // MARK: - Helpers

    /// A JSON value from its text.
    private func json(_ text: String) throws -> JsonValue {
        try JSONDecoder().decode(JsonValue.self, from: Data(text.utf8))
    }

    private func field(_ key: String, of value: JsonValue) throws -> (any Sendable)? {
        let object = try XCTUnwrap(value.value as? [String: (any Sendable)?], "not a JSON object: \(value)")
        return object[key] ?? nil
    }

    private func number(_ value: (any Sendable)?) throws -> Double {
        if let value = value as? Double { return value }
        if let value = value as? Int { return Double(value) }
        throw unexpected("a JSON number", value as Any)
    }

    /// `1 + FNV-1a-64(UTF-8 of id) mod 1000` (docs/API.md).
    private func bucket(of id: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(1 + hash % 1000)
    }

    private func unexpected(_ step: String, _ output: Any) -> some Error {
        UnexpectedAnswer(description: "\(step): unexpected answer \(output)")
    }
}

struct UnexpectedAnswer: Error, CustomStringConvertible {
    let description: String
}
