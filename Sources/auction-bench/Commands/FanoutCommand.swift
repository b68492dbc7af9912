import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// Many sockets in one room, a few of them bidding: measures emit→ack and emit→delivery at
/// every socket, and whether every socket received every bid.
struct FanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "S sockets in one room; E of them emit acknowledged `bid`s at a total rate; the server broadcasts each to the room."
    )

    @Option(name: .customLong("url"), help: "Server URL; repeat for several instances (sockets are spread round-robin).")
    var urls: [String] = ["http://127.0.0.1:3000"]

    @Option(help: "Sockets to open, all in the room.")
    var sockets = 100

    @Option(help: "How many of the sockets emit bids.")
    var emitters = 10

    @Option(help: "Total offered bids per second, shared evenly by the emitters.")
    var rate = 100.0

    @Option(help: "Seconds of emission.")
    var duration = 10.0

    @Option(help: "Room every socket joins (handshake query `room`).")
    var room = "bench"

    @Option(help: "Seconds to wait after the last socket connected before emitting, so room joins have landed.")
    var settle = 1.0

    @Option(help: "Seconds to wait after emission for outstanding acks and deliveries.")
    var drain = 5.0

    @Option(name: .customLong("payload-bytes"), help: "Pad every bid with about this many bytes of text (0: no padding).")
    var payloadBytes = 0

    @Flag(name: .customLong("per-message-deflate"), help: "Offer permessage-deflate (RFC 7692) and inflate what the server compresses.")
    var perMessageDeflate = false

    @Option(name: .customLong("server-pid"), help: "A server process whose CPU time (/proc/<pid>/stat) over the emission and drain is reported per delivery; repeat for several.")
    var serverPIDs: [Int32] = []

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard sockets > 0 else { throw ValidationError("--sockets must be positive") }
        guard (1...sockets).contains(emitters) else { throw ValidationError("--emitters must be between 1 and --sockets") }
        guard rate > 0, duration > 0 else { throw ValidationError("--rate and --duration must be positive") }
        guard settle >= 0, drain >= 0 else { throw ValidationError("--settle and --drain cannot be negative") }
        guard (0...(1 << 19)).contains(payloadBytes) else { throw ValidationError("--payload-bytes must be between 0 and 524288") }
        for pid in serverPIDs where ProcessCPU.of(pid: pid) == nil {
            throw ValidationError("--server-pid \(pid): no such process, or /proc/\(pid)/stat unreadable")
        }
        for url in urls { _ = try ServerAddress(url: url) }
    }

    func run() async throws {
        let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
        let startedAt = Date()
        let addresses = try urls.map { try ServerAddress(url: $0) }
        if sockets + 64 > Int(descriptorLimit) {
            Console.line("warning: \(sockets) sockets but the open-file limit is \(descriptorLimit)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: client.threads)
        let loops = Array(group.makeIterator())
        let tallies = loops.map { _ in FanoutTally() }
        let tallyByLoop = Dictionary(uniqueKeysWithValues: zip(loops.map { ObjectIdentifier($0) }, tallies))
        let clock = BenchClock()
        let census = ConnectionCensus()
        let emitterCount = emitters
        let note = BidPayload.note(bytes: payloadBytes)
        let wireCounters = loops.map { _ in WireBytes() }
        let wireByLoop = Dictionary(uniqueKeysWithValues: zip(loops.map { ObjectIdentifier($0) }, wireCounters))
        var configured = ClientConnector(handshakeTimeout: client.handshakeTimeAmount, census: census) { channel in
            let tally = tallyByLoop[ObjectIdentifier(channel.eventLoop)]!
            let traffic = BidTrafficHandler(tally: tally, clock: clock, emitterCount: emitterCount, note: note)
            try channel.pipeline.syncOperations.addHandler(traffic)
            let socketIO = try channel.pipeline.syncOperations.handler(type: SocketIOClientHandler.self)
            try channel.pipeline.syncOperations.addHandler(BidFrameFastPath(traffic: traffic, clock: clock), position: .before(socketIO))
        }
        configured.perMessageDeflate = perMessageDeflate
        configured.wireBytes = { wireByLoop[ObjectIdentifier($0)]! }
        let connector = configured
        let room = self.room
        let ramp = ConnectionRamp(total: sockets, parallelism: client.parallel, completionLoop: loops[0]) { index in
            connector.connect(to: addresses[index % addresses.count], room: room, on: loops[index % loops.count])
        }

        Console.line("fanout: \(sockets) sockets in room \"\(room)\" on \(addresses.map(\.description).joined(separator: ", ")); \(emitters) emitters, \(decimal(rate, places: 0)) bids/s for \(decimal(duration, places: 0)) s")
        let rampStart = clock.now()
        let total = sockets
        let outcome = try await ProgressTicker.awaiting(ramp.run()) {
            let progress = ramp.progress
            return "  connecting: \(progress.succeeded)/\(total) connected, \(progress.failed) failed, \(decimal(clock.seconds(since: rampStart), places: 1)) s"
        }
        let setupSeconds = clock.seconds(since: rampStart)
        let channels = outcome.channels
        Console.line("  connected \(channels.count)/\(sockets) in \(decimal(setupSeconds, places: 2)) s (\(decimal(Double(channels.count) / setupSeconds, places: 0))/s)")
        for (failure, count) in outcome.progress.failures.sorted(by: { $0.value > $1.value }) {
            Console.line("  failed \(count)×: \(failure)")
        }
        guard channels.count >= emitters else {
            try await group.shutdownGracefully()
            throw BenchFailure(description: "only \(channels.count) sockets connected, fewer than the \(emitters) emitters")
        }

        try await Task.sleep(for: .seconds(settle))

        // A short lead lets every emitter receive its start event before its first bid is due.
        let start = clock.now() + 50_000_000
        let end = start + Int64(duration * 1e9)
        let perEmitterRate = rate / Double(emitters)
        for emitter in 0..<emitters {
            // Staggered phases, so emitters do not all fire in the same instant.
            let phase = Int64(Double(emitter) / Double(emitters) * 1e9 / perEmitterRate)
            let emission = BidEmission(emitter: emitter, ratePerSecond: perEmitterRate, start: start + phase, end: end)
            channels[emitter].pipeline.fireUserInboundEventTriggered(emission)
        }

        let serverPIDs = self.serverPIDs
        let cpuAtStart = serverPIDs.map { ProcessCPU.of(pid: $0) ?? .zero }
        let wireAtStart = WireBytes.total(wireCounters)
        let deliveredAtStart = FanoutTally.merged(tallies).delivered

        // The emission window, sampled each second.
        var timeline: [FanoutResult.Sample] = []
        // Samples are aligned to the start, so each covers one whole second of emission.
        try await Task.sleep(for: .nanoseconds(max(0, start - clock.now())))
        var previous = FanoutTally.merged(tallies)
        var previousTime = start
        var atWindowEnd = previous
        while true {
            let now = clock.now()
            let nextTick = min(previousTime + 1_000_000_000, end)
            if nextTick > now { try await Task.sleep(for: .nanoseconds(nextTick - now)) }
            let current = FanoutTally.merged(tallies)
            let sampleTime = clock.now()
            let sample = Self.sample(current, since: previous, seconds: Double(sampleTime - previousTime) / 1e9, at: Double(sampleTime - start) / 1e9, open: census.counts.open)
            timeline.append(sample)
            Console.line("  t=\(decimal(sample.second, places: 1))s open \(sample.open)  sent \(decimal(sample.sentPerSecond, places: 0))/s  acked \(decimal(sample.ackedPerSecond, places: 0))/s  delivered \(decimal(sample.deliveredPerSecond, places: 0))/s  ack p99 \(sample.ackP99Ms.map(LatencySummary.format) ?? "–")  delivery p99 \(sample.deliveryP99Ms.map(LatencySummary.format) ?? "–")")
            previous = current
            previousTime = sampleTime
            if sampleTime >= end {
                atWindowEnd = current
                break
            }
        }

        // The drain: bids still in flight when emission stopped.
        let receivers = channels.count
        let drainStart = clock.now()
        var final = FanoutTally.merged(tallies)
        while final.acked < final.sent || final.delivered < final.sent * receivers, clock.seconds(since: drainStart) < drain {
            try await Task.sleep(for: .milliseconds(100))
            final = FanoutTally.merged(tallies)
        }
        let drainSeconds = clock.seconds(since: drainStart)
        let counts = census.counts
        let deliveredInRun = final.delivered - deliveredAtStart
        let wireBytesInRun = WireBytes.total(wireCounters) - wireAtStart
        let serverCPU = zip(serverPIDs, cpuAtStart).map { pid, before in
            FanoutResult.ServerCPU.Process(pid: pid, cpu: (ProcessCPU.of(pid: pid) ?? before) - before)
        }

        census.beginShutdown()
        let closes = channels.map { $0.close() }
        _ = try? await EventLoopFuture.whenAllComplete(closes, on: loops[0]).get()
        try await group.shutdownGracefully()

        let window = Double(end - start) / 1e9
        let expected = final.sent * receivers
        let result = FanoutResult(
            startedAt: ResultFile.timestamp(startedAt),
            parameters: .init(
                urls: urls, sockets: sockets, emitters: emitters, offeredRatePerSecond: rate, durationSeconds: duration,
                room: room, threads: client.threads, parallel: client.parallel, clientFileDescriptorLimit: descriptorLimit
            ),
            connections: .init(
                requested: sockets, connected: channels.count, failed: outcome.progress.failed,
                failures: outcome.progress.failures, setupSeconds: setupSeconds,
                setupPerSecond: Double(channels.count) / setupSeconds, dropped: counts.dropped,
                protocolViolations: counts.protocolViolations
            ),
            traffic: .init(
                windowSeconds: window, sent: final.sent, acked: final.acked, rejectedAcks: final.rejected,
                unacked: final.sent - final.acked, delivered: final.delivered, expectedDeliveries: expected,
                missingDeliveries: max(0, expected - final.delivered), gaps: final.gaps, outOfOrder: final.outOfOrder,
                unrecognized: final.unrecognized, sentPerSecond: Double(final.sent) / window,
                ackedPerSecond: Double(atWindowEnd.acked) / window, deliveredPerSecond: Double(atWindowEnd.delivered) / window,
                drainSeconds: drainSeconds
            ),
            latency: .init(ack: LatencySummary(final.ackLatency), delivery: LatencySummary(final.deliveryLatency)),
            wire: .init(
                payloadBytes: payloadBytes, perMessageDeflate: perMessageDeflate, bytesReceived: wireBytesInRun,
                bytesPerDelivery: deliveredInRun > 0 ? Double(wireBytesInRun) / Double(deliveredInRun) : nil
            ),
            serverCPU: serverCPU.isEmpty ? nil : .init(processes: serverCPU, deliveries: deliveredInRun),
            timeline: timeline
        )
        let path = client.json ?? ResultFile.defaultPath(scenario: "fanout", startedAt: startedAt)
        try ResultFile.write(result, to: path)
        Self.printSummary(result, path: path)
    }

    private static func sample(_ current: FanoutTally.Counts, since previous: FanoutTally.Counts, seconds: Double, at second: Double, open: Int) -> FanoutResult.Sample {
        let span = max(seconds, 0.001)
        return FanoutResult.Sample(
            second: (second * 10).rounded() / 10,
            open: open,
            sentPerSecond: Double(current.sent - previous.sent) / span,
            ackedPerSecond: Double(current.acked - previous.acked) / span,
            deliveredPerSecond: Double(current.delivered - previous.delivered) / span,
            ackP99Ms: p99(current.ackLatency.since(previous.ackLatency)),
            deliveryP99Ms: p99(current.deliveryLatency.since(previous.deliveryLatency))
        )
    }

    private static func p99(_ histogram: LatencyHistogram) -> Double? {
        histogram.count == 0 ? nil : LatencySummary(histogram).p99Ms
    }

    private static func printSummary(_ result: FanoutResult, path: String) {
        let traffic = result.traffic
        let connections = result.connections
        let complete = traffic.delivered == traffic.expectedDeliveries && traffic.unacked == 0
        Console.line("""

        fanout summary
          sockets    \(connections.connected)/\(connections.requested) connected (\(connections.failed) failed, \(connections.dropped) dropped during the run), setup \(decimal(connections.setupPerSecond, places: 0))/s
          offered    \(decimal(result.parameters.offeredRatePerSecond, places: 0)) bids/s by \(result.parameters.emitters) emitters for \(decimal(traffic.windowSeconds, places: 1)) s
          sent       \(traffic.sent) (\(decimal(traffic.sentPerSecond, places: 1))/s)
          acked      \(traffic.acked) (\(decimal(traffic.ackedPerSecond, places: 1))/s in the window), \(traffic.unacked) unacked, \(traffic.rejectedAcks) rejected
          delivered  \(traffic.delivered) of \(traffic.expectedDeliveries) expected (\(decimal(traffic.deliveredPerSecond, places: 0))/s in the window), \(traffic.missingDeliveries) missing, \(traffic.gaps) gaps, \(traffic.outOfOrder) out of order
          ack        \(result.latency.ack.line)
          delivery   \(result.latency.delivery.line)
          wire       \(result.wire?.bytesPerDelivery.map { decimal($0, places: 1) } ?? "–") bytes received per delivery (bids padded by \(result.wire?.payloadBytes ?? 0) bytes, permessage-deflate \(result.wire?.perMessageDeflate == true ? "offered" : "off"))\(result.serverCPU.map { "\n  server CPU \($0.line)" } ?? "")
          verdict    \(complete ? "every bid acked and delivered to every socket" : "INCOMPLETE: see missing/unacked above")\(result.parameters.urls.count > 1 && !complete ? "\n             (several URLs: deliveries cross instances only when they share an adapter, e.g. --redis)" : "")
          result     \(path)
        """)
    }
}
