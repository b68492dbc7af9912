import ArgumentParser
import AuctionServer
import Foundation
import Logging

/// The auction service: `serve`, `migrate`, `seed`. Configuration comes from the environment.
///
/// Everything that can make a command refuse to start is checked before it starts, and thrown
/// as a ``ConfigurationError``: ArgumentParser prints it as one line on stderr, exit status 1.
@main
struct Auction: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auction",
        abstract: "Real-time auction service.",
        subcommands: [Serve.self, Migrate.self, Seed.self]
    )
}

struct Common: ParsableArguments {
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    func logger(_ label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LogfmtLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }

    func configuration(overridingPort port: Int? = nil) throws -> ServiceConfiguration {
        var configuration = try ServiceConfiguration.fromEnvironment()
        if let port { configuration.port = port }
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one instance (PORT, HOST, DATABASE_URL, …).")
    @OptionGroup var common: Common
    @Option(help: "Port (overrides PORT).") var port: Int?

    func run() async throws {
        let logger = common.logger("auction")
        var configuration = try common.configuration(overridingPort: port)
        configuration.webRoot = try ShippedFolder.web.locate().path
        try await StartupCheck.database(configuration.databaseURL, wait: .seconds(configuration.databaseWait), logger: logger)
        try await StartupCheck.redis(configuration, logger: logger)
        try await StartupCheck.listen(host: configuration.host, port: configuration.port)
        // Only once it will start: a refusal stays the one line on stderr.
        if configuration.usesDevelopmentSecret {
            logger.warning("JWT_SECRET is not set: using the DEVELOPMENT secret. Never do this in production.")
        }
        let service = try await AuctionService(configuration: configuration, logger: logger)
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(configuration.port)"])
        try await service.run(logger: logger)
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply sql/NNN_*.sql migrations, each once.")
    @OptionGroup var common: Common
    @Option(help: "Folder of migrations (default: AUCTION_SQL_DIR, else the sql/ beside the executable).") var directory: String?

    func run() async throws {
        let logger = common.logger("migrate")
        let configuration = try common.configuration()
        let folder = try ShippedFolder.migrations.locate(flag: directory.map { ("--directory", $0) })
        try await withDatabase(configuration, logger) { database in
            let applied = try await Migrator(directory: folder, database: database, logger: logger).migrate()
            print(applied.isEmpty ? "migrations: up to date" : "migrations applied: \(applied.joined(separator: ", "))")
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the demo users and auctions (idempotent).")
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("seed")
        let configuration = try common.configuration()
        try await withDatabase(configuration, logger) { database in
            try await DemoSeed(database: database, logger: logger).run()
            for account in DemoSeed.accounts { print("demo login: \(account.email) / \(account.password)") }
        }
    }
}

/// Runs `body` with a database pool that is running (once PostgreSQL answers, waited for up to
/// `DATABASE_WAIT`), then shuts the pool down.
func withDatabase(_ configuration: ServiceConfiguration, _ logger: Logger, _ body: @escaping @Sendable (Database) async throws -> Void) async throws {
    try await StartupCheck.database(configuration.databaseURL, wait: .seconds(configuration.databaseWait), logger: logger)
    let database = Database(url: configuration.databaseURL, logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.client.run() }
        defer { group.cancelAll() }
        try await body(database)
    }
}
