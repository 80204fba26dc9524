import MicroHTTPD

extension NodeService {
    // MARK: GET /console

    /// The console's page or one of its assets. Public: they hold no cluster data; the page
    /// asks for the admin token and reads the admin routes with it (docs/ARCHITECTURE.md,
    /// "Console").
    func console(_ asset: ConsoleAsset) -> Response {
        Response(status: 200, contentType: asset.contentType, body: asset.bytes, headers: Self.consoleHeaders)
    }

    /// Everything the page loads or calls comes from this node: no inline script or style,
    /// no other origin, no framing; nothing cached, nothing sent as a referrer.
    static let consoleHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            + "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
}
