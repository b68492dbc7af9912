import ArgumentParser

/// Load generator for Socket.IO v4 servers: many WebSocket clients in one process, every one
/// of them an event-driven channel pipeline rather than a task, so tens of thousands fit.
@main
struct AuctionBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auction-bench",
        abstract: "Socket.IO load generator (WebSocket transport, Engine.IO v4 / Socket.IO v5).",
        subcommands: [FanoutCommand.self, IdleCommand.self, AuctionCommand.self, ReportCommand.self]
    )
}
