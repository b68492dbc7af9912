import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import SocketIO

/// The auction service end to end: signed-in users with several tabs each race bids on one
/// auction. Measures accepted and refused bids per second, ack latency, and delivery of every
/// accepted bid to every tab, and audits exactly-once, in-order delivery.
struct AuctionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auction",
        abstract: "U signed-in users with T tabs each bid on one auction at (known price + increment); the service decides, acks and broadcasts.",
        discussion: """
            Users are registered (an existing account is fine) and signed in once each through the \
            REST API (the service limits failed logins only; a 429 is waited out for its \
            Retry-After, and --login-sources spreads logins over several loopback addresses). Each \
            bid goes out at the \
            lowest price its tab believes acceptable, so concurrent bids race and most lose with \
            BID_TOO_LOW. The service allows each user 10 bids at once, then 10 per second.
            """
    )

    @Option(name: .customLong("url"), help: "Service URL; repeat for several instances (tabs are spread round-robin).")
    var urls: [String] = ["http://127.0.0.1:3000"]

    @Option(help: "Signed-in users.")
    var users = 8

    @Option(help: "Socket.IO connections (browser tabs) per user.")
    var tabs = 2

    @Option(help: "Seconds of bidding.")
    var duration = 10.0

    @Option(help: "Total offered bids per second, shared evenly by all tabs, or `unlimited` (each tab bids again as soon as it is answered). Default: 5 per user.")
    var rate: String?

    @Option(help: "Bid on this existing auction instead of creating one.")
    var item: String?

    @Option(help: "Accounts are <prefix>-<n>@example.com with password \(AccountEnrollment.password).")
    var emailPrefix = "bench"

    @Option(help: "Log in from loopback addresses 127.0.0.1 … 127.0.0.N, each with its own login allowance at the service.")
    var loginSources = 1

    @Option(help: "Seconds allowed for registering and signing in every user (logins beyond the service's allowance wait).")
    var setupTimeout = 300.0

    @Option(help: "Seconds to wait after every tab has its auction state before bidding.")
    var settle = 1.0

    @Option(help: "Seconds to wait after bidding for outstanding acks and deliveries.")
    var drain = 5.0

    @OptionGroup var client: ClientOptions

    /// The service's per-user bid allowance (burst 10, then 10 per second).
    static let serverBidsPerUserPerSecond = 10.0

    func validate() throws {
        guard users > 0, tabs > 0 else { throw ValidationError("--users and --tabs must be positive") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard (1...254).contains(loginSources) else { throw ValidationError("--login-sources must be between 1 and 254") }
        guard setupTimeout > 0, settle >= 0, drain >= 0 else { throw ValidationError("--setup-timeout must be positive, --settle and --drain not negative") }
        _ = try offeredRate()
        if let item, item.isEmpty || item.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" || $0.isWhitespace }) {
            throw ValidationError("--item must be an item id")
        }
        let addresses = try urls.map { try ServerAddress(url: $0) }
        if loginSources > 1, addresses.contains(where: { !$0.host.hasPrefix("127.") }) {
            throw ValidationError("--login-sources needs loopback URLs (127.x.x.x): the extra source addresses are 127.0.0.2 and up")
        }
    }

    /// Bids per second over all tabs; nil for unlimited.
    private func offeredRate() throws -> Double? {
        guard let rate else { return 5 * Double(users) }
        if rate == "unlimited" { return nil }
        guard let value = Double(rate), value > 0, value.isFinite else {
            throw ValidationError("--rate must be a positive number of bids per second or `unlimited`")
        }
        return value
    }

    func run() async throws {
        let descriptorLimit = FileDescriptorLimit.raiseToHardLimit()
        let startedAt = Date()
        let addresses = try urls.map { try ServerAddress(url: $0) }
        let offered = try offeredRate()
        let tabCount = users * tabs
        if tabCount + 64 > Int(descriptorLimit) {
            Console.line("warning: \(tabCount) tabs but the open-file limit is \(descriptorLimit)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: client.threads)
        do {
            let result = try await run(addresses: addresses, offered: offered, group: group, startedAt: startedAt, descriptorLimit: descriptorLimit)
            try await group.shutdownGracefully()
            let path = client.json ?? ResultFile.defaultPath(scenario: "auction", startedAt: startedAt)
            try ResultFile.write(result, to: path)
            Self.printSummary(result, path: path)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(
        addresses: [ServerAddress], offered: Double?, group: MultiThreadedEventLoopGroup, startedAt: Date, descriptorLimit: UInt64
    ) async throws -> AuctionResult {
        let loops = Array(group.makeIterator())
        let clock = BenchClock()
        let tabCount = users * tabs
        let api = AuctionAPI(http: JSONHTTPClient(eventLoop: loops[0]))

        // Accounts and the auction.
        let sources: [String?] = loginSources == 1 ? [nil] : (1...loginSources).map { "127.0.0.\($0)" }
        let enrollment = AccountEnrollment(api: api, addresses: addresses, sources: sources, emailPrefix: emailPrefix)
        Console.line("auction: \(users) users × \(tabs) tabs on \(addresses.map(\.description).joined(separator: ", ")); \(offered.map { "\(decimal($0, places: 0)) bids/s" } ?? "unlimited (closed-loop) bidding") for \(decimal(duration, places: 0)) s")
        if let offered, offered / Double(users) > Self.serverBidsPerUserPerSecond {
            Console.line("note: \(decimal(offered / Double(users), places: 1)) bids/s per user is above the service's per-user allowance (10/s after a burst of 10): expect RATE_LIMITED refusals.")
        }
        let setupStart = clock.now()
        let enrolled = try await enrollment.enroll(users: users, deadline: .now + .seconds(setupTimeout))
        let accounts = enrolled.accounts
        Console.line("  signed in \(accounts.count) users (\(enrolled.registered) registered now, \(enrolled.alreadyRegistered) existed, \(enrolled.rateLimited) logins waited out a 429) in \(decimal(clock.seconds(since: setupStart), places: 1)) s")

        let auction: AuctionAPI.Auction
        if let item {
            auction = try await api.auction(id: item, at: addresses[0])
            guard auction.status == "open" else { throw BenchFailure(description: "auction \(item) is \(auction.status), not open") }
            Console.line("  bidding on auction \(auction.id) (current price \(auction.currentPrice), increment \(auction.minIncrement))")
        } else {
            auction = try await api.createAuction(
                title: "auction-bench \(ResultFile.timestamp(startedAt))", startingPrice: 100, minIncrement: 1,
                token: accounts[0].token, at: addresses[0]
            )
            Console.line("  created auction \(auction.id) (starting price \(auction.currentPrice), increment \(auction.minIncrement))")
        }
        let setupSeconds = clock.seconds(since: setupStart)

        // The tabs: tab t of user u is connection u·T + t, so a user's tabs land on different instances.
        let tallies = loops.map { _ in AuctionTally() }
        let journals = (0..<tabCount).map { TabJournal(user: $0 / tabs, tab: $0 % tabs) }
        let census = ConnectionCensus()
        let nonce = String(UInt64.random(in: .min ... .max), radix: 36)
        let handshakeTimeout = client.handshakeTimeAmount
        let tabsPerUser = tabs
        let itemID = auction.id
        let ramp = ConnectionRamp(total: tabCount, parallelism: client.parallel, completionLoop: loops[0]) { index in
            let account = accounts[index / tabsPerUser]
            let identity = AuctionTab(
                user: account.index, tab: index % tabsPerUser, userID: account.userID, userName: account.name,
                itemID: itemID, runNonce: nonce
            )
            let loopIndex = index % loops.count
            let connector = ClientConnector(handshakeTimeout: handshakeTimeout, census: census) { channel in
                try channel.pipeline.syncOperations.addHandler(
                    AuctionTabHandler(identity: identity, tally: tallies[loopIndex], journal: journals[index], clock: clock)
                )
            }
            return connector.connect(
                to: addresses[index % addresses.count], room: nil, auth: ["itemId": .string(itemID)],
                headers: [("Authorization", "Bearer \(account.token)")], on: loops[loopIndex]
            )
        }
        let rampStart = clock.now()
        let outcome = try await ProgressTicker.awaiting(ramp.run()) {
            let progress = ramp.progress
            return "  connecting: \(progress.succeeded)/\(tabCount) tabs, \(progress.failed) failed, \(decimal(clock.seconds(since: rampStart), places: 1)) s"
        }
        let connectSeconds = clock.seconds(since: rampStart)
        let channels = outcome.channels
        Console.line("  connected \(channels.count)/\(tabCount) tabs in \(decimal(connectSeconds, places: 2)) s")
        for (failure, count) in outcome.progress.failures.sorted(by: { $0.value > $1.value }) {
            Console.line("  failed \(count)×: \(failure)")
        }
        guard !channels.isEmpty else { throw BenchFailure(description: "no tab connected") }

        // Every tab must know the price before anyone bids, so the audit can expect every bid everywhere.
        let stateDeadline = clock.now() + Int64(client.handshakeTimeout * 1e9)
        while AuctionTally.merged(tallies).ready < channels.count, clock.now() < stateDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let ready = AuctionTally.merged(tallies).ready
        if ready < channels.count {
            Console.line("  warning: only \(ready)/\(channels.count) tabs received auction:state; the others will not bid")
        }
        try await Task.sleep(for: .seconds(settle))

        // Bidding: every tab is an emitter, phases staggered so the offered load is even.
        let start = clock.now() + 50_000_000
        let end = start + Int64(duration * 1e9)
        let perTabRate = offered.map { $0 / Double(channels.count) }
        for (position, channel) in channels.enumerated() {
            var phase: Int64 = 0
            if let perTabRate {
                let share = Double(position) / Double(channels.count)
                phase = Int64(share * 1e9 / perTabRate)
            }
            channel.pipeline.fireUserInboundEventTriggered(AuctionBidding(ratePerSecond: perTabRate, start: start + phase, end: end))
        }

        var timeline: [AuctionResult.Sample] = []
        try await Task.sleep(for: .nanoseconds(max(0, start - clock.now())))
        var previous = AuctionTally.merged(tallies)
        var previousTime = start
        var atWindowEnd = previous
        while true {
            let now = clock.now()
            let nextTick = min(previousTime + 1_000_000_000, end)
            if nextTick > now { try await Task.sleep(for: .nanoseconds(nextTick - now)) }
            let current = AuctionTally.merged(tallies)
            let sampleTime = clock.now()
            let sample = Self.sample(current, since: previous, seconds: Double(sampleTime - previousTime) / 1e9, at: Double(sampleTime - start) / 1e9, open: census.counts.open)
            timeline.append(sample)
            let refusals = current.rejected.merging(previous.rejected.mapValues { -$0 }, uniquingKeysWith: +).filter { $0.value > 0 }
            Console.line("  t=\(decimal(sample.second, places: 1))s open \(sample.open)  sent \(decimal(sample.sentPerSecond, places: 0))/s  accepted \(decimal(sample.acceptedPerSecond, places: 0))/s  refused \(decimal(sample.rejectedPerSecond, places: 0))/s\(Self.codes(refusals))  delivered \(decimal(sample.deliveredPerSecond, places: 0))/s  ack p99 \(sample.ackP99Ms.map(LatencySummary.format) ?? "–")")
            previous = current
            previousTime = sampleTime
            if sampleTime >= end {
                atWindowEnd = current
                break
            }
        }

        // The drain: acks and deliveries still in flight when bidding stopped.
        let drainStart = clock.now()
        var final = AuctionTally.merged(tallies)
        while final.acked < final.sent || final.delivered < final.accepted * ready, clock.seconds(since: drainStart) < drain {
            try await Task.sleep(for: .milliseconds(100))
            final = AuctionTally.merged(tallies)
        }
        let drainSeconds = clock.seconds(since: drainStart)
        let counts = census.counts

        census.beginShutdown()
        let closes = channels.map { $0.close() }
        _ = try? await EventLoopFuture.whenAllComplete(closes, on: loops[0]).get()

        let (findings, deliveryLatency) = DeliveryAudit.audit(journals)
        let window = Double(end - start) / 1e9
        return AuctionResult(
            startedAt: ResultFile.timestamp(startedAt),
            parameters: .init(
                urls: urls, users: users, tabs: tabs, offeredRatePerSecond: offered, durationSeconds: duration,
                itemId: auction.id, itemCreated: item == nil, loginSources: loginSources, threads: client.threads,
                parallel: client.parallel, clientFileDescriptorLimit: descriptorLimit
            ),
            setup: .init(
                registered: enrolled.registered, alreadyRegistered: enrolled.alreadyRegistered,
                loginsRateLimited: enrolled.rateLimited, seconds: setupSeconds
            ),
            connections: .init(
                requested: tabCount, connected: channels.count, failed: outcome.progress.failed,
                failures: outcome.progress.failures, setupSeconds: connectSeconds,
                setupPerSecond: Double(channels.count) / connectSeconds, dropped: counts.dropped,
                protocolViolations: counts.protocolViolations
            ),
            bids: .init(
                windowSeconds: window, sent: final.sent, acked: final.acked, unacked: final.sent - final.acked,
                accepted: final.accepted, rejected: final.rejected, sentPerSecond: Double(atWindowEnd.sent) / window,
                acceptedPerSecond: Double(atWindowEnd.accepted) / window,
                rejectedPerSecond: atWindowEnd.rejected.mapValues { Double($0) / window },
                drainSeconds: drainSeconds, auctionEvents: final.auctionEvents, unrecognized: final.unrecognized
            ),
            latency: .init(
                ack: LatencySummary(final.ackLatency), acceptedAck: LatencySummary(final.acceptedAckLatency),
                delivery: LatencySummary(deliveryLatency)
            ),
            delivery: findings,
            timeline: timeline
        )
    }

    private static func sample(_ current: AuctionTally.Counts, since previous: AuctionTally.Counts, seconds: Double, at second: Double, open: Int) -> AuctionResult.Sample {
        let span = max(seconds, 0.001)
        let ack = current.ackLatency.since(previous.ackLatency)
        return AuctionResult.Sample(
            second: (second * 10).rounded() / 10,
            open: open,
            sentPerSecond: Double(current.sent - previous.sent) / span,
            acceptedPerSecond: Double(current.accepted - previous.accepted) / span,
            rejectedPerSecond: Double(current.rejectedTotal - previous.rejectedTotal) / span,
            deliveredPerSecond: Double(current.delivered - previous.delivered) / span,
            ackP99Ms: ack.count == 0 ? nil : LatencySummary(ack).p99Ms
        )
    }

    /// ` (BID_TOO_LOW 12, RATE_LIMITED 3)`, or nothing.
    private static func codes(_ counts: [String: Int]) -> String {
        guard !counts.isEmpty else { return "" }
        return " (" + counts.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
    }

    private static func printSummary(_ result: AuctionResult, path: String) {
        let bids = result.bids
        let connections = result.connections
        let audit = result.delivery
        let complete = audit.isClean && bids.unacked == 0 && connections.dropped == 0
        let refusedPerSecond = bids.rejectedPerSecond.sorted { $0.value > $1.value }
            .map { "\($0.key) \(decimal($0.value, places: 1))/s" }.joined(separator: ", ")
        var lines = [
            "",
            "auction summary",
            "  tabs       \(connections.connected)/\(connections.requested) connected (\(result.parameters.users) users × \(result.parameters.tabs)), \(connections.failed) failed, \(connections.dropped) dropped during the run",
            "  offered    \(result.parameters.offeredRatePerSecond.map { decimal($0, places: 0) + " bids/s" } ?? "unlimited (closed loop)") for \(decimal(bids.windowSeconds, places: 1)) s on auction \(result.parameters.itemId)",
            "  sent       \(bids.sent) (\(decimal(bids.sentPerSecond, places: 1))/s), \(bids.unacked) unacked",
            "  accepted   \(bids.accepted) (\(decimal(bids.acceptedPerSecond, places: 1))/s in the window)",
            "  refused    \(bids.rejected.values.reduce(0, +))\(codes(bids.rejected))\(refusedPerSecond.isEmpty ? "" : ": " + refusedPerSecond)",
            "  ack all    \(result.latency.ack.line)",
            "  ack ok     \(result.latency.acceptedAck.line)",
            "  delivery   \(result.latency.delivery.line)",
            "  audit      \(audit.delivered) of \(audit.expectedDeliveries) deliveries of accepted bids, \(audit.missing) missing, \(audit.duplicates) duplicates, \(audit.outOfOrder) out of order, \(audit.wrongMine) wrong `mine`, \(audit.wrongText) wrong `text`, \(audit.unknownBids) of unknown bids; \(audit.tabsComplete)/\(audit.tabs) tabs complete; \(audit.acceptedOrderViolations) accepted bids out of price order",
        ]
        for example in audit.examples { lines.append("             - \(example)") }
        if !bids.auctionEvents.isEmpty || bids.unrecognized > 0 {
            lines.append("  other      \(codes(bids.auctionEvents).trimmingCharacters(in: .whitespaces)) \(bids.unrecognized) unrecognized packets")
        }
        lines.append("  verdict    \(complete ? "every accepted bid reached every tab exactly once, in increasing price order" : "VIOLATIONS: see the audit above")")
        lines.append("  result     \(path)")
        Console.line(lines.joined(separator: "\n"))
    }
}
