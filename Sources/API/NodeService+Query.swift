import JSON
import MicroHTTPD
import Storage

extension NodeService {
    /// `POST /v1/collections/{c}/query`: validated on the I/O thread, run on a worker.
    func query(_ request: Request, collection: String, _ responder: MeteredResponder) throws(Problem) {
        let body = try jsonBody(request, limit: configuration.maxQueryBodyBytes, depth: configuration.maxJSONDepth)
        let parsed: DocumentQuery
        do {
            parsed = try DocumentQuery.parse(body)
        } catch {
            switch error {
            case let .invalidQuery(detail): throw Problem(.invalidQuery, detail)
            case let .invalidCursor(detail): throw Problem(.invalidCursor, detail)
            }
        }
        let path = request.path
        let run: @Sendable () -> Void = {
            do throws(StorageError) {
                let page = try self.store.query(collection: collection, parsed)
                responder.respond(Response(status: 200, contentType: "application/json", body: Self.render(page)))
            } catch {
                responder.respond(self.problem(for: error).response(instance: path))
            }
        }
        try whenConsistent(request, responder) {
            if !self.workers.submit(run) {
                responder.respond(Problem(.overloaded, "too many queries queued").response(instance: path))
            }
        }
    }

    /// A JSON request body (query, bulk): JSON media type (or none), bounded size, valid, bounded depth.
    func jsonBody(_ request: Request, limit: Int, depth: Int) throws(Problem) -> JSON {
        if let media = Headers.mediaType(request.header("content-type")), !Headers.isJSON(media) {
            throw Problem(.unsupportedMediaType, "this endpoint takes application/json")
        }
        guard request.body.count <= limit else {
            throw Problem(.bodyTooLarge, "this endpoint takes at most \(limit) bytes")
        }
        do {
            return try JSON.parse(request.body, maxDepth: depth)
        } catch {
            throw problem(for: error, invalid: .invalidJSON)
        }
    }

    /// The page as JSON, embedding each stored document's text as is (no re-encoding).
    static func render(_ page: QueryPage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + page.documents.reduce(0) { $0 + $1.body.count + 96 })
        out.append(contentsOf: #"{"docs":["#.utf8)
        for (n, document) in page.documents.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"id":"#.utf8)
            JSON.appendString(document.id, into: &out)
            out.append(contentsOf: #","rev":\#(document.rev),"bucket":\#(document.bucket),"updated_at":\#(document.updatedAt),"doc":"#.utf8)
            out.append(contentsOf: document.body)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"count":\#(page.documents.count),"next":"#.utf8)
        if let next = page.next { JSON.appendString(next, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
