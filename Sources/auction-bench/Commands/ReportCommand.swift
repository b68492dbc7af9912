import ArgumentParser
import Foundation

/// Renders result files of earlier runs as Markdown tables, so scripts need no JSON tooling.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print Markdown tables summarising fanout, idle, auction and pgbench result files."
    )

    @Argument(help: "JSON result files written by `fanout`, `idle` or `auction` (or by bench/service.sh for pgbench).")
    var files: [String]

    private struct ScenarioName: Decodable {
        var scenario: String
    }

    func run() throws {
        var fanouts: [FanoutResult] = []
        var idles: [IdleResult] = []
        var auctions: [AuctionResult] = []
        var pgbenches: [PgbenchResult] = []
        let decoder = JSONDecoder()
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            switch try decoder.decode(ScenarioName.self, from: data).scenario {
            case "fanout": fanouts.append(try decoder.decode(FanoutResult.self, from: data))
            case "idle": idles.append(try decoder.decode(IdleResult.self, from: data))
            case "auction": auctions.append(try decoder.decode(AuctionResult.self, from: data))
            case "pgbench": pgbenches.append(try decoder.decode(PgbenchResult.self, from: data))
            case let other: throw BenchFailure(description: "\(file): unknown scenario \(other)")
            }
        }
        var lines: [String] = []
        if !fanouts.isEmpty { lines += Self.fanoutTable(fanouts) + [""] }
        if !idles.isEmpty { lines += Self.idleTable(idles) + [""] }
        if !auctions.isEmpty { lines += Self.auctionTables(auctions) + [""] }
        if !auctions.isEmpty || !pgbenches.isEmpty { lines += Self.serviceVersusDatabase(auctions, pgbenches) + [""] }
        print(lines.joined(separator: "\n"), terminator: "")
    }

    private static func fanoutTable(_ results: [FanoutResult]) -> [String] {
        var lines = [
            "### Fanout: one room, every bid acked to its sender and broadcast to every socket",
            "",
            "| sockets | emitters | offered/s | sent/s | acked/s | delivered/s | delivered / expected | ack p50 | ack p90 | ack p99 | ack max | delivery p50 | delivery p90 | delivery p99 | delivery max | dropped | padding | deflate | server CPU µs/delivery (user + sys) | bytes received/delivery |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for result in results {
            let traffic = result.traffic
            let ack = result.latency.ack
            let delivery = result.latency.delivery
            let cells: [String] = [
                "\(result.connections.connected)/\(result.parameters.sockets)",
                "\(result.parameters.emitters)",
                decimal(result.parameters.offeredRatePerSecond, places: 0),
                decimal(traffic.sentPerSecond, places: 1),
                decimal(traffic.ackedPerSecond, places: 1),
                decimal(traffic.deliveredPerSecond, places: 0),
                "\(traffic.delivered) / \(traffic.expectedDeliveries)",
                ms(ack.p50Ms), ms(ack.p90Ms), ms(ack.p99Ms), ms(ack.maxMs),
                ms(delivery.p50Ms), ms(delivery.p90Ms), ms(delivery.p99Ms), ms(delivery.maxMs),
                "\(result.connections.dropped)",
                result.wire.map { "\($0.payloadBytes) B" } ?? "–",
                result.wire.map { $0.perMessageDeflate ? "offered" : "off" } ?? "–",
                result.serverCPU.flatMap { cpu in
                    cpu.microsecondsPerDelivery.map { total in
                        "\(decimal(total, places: 2)) (\(decimal(cpu.userMicrosecondsPerDelivery ?? 0, places: 2)) + \(decimal(cpu.systemMicrosecondsPerDelivery ?? 0, places: 2)))"
                    }
                } ?? "–",
                result.wire?.bytesPerDelivery.map { decimal($0, places: 1) } ?? "–",
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        let incomplete = results.filter { $0.traffic.delivered != $0.traffic.expectedDeliveries || $0.traffic.unacked > 0 }
        lines.append("")
        lines.append(incomplete.isEmpty
            ? "Every bid was acked and delivered to every socket in every run."
            : "Incomplete runs (offered/s): " + incomplete.map { decimal($0.parameters.offeredRatePerSecond, places: 0) }.joined(separator: ", ")
                + " — missing deliveries or unacked bids, see the JSON files.")
        return lines
    }

    private static func idleTable(_ results: [IdleResult]) -> [String] {
        var lines = [
            "### Idle connections: setup rate and server memory",
            "",
            "| connections | connected | failed | setup/s | server RSS before | server RSS connected | per connection | dropped while held | held for |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results {
            let memory = result.serverMemory
            let cells: [String] = [
                "\(result.parameters.connections)",
                "\(result.connections.connected)",
                "\(result.connections.failed)",
                decimal(result.connections.setupPerSecond, places: 0),
                memory.map { IdleCommand.megabytes($0.rssBeforeBytes) } ?? "–",
                memory.map { IdleCommand.megabytes($0.rssConnectedBytes) } ?? "–",
                memory.map { decimal($0.bytesPerConnection / 1024, places: 1) + " KiB" } ?? "–",
                "\(result.connections.dropped)",
                decimal(result.parameters.holdSeconds, places: 0) + " s",
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    private static func auctionTables(_ results: [AuctionResult]) -> [String] {
        var lines = [
            "### Auction: signed-in users bid on one auction at (known price + increment); every accepted bid goes to every tab",
            "",
            "| users × tabs | URLs | offered/s | sent/s | accepted/s | refused/s | ack p50 | ack p90 | ack p99 | ack max | accepted ack p50 | p90 | p99 | max | delivery p50 | p90 | p99 | max | deliveries / expected | violations |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for result in results {
            let bids = result.bids
            let ack = result.latency.ack
            let accepted = result.latency.acceptedAck
            let delivery = result.latency.delivery
            let audit = result.delivery
            let refused = bids.rejectedPerSecond.sorted { $0.value > $1.value }
                .map { "\($0.key) \(decimal($0.value, places: 1))" }.joined(separator: ", ")
            var violations: [String] = []
            if audit.missing > 0 { violations.append("\(audit.missing) missing") }
            if audit.duplicates > 0 { violations.append("\(audit.duplicates) duplicated") }
            if audit.outOfOrder > 0 { violations.append("\(audit.outOfOrder) out of order") }
            if audit.wrongMine > 0 { violations.append("\(audit.wrongMine) wrong mine") }
            if audit.wrongText > 0 { violations.append("\(audit.wrongText) wrong text") }
            if audit.acceptedOrderViolations > 0 { violations.append("\(audit.acceptedOrderViolations) accepted out of price order") }
            if bids.unacked > 0 { violations.append("\(bids.unacked) unacked") }
            if result.connections.dropped > 0 { violations.append("\(result.connections.dropped) tabs dropped") }
            let cells: [String] = [
                "\(result.parameters.users) × \(result.parameters.tabs)\(result.connections.connected < result.connections.requested ? " (\(result.connections.connected) connected)" : "")",
                "\(result.parameters.urls.count)",
                result.parameters.offeredRatePerSecond.map { decimal($0, places: 0) } ?? "unlimited",
                decimal(bids.sentPerSecond, places: 1),
                decimal(bids.acceptedPerSecond, places: 1),
                refused.isEmpty ? "0" : refused,
                ms(ack.p50Ms), ms(ack.p90Ms), ms(ack.p99Ms), ms(ack.maxMs),
                ms(accepted.p50Ms), ms(accepted.p90Ms), ms(accepted.p99Ms), ms(accepted.maxMs),
                ms(delivery.p50Ms), ms(delivery.p90Ms), ms(delivery.p99Ms), ms(delivery.maxMs),
                "\(audit.delivered) / \(audit.expectedDeliveries)",
                violations.isEmpty ? "none" : violations.joined(separator: ", "),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    /// The service's accepted bids beside the same transaction run by pgbench straight against
    /// PostgreSQL: what the service adds on top of its storage.
    private static func serviceVersusDatabase(_ auctions: [AuctionResult], _ pgbenches: [PgbenchResult]) -> [String] {
        var lines = [
            "### Service versus its bid transaction alone",
            "",
            "| measured | what | per second | latency p50 | p90 | p99 | max | samples |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for result in auctions {
            let who = "auction-bench, \(result.parameters.users) users × \(result.parameters.tabs) tabs"
            let accepted = result.latency.acceptedAck
            let all = result.latency.ack
            let delivery = result.latency.delivery
            let answered = Double(result.bids.acked) / max(result.bids.windowSeconds, 0.001)
            lines.append("| \(who) | accepted bids (emit → ack) | \(decimal(result.bids.acceptedPerSecond, places: 1)) | \(ms(accepted.p50Ms)) | \(ms(accepted.p90Ms)) | \(ms(accepted.p99Ms)) | \(ms(accepted.maxMs)) | \(accepted.count) |")
            lines.append("| \(who) | all answered bids (emit → ack) | \(decimal(answered, places: 1)) | \(ms(all.p50Ms)) | \(ms(all.p90Ms)) | \(ms(all.p99Ms)) | \(ms(all.maxMs)) | \(all.count) |")
            lines.append("| \(who) | accepted bid at every tab (emit → event) | \(decimal(result.bids.acceptedPerSecond * Double(result.delivery.tabs), places: 0)) deliveries | \(ms(delivery.p50Ms)) | \(ms(delivery.p90Ms)) | \(ms(delivery.p99Ms)) | \(ms(delivery.maxMs)) | \(delivery.count) |")
        }
        for result in pgbenches {
            let latency = result.latency
            let pace = result.targetRatePerSecond.map { "scheduled at \(decimal($0, places: 1))/s" } ?? "flat out"
            lines.append("| pgbench, \(result.clients) clients, \(decimal(result.durationSeconds, places: 0)) s, \(pace) | accepted-bid transaction (\(result.script)) | \(decimal(result.tps, places: 1)) | \(ms(latency.p50Ms)) | \(ms(latency.p90Ms)) | \(ms(latency.p99Ms)) | \(ms(latency.maxMs)) | \(latency.count)\(result.failedTransactions > 0 ? " (\(result.failedTransactions) failed)" : "") |")
        }
        return lines
    }

    private static func ms(_ value: Double) -> String { LatencySummary.format(value) }
}
