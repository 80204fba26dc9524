import JSON
import MicroHTTPD

extension NodeService {
    // MARK: GET /admin/v1/scaling/history?after=ms

    /// The per-second samples of the last ten minutes that ended after `after` (ms since the
    /// epoch; default 0: all of them), oldest first.
    func loadHistory(_ request: Request) throws(Problem) -> Response {
        guard let after = Int64(request.queryValue("after") ?? "0"), after >= 0 else {
            throw Problem(.invalidParameter, "after must be a time in ms since the epoch (a non-negative integer)")
        }
        let (samples, capacity) = measurement.history(after: after)
        return ResponseBody.json(.object([
            ("node", .string(configuration.nodeID)), ("interval_seconds", .int(1)), ("capacity", .int(capacity)),
            ("samples", .array(samples.map(\.json))),
        ]))
    }
}
