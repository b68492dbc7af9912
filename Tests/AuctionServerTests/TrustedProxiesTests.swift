import HTTPTypes
import Testing

@testable import AuctionServer

@Suite("Trusted proxies")
struct TrustedProxiesTests {
    private func forwarded(_ value: String) -> HTTPFields {
        [TrustedProxies.forwardedFor: value]
    }

    @Test func withoutTrustedProxiesThePeerCounts() throws {
        let proxies = TrustedProxies.none
        #expect(proxies.clientAddress(peer: "127.0.0.1", headers: forwarded("203.0.113.7")) == "127.0.0.1")
    }

    @Test func aTrustedPeerNamesTheClient() throws {
        let proxies = try TrustedProxies(parsing: "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", headers: forwarded("203.0.113.7")) == "203.0.113.7")
        #expect(proxies.clientAddress(peer: "127.0.0.1", headers: [:]) == "127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.2", headers: forwarded("203.0.113.7")) == "127.0.0.2")
    }

    @Test func theRightMostUntrustedHopIsTheClient() throws {
        // The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
        let proxies = try TrustedProxies(parsing: "10.0.0.0/8, 127.0.0.1")
        #expect(proxies.clientAddress(peer: "127.0.0.1", headers: forwarded("1.2.3.4, 198.51.100.9, 10.1.2.3")) == "198.51.100.9")
        #expect(proxies.clientAddress(peer: "10.9.9.9", headers: forwarded("not-an-address")) == "10.9.9.9")
    }

    @Test func rangesMatchByPrefix() throws {
        let proxies = try TrustedProxies(parsing: "192.168.4.0/22,fd00::/8,::1")
        #expect(proxies.isTrusted("192.168.7.255"))
        #expect(!proxies.isTrusted("192.168.8.0"))
        #expect(proxies.isTrusted("fd12:3456::1"))
        #expect(proxies.isTrusted("::1"))
        #expect(!proxies.isTrusted("fe80::1"))
        #expect(!proxies.isTrusted("garbage"))
    }

    @Test(arguments: ["127.0.0.300", "10.0.0.0/33", "example.com", "::1/129", "1.2.3.4/x"])
    func badEntriesAreAStartupError(entry: String) {
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: entry) }
    }

    @Test func theEnvironmentSetsProxiesAndCaps() throws {
        let configuration = try ServiceConfiguration.fromEnvironment([
            "DATABASE_URL": "postgres://app@127.0.0.1/auction", "TRUSTED_PROXIES": "127.0.0.1",
            "MAX_CONNECTIONS_PER_ADDRESS": "7", "MAX_CONNECTIONS_PER_USER": "3",
        ])
        #expect(configuration.trustedProxies.isTrusted("127.0.0.1"))
        #expect(configuration.maxConnectionsPerAddress == 7)
        #expect(configuration.maxConnectionsPerUser == 3)
        let defaults = try ServiceConfiguration.fromEnvironment(["DATABASE_URL": "postgres://app@127.0.0.1/auction"])
        #expect(defaults.trustedProxies == .none)
        #expect(defaults.maxConnectionsPerAddress == 1000 && defaults.maxConnectionsPerUser == 32)
    }
}

@Suite("In-memory session store")
struct InMemorySessionStoreTests {
    @Test func aUserKeepsAtMostTheCapAndTheOldestGoFirst() async throws {
        let store = InMemorySessionStore()
        var ids: [String] = []
        for _ in 0..<50 { ids.append(try await store.create(userID: "7", ttl: 60)) }
        #expect(store.count(userID: "7") == SessionToken.maximumPerUser)
        #expect(try await store.userID(for: ids[0]) == nil)
        #expect(try await store.userID(for: ids[49]) == "7")
        #expect(try await store.userID(for: ids[50 - SessionToken.maximumPerUser]) == "7")
        #expect(try await store.userID(for: ids[49 - SessionToken.maximumPerUser]) == nil)
        _ = try await store.create(userID: "8", ttl: 60)
        #expect(store.count(userID: "8") == 1, "another user's sessions are counted apart")
    }

    @Test func deletedSessionsLeaveTheIndex() async throws {
        let store = InMemorySessionStore()
        let id = try await store.create(userID: "7", ttl: 60)
        try await store.delete(id)
        #expect(store.count(userID: "7") == 0)
        #expect(try await store.userID(for: id) == nil)
    }
}
