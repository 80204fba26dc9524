// swift-tools-version:6.0
// MachdbClient: a Swift client for machdb's HTTP API, generated at build time by
// swift-openapi-generator's build plugin from OpenAPI/machdb.yaml (the contract; the target's
// openapi.yaml is a symlink to it). A package of its own, so the server build stays lean.
import PackageDescription

let package = Package(
    name: "MachdbClient",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MachdbClient", targets: ["MachdbClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        .target(
            name: "MachdbClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            plugins: [
                .plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator"),
            ]
        ),
        .testTarget(
            name: "MachdbClientTests",
            dependencies: [
                "MachdbClient",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
