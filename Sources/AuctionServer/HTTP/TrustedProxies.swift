import EngineIO
import Foundation
import HTTPTypes
import NIOCore

/// The peers allowed to tell us the client's address in `X-Forwarded-For` (`TRUSTED_PROXIES`:
/// addresses or CIDR ranges, e.g. the load balancer). Per-address limits (sign-in attempts,
/// connections) count the address this answers; from any other peer the header is ignored, so a
/// client cannot pick its own bucket.
public struct TrustedProxies: Sendable, Equatable {
    /// An address or a range: the first `prefixLength` bits of `bytes`.
    struct Range: Sendable, Equatable {
        var bytes: [UInt8]
        var prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for index in bytes.indices where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != bytes[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    let ranges: [Range]

    /// No proxy is trusted: the peer address always counts.
    public static let none = TrustedProxies(ranges: [])

    init(ranges: [Range]) {
        self.ranges = ranges
    }

    /// `127.0.0.1, 10.0.0.0/8, ::1` — commas or spaces between entries.
    public init(parsing list: String) throws(ConfigurationError) {
        var ranges: [Range] = []
        for entry in list.split(whereSeparator: { $0 == "," || $0 == " " }) where !entry.isEmpty {
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = Self.bytes(of: String(parts[0])) else {
                throw ConfigurationError(description: "TRUSTED_PROXIES: '\(entry)' is not an IP address or CIDR range")
            }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let length = Int(parts[1]), (0...prefix).contains(length) else {
                    throw ConfigurationError(description: "TRUSTED_PROXIES: '\(entry)' has an invalid prefix length")
                }
                prefix = length
            }
            ranges.append(Range(bytes: bytes, prefixLength: prefix))
        }
        self.ranges = ranges
    }

    func isTrusted(_ address: String) -> Bool {
        guard !ranges.isEmpty, let bytes = Self.bytes(of: address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// The client's address: the peer, unless the peer is trusted; then the right-most entry of
    /// `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it
    /// saw, so entries to the left of it are whatever the client wrote).
    public func clientAddress(peer: String?, headers: HTTPFields) -> String {
        guard let peer else { return "unknown" }
        guard isTrusted(peer) else { return peer }
        let hops = headers[values: Self.forwardedFor]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop) {
            // Only an address counts; anything else in the header is the client's own invention.
            return Self.bytes(of: hop) == nil ? peer : hop
        }
        return hops.first ?? peer
    }

    /// The client address of an Engine.IO request.
    func clientAddress(_ request: EngineRequest) -> String {
        clientAddress(peer: request.remoteAddress?.ipAddress, headers: request.headers)
    }

    static func bytes(of address: String) -> [UInt8]? {
        guard let parsed = try? SocketAddress(ipAddress: address, port: 0) else { return nil }
        switch parsed {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }
}
