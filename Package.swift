// swift-tools-version:6.0
// machdb: one binary, layered targets (see STYLE.md). A target imports only lower layers.
import PackageDescription

let package = Package(
    name: "machdb",
    products: [
        .executable(name: "machdb", targets: ["machdb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Layer 0: system libraries (pkg-config, Debian packages) and the C shim.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "CShims", dependencies: ["CMicroHTTPD", "CJansson", "CSQLite", "CCurl"],
                linkerSettings: [.linkedLibrary("gnutls")]),

        // Layer 1: safe wrappers, no project logic.
        .target(name: "Sync"),
        .target(name: "MicroHTTPD", dependencies: ["CMicroHTTPD", "CShims", "Sync"]),
        .target(name: "JSON", dependencies: ["CJansson", "CShims"]),
        .target(name: "SQLite", dependencies: ["CSQLite", "CShims"]),
        .target(name: "Curl", dependencies: ["CCurl", "CShims"]),
        .target(name: "Digest", dependencies: ["COpenSSL"]),

        // Layer 2: pure cores (no I/O, no clock, no global randomness).
        .target(name: "Sharding"),
        .target(name: "RaftCore"),
        .target(name: "Topology", dependencies: ["JSON", "RaftCore"]),
        .target(name: "Scaling", dependencies: ["JSON"]),

        // Layer 3: node services.
        .target(name: "Storage", dependencies: [
            "SQLite", "JSON", "Sharding", "Sync", "RaftCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PeerTransport", dependencies: [
            "Curl", "RaftCore", "Sync", "COpenSSL",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Replica", dependencies: [
            "RaftCore", "Storage", "PeerTransport", "Sync", "Sharding", "Topology",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The cluster supervisor: Raft mode and joins, the replicated cluster map, the topology
        // controller, relays between nodes. Below the API, which routes requests to it.
        .target(name: "Cluster", dependencies: [
            "Curl", "JSON", "RaftCore", "Replica", "Storage", "PeerTransport", "Sync", "Topology",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Layer 4: edges. The Load Manager's gateway pieces (admission, upstream limits,
        // measurement, the operator hook) sit under the API that wires them to routes.
        .target(name: "LoadManager", dependencies: [
            "Curl", "SQLite", "JSON", "Sync", "Scaling", "Digest",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "API", dependencies: [
            "MicroHTTPD", "JSON", "Storage", "Sharding", "Sync", "Replica", "PeerTransport", "RaftCore", "Curl", "Topology",
            "LoadManager", "Scaling", "Cluster",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Layer 5: the executable.
        .executableTarget(name: "machdb", dependencies: [
            "API", "Cluster", "Storage", "MicroHTTPD", "Curl", "JSON", "Topology", "LoadManager", "Digest", "Sync", "Scaling",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "JSONTests", dependencies: ["JSON", "RaftCore"]),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"]),
        .testTarget(name: "MicroHTTPDTests", dependencies: ["MicroHTTPD", "Curl"]),
        .testTarget(name: "ShardingTests", dependencies: ["Sharding"]),
        .testTarget(name: "StorageTests", dependencies: [
            "Storage", "JSON", "SQLite", "Sharding", "RaftCore", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "RaftCoreTests", dependencies: ["RaftCore"]),
        .testTarget(name: "TopologyTests", dependencies: ["Topology", "JSON", "RaftCore"]),
        .testTarget(name: "ScalingTests", dependencies: ["Scaling", "JSON", "RaftCore"]),
        .testTarget(name: "DigestTests", dependencies: ["Digest"]),
        .testTarget(name: "LoadManagerTests", dependencies: [
            "LoadManager", "MicroHTTPD", "Digest", "JSON", "Curl", "Scaling", "Sync", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "PeerTransportTests", dependencies: [
            "PeerTransport", "MicroHTTPD", "RaftCore", .product(name: "Logging", package: "swift-log"),
        ]),
        // The operator's pure parts (container specs, Docker answers, node choice) live in the
        // executable; tested with @testable import.
        .testTarget(name: "OperatorTests", dependencies: ["machdb", "JSON"]),
        .testTarget(name: "RuntimeTests", dependencies: [
            "Replica", "PeerTransport", "Storage", "MicroHTTPD", "RaftCore", "Sync", "Sharding",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
