import ArgumentParser
import Foundation

/// Renders result files of earlier runs as Markdown tables, so scripts need no JSON tooling.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Print Markdown tables summarising fanout and idle result files."
    )

    @Argument(help: "JSON result files written by `fanout` or `idle`.")
    var files: [String]

    private struct ScenarioName: Decodable {
        var scenario: String
    }

    func run() throws {
        var fanouts: [FanoutResult] = []
        var idles: [IdleResult] = []
        let decoder = JSONDecoder()
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            switch try decoder.decode(ScenarioName.self, from: data).scenario {
            case "fanout": fanouts.append(try decoder.decode(FanoutResult.self, from: data))
            case "idle": idles.append(try decoder.decode(IdleResult.self, from: data))
            case let other: throw BenchFailure(description: "\(file): unknown scenario \(other)")
            }
        }
        var lines: [String] = []
        if !fanouts.isEmpty { lines += Self.fanoutTable(fanouts) + [""] }
        if !idles.isEmpty { lines += Self.idleTable(idles) + [""] }
        print(lines.joined(separator: "\n"), terminator: "")
    }

    private static func fanoutTable(_ results: [FanoutResult]) -> [String] {
        var lines = [
            "### Fanout: one room, every bid acked to its sender and broadcast to every socket",
            "",
            "| sockets | emitters | offered/s | sent/s | acked/s | delivered/s | delivered / expected | ack p50 | ack p90 | ack p99 | ack max | delivery p50 | delivery p90 | delivery p99 | delivery max | dropped |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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

    private static func ms(_ value: Double) -> String { LatencySummary.format(value) }
}
