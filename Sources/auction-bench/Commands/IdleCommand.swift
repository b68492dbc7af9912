import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// Many connected, silent sockets: how fast they open and what each costs the server in memory.
struct IdleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Open N Socket.IO connections, measure setup rate and the server's resident memory per connection, hold, close."
    )

    @Option(help: "Server URL.")
    var url = "http://127.0.0.1:3000"

    @Option(help: "Connections to open.")
    var connections = 1000

    @Option(help: "Server process id, to read its VmRSS from /proc/<pid>/status (same machine only).")
    var pid: Int32?

    @Option(help: "Seconds to hold the connections open after measuring.")
    var hold = 5.0

    @Option(help: "Seconds to let the server settle after the last connection before reading its memory.")
    var settle = 3.0

    @Option(help: "Room to join through the handshake query (default: none).")
    var room: String?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard connections > 0 else { throw ValidationError("--connections must be positive") }
        guard hold >= 0, settle >= 0 else { throw ValidationError("--hold and --settle cannot be negative") }
        if let pid, ProcessMemory.residentBytes(pid: pid) == nil {
            throw ValidationError("cannot read VmRSS of process \(pid) from /proc/\(pid)/status")
        }
        _ = try ServerAddress(url: url)
    }

    func run() async throws {
        let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
        let startedAt = Date()
        let address = try ServerAddress(url: url)
        if connections + 64 > Int(descriptorLimit) {
            Console.line("warning: \(connections) connections but the open-file limit is \(descriptorLimit)")
        }
        let serverPID = pid
        @Sendable func serverRSS() -> UInt64? { serverPID.flatMap { ProcessMemory.residentBytes(pid: $0) } }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: client.threads)
        let loops = Array(group.makeIterator())
        let clock = BenchClock()
        let census = ConnectionCensus()
        let connector = ClientConnector(handshakeTimeout: client.handshakeTimeAmount, census: census) { _ in }
        let room = self.room
        let ramp = ConnectionRamp(total: connections, parallelism: client.parallel, completionLoop: loops[0]) { index in
            connector.connect(to: address, room: room, on: loops[index % loops.count])
        }

        let rssBefore = serverRSS()
        Console.line("idle: \(connections) connections to \(address)\(rssBefore.map { ", server RSS before \(Self.megabytes($0))" } ?? "")")
        let rampStart = clock.now()
        let total = connections
        let outcome = try await ProgressTicker.awaiting(ramp.run()) {
            let progress = ramp.progress
            let elapsed = clock.seconds(since: rampStart)
            return "  connecting: \(progress.succeeded)/\(total) connected (\(decimal(Double(progress.succeeded) / elapsed, places: 0))/s), \(progress.failed) failed\(serverRSS().map { ", server RSS \(Self.megabytes($0))" } ?? "")"
        }
        let setupSeconds = clock.seconds(since: rampStart)
        let channels = outcome.channels
        let setupRate = Double(channels.count) / setupSeconds
        Console.line("  connected \(channels.count)/\(connections) in \(decimal(setupSeconds, places: 2)) s (\(decimal(setupRate, places: 0))/s)")
        for (failure, count) in outcome.progress.failures.sorted(by: { $0.value > $1.value }) {
            Console.line("  failed \(count)×: \(failure)")
        }

        guard !channels.isEmpty else {
            try await group.shutdownGracefully()
            throw BenchFailure(description: "no connection succeeded")
        }

        try await Self.wait(seconds: settle, label: "settling") { "open \(census.counts.open)\(serverRSS().map { ", server RSS \(Self.megabytes($0))" } ?? "")" }
        let rssConnected = serverRSS()
        try await Self.wait(seconds: hold, label: "holding") { "open \(census.counts.open)\(serverRSS().map { ", server RSS \(Self.megabytes($0))" } ?? "")" }
        let rssAfterHold = serverRSS()
        let counts = census.counts
        let clientRSS = ProcessMemory.residentBytes(pid: ProcessMemory.ownPID)

        census.beginShutdown()
        let closes = channels.map { $0.close() }
        _ = try? await EventLoopFuture.whenAllComplete(closes, on: loops[0]).get()
        try await group.shutdownGracefully()
        // The server notices the closes asynchronously; give it a moment before the last reading.
        if serverPID != nil { try await Task.sleep(for: .seconds(1)) }
        let rssAfterClose = serverRSS()

        var memory: IdleResult.ServerMemory?
        if let rssBefore, let rssConnected, let rssAfterHold {
            memory = IdleResult.ServerMemory(
                rssBeforeBytes: rssBefore, rssConnectedBytes: rssConnected, rssAfterHoldBytes: rssAfterHold,
                rssAfterCloseBytes: rssAfterClose,
                bytesPerConnection: channels.isEmpty ? 0 : (Double(rssConnected) - Double(rssBefore)) / Double(channels.count)
            )
        }
        let result = IdleResult(
            startedAt: ResultFile.timestamp(startedAt),
            parameters: .init(
                url: url, connections: connections, room: room, serverPID: pid, holdSeconds: hold, settleSeconds: settle,
                threads: client.threads, parallel: client.parallel, clientFileDescriptorLimit: descriptorLimit
            ),
            connections: .init(
                requested: connections, connected: channels.count, failed: outcome.progress.failed,
                failures: outcome.progress.failures, setupSeconds: setupSeconds, setupPerSecond: setupRate,
                dropped: counts.dropped, openAfterHold: counts.open
            ),
            serverMemory: memory,
            clientRSSBytes: clientRSS
        )
        let path = client.json ?? ResultFile.defaultPath(scenario: "idle", startedAt: startedAt)
        try ResultFile.write(result, to: path)

        var lines = [
            "",
            "idle summary",
            "  connections  \(channels.count)/\(connections) connected (\(outcome.progress.failed) failed), \(counts.dropped) dropped while held, \(counts.open) open after \(decimal(hold, places: 0)) s hold",
            "  setup        \(decimal(setupRate, places: 0)) connections/s (\(decimal(setupSeconds, places: 2)) s)",
        ]
        if let memory {
            lines.append("  server RSS   \(Self.megabytes(memory.rssBeforeBytes)) before, \(Self.megabytes(memory.rssConnectedBytes)) connected, \(Self.megabytes(memory.rssAfterHoldBytes)) after hold\(memory.rssAfterCloseBytes.map { ", \(Self.megabytes($0)) after close" } ?? "")")
            lines.append("  per conn     \(decimal(memory.bytesPerConnection / 1024, places: 1)) KiB (\(decimal(memory.bytesPerConnection, places: 0)) bytes)")
        } else {
            lines.append("  server RSS   not measured (no --pid)")
        }
        if let clientRSS { lines.append("  client RSS   \(Self.megabytes(clientRSS))") }
        lines.append("  result       \(path)")
        Console.line(lines.joined(separator: "\n"))
    }

    /// Sleeps in one-second steps, printing a progress line after each.
    private static func wait(seconds: Double, label: String, line: () -> String) async throws {
        var remaining = seconds
        while remaining > 0 {
            let step = min(1, remaining)
            try await Task.sleep(for: .milliseconds(Int64(step * 1000)))
            remaining -= step
            Console.line("  \(label): \(line())")
        }
    }

    static func megabytes(_ bytes: UInt64) -> String {
        decimal(Double(bytes) / 1_048_576, places: 1) + " MiB"
    }
}
