/// The files of the browser console (`GET /console`, `/console/console.js`,
/// `/console/console.css`), embedded in the binary (docs/ARCHITECTURE.md, "Console").
enum ConsoleAsset: Equatable {
    case page, script, style

    init?(fileName: String) {
        switch fileName {
        case "console.js": self = .script
        case "console.css": self = .style
        default: return nil
        }
    }

    var contentType: String {
        switch self {
        case .page: "text/html; charset=utf-8"
        case .script: "text/javascript; charset=utf-8"
        case .style: "text/css; charset=utf-8"
        }
    }

    /// The file's bytes, built once.
    var bytes: [UInt8] {
        switch self {
        case .page: Self.pageBytes
        case .script: Self.scriptBytes
        case .style: Self.styleBytes
        }
    }

    private static let pageBytes = Array(ConsolePage.html.utf8)
    private static let scriptBytes = Array(ConsoleScript.source.utf8)
    private static let styleBytes = Array(ConsoleStyle.css.utf8)
}
