// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for every decoder that reads peer bytes, one executable each.
//
// A package of its own so that `make test`'s debug build never sees them: `scripts/fuzz.sh`
// builds it in release with libFuzzer and AddressSanitizer on its own scratch path
// (`.build-fuzz`). One SwiftPM build compiles the shared dependencies once and links every
// target against them, which on two cores is much faster than a swiftc run per target.
//
// The product targets under test are the root package's own source folders, linked in
// (Sources/<name> -> ../../Sources/<name>) and declared with the dependencies they have in the
// root manifest. Depending on the root package by path is not possible: it vends no product
// for SocketIORedis and RedisClient, and SwiftPM refuses two targets of one name in a graph.
// A dependency added there and not here fails this build with "no such module".

/// One libFuzzer executable, `fuzz-<name>`, from Sources/fuzz-<name>.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: "fuzz-" + name, dependencies: ["FuzzSupport", nio("NIOCore")] + dependencies)
}

func nio(_ product: String) -> Target.Dependency { .product(name: product, package: "swift-nio") }
func nioExtras(_ product: String) -> Target.Dependency { .product(name: product, package: "swift-nio-extras") }
func hummingbird(_ product: String) -> Target.Dependency { .product(name: product, package: "hummingbird") }
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")

let package = Package(
    name: "auction-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
    ],
    targets: [
        .target(
            name: "EngineIO",
            dependencies: [
                hummingbird("Hummingbird"),
                hummingbird("HummingbirdCore"),
                nio("NIOHTTP1"),
                nioExtras("NIOHTTPTypes"),
                nioExtras("NIOHTTPTypesHTTP1"),
                nio("NIOCore"),
                nio("NIOWebSocket"),
                nio("NIOConcurrencyHelpers"),
                httpTypes,
                logging,
                .product(name: "Crypto", package: "swift-crypto"),
                "CZlib",
            ]
        ),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "SocketIO",
            dependencies: [
                "EngineIO",
                nio("NIOCore"),
                nio("NIOConcurrencyHelpers"),
                httpTypes,
                logging,
                serviceLifecycle,
            ]
        ),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                nio("NIOCore"),
                nio("NIOPosix"),
                nio("NIOConcurrencyHelpers"),
                logging,
                serviceLifecycle,
            ]
        ),
        .target(
            name: "SocketIORedis",
            dependencies: [
                "SocketIO",
                "RedisClient",
                nio("NIOCore"),
                nio("NIOConcurrencyHelpers"),
                logging,
            ]
        ),
        .target(name: "FuzzSupport"),
        .target(name: "FuzzSupportJSON", dependencies: ["SocketIO"]),
        fuzzTarget("engine-packet", ["EngineIO"]),
        fuzzTarget("engine-payload", ["EngineIO"]),
        fuzzTarget("websocket", ["EngineIO", nio("NIOEmbedded"), nio("NIOWebSocket"), httpTypes, logging]),
        fuzzTarget("socketio-packet", ["SocketIO", "EngineIO", "FuzzSupportJSON"]),
        fuzzTarget("json", ["SocketIO", "FuzzSupportJSON"]),
        fuzzTarget("msgpack", ["SocketIORedis", "SocketIO"]),
        fuzzTarget("resp", ["RedisClient", nio("NIOEmbedded")]),
        fuzzTarget("redis-adapter", ["SocketIORedis", "RedisClient", "SocketIO", logging]),
    ]
)

