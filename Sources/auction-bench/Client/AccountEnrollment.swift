/// Registers and signs in the bench users `<prefix>-<n>@example.com`, one login each: a user's
/// tabs share its token. The service limits failed logins only (per account and per address),
/// so right passwords are never refused; logins are still spread over every (instance, source
/// address) pair, and a 429 (from an older service, or failures) is waited out for its Retry-After.
struct AccountEnrollment: Sendable {
    static let password = "benchpass123"
    /// How long one login attempt takes to come back to the service's limiter.
    static let loginRefillSeconds = 6.0

    struct Outcome: Sendable {
        /// Ordered by user index.
        var accounts: [AuctionAPI.Account]
        var registered = 0
        var alreadyRegistered = 0
        var rateLimited = 0
    }

    let api: AuctionAPI
    let addresses: [ServerAddress]
    /// Local addresses to log in from; nil is the system's choice.
    let sources: [String?]
    let emailPrefix: String

    var lanes: Int { addresses.count * sources.count }

    func email(_ user: Int) -> String { "\(emailPrefix)-\(user)@example.com" }

    func enroll(users: Int, deadline: ContinuousClock.Instant) async throws -> Outcome {
        try await withThrowingTaskGroup(of: Outcome.self) { group in
            for lane in 0..<min(lanes, users) {
                group.addTask {
                    try await self.enroll(users: Array(stride(from: lane, to: users, by: self.lanes)), lane: lane, deadline: deadline)
                }
            }
            var total = Outcome(accounts: [])
            for try await outcome in group {
                total.accounts += outcome.accounts
                total.registered += outcome.registered
                total.alreadyRegistered += outcome.alreadyRegistered
                total.rateLimited += outcome.rateLimited
            }
            total.accounts.sort { $0.index < $1.index }
            return total
        }
    }

    /// One lane's users, one after another, so a lane never has more than one attempt in flight.
    private func enroll(users: [Int], lane: Int, deadline: ContinuousClock.Instant) async throws -> Outcome {
        let address = addresses[lane % addresses.count]
        let source = sources[lane / addresses.count]
        var outcome = Outcome(accounts: [])
        for user in users {
            if try await api.register(email: email(user), name: "Bench \(user)", password: Self.password, at: address) {
                outcome.registered += 1
            } else {
                outcome.alreadyRegistered += 1
            }
            while true {
                switch try await api.login(index: user, email: email(user), password: Self.password, at: address, from: source) {
                case .signedIn(let account):
                    outcome.accounts.append(account)
                case .rateLimited(let retryAfter):
                    outcome.rateLimited += 1
                    let wait = retryAfter ?? Self.loginRefillSeconds
                    guard ContinuousClock.now + .seconds(wait) < deadline else {
                        throw BenchFailure(description: "login of \(email(user)) at \(address.host):\(address.port) still rate limited when --setup-timeout ran out")
                    }
                    Console.line("  login \(email(user)) at \(address.host):\(address.port)\(source.map { " from \($0)" } ?? ""): 429 RATE_LIMITED, retrying in \(decimal(wait, places: 0)) s")
                    try await Task.sleep(for: .seconds(wait))
                    continue
                }
                break
            }
        }
        return outcome
    }
}
