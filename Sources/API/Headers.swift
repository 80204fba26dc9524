import MicroHTTPD
import Storage

/// Parsing of the request headers the API understands.
enum Headers {
    /// Entity tags of an `If-Match` / `If-None-Match` value: `*`, or a comma-separated list of
    /// quoted tags (`"3"`, `W/"3"`, RFC 9110 §8.8.3). A well-formed tag that is not a revision
    /// (`"abc"`) never matches. Anything else — an unquoted `3` included — is a 400, so a
    /// client never believes a precondition was checked when it was not.
    enum TagList: Equatable {
        case any
        case tags(strong: [UInt64], weak: [UInt64])
    }

    static func tagList(_ value: String, header: String) throws(Problem) -> TagList {
        let trimmed = value.trimmingSpaces
        if trimmed == "*" { return .any }
        var strong: [UInt64] = [], weak: [UInt64] = []
        for rawPart in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            var part = Substring(String(rawPart).trimmingSpaces)
            var isWeak = false
            if part.hasPrefix("W/") { isWeak = true; part = part.dropFirst(2) }
            if part.count >= 2, part.first == "\"", part.last == "\"" {
                let inner = part.dropFirst().dropLast()
                guard !inner.contains("\"") else { throw Problem(.invalidHeader, "\(header): malformed entity tag \(rawPart)") }
                if let rev = UInt64(inner) { if isWeak { weak.append(rev) } else { strong.append(rev) } }
            } else {
                throw Problem(.invalidHeader, "\(header): expected * or quoted entity tags like \"3\", got \(value)")
            }
        }
        return .tags(strong: strong, weak: weak)
    }

    /// The write precondition of a PUT/PATCH/DELETE.
    static func precondition(_ request: Request, allowIfNoneMatch: Bool) throws(Problem) -> Precondition {
        let ifMatch = request.header("if-match")
        let ifNoneMatch = request.header("if-none-match")
        if ifMatch != nil && ifNoneMatch != nil {
            throw Problem(.invalidHeader, "send either If-Match or If-None-Match, not both")
        }
        if let ifMatch {
            switch try tagList(ifMatch, header: "If-Match") {
            case .any: return .ifExists
            case let .tags(strong, _): return .ifMatch(strong)  // weak tags never match If-Match
            }
        }
        if let ifNoneMatch {
            guard allowIfNoneMatch, try tagList(ifNoneMatch, header: "If-None-Match") == .any else {
                throw Problem(.invalidHeader, "If-None-Match on this write supports only *")
            }
            return .ifAbsent
        }
        return Precondition.none
    }

    /// The media type without parameters, lowercased (`application/json; charset=utf-8` → `application/json`).
    static func mediaType(_ contentType: String?) -> String? {
        guard let contentType else { return nil }
        let base = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? contentType
        return base.trimmingSpaces.lowercased()
    }

    /// True for `application/json` and `*/*+json`.
    static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType.hasSuffix("+json")
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
