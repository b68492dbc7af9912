import Foundation
import HummingbirdBcrypt
import NIOCore
import NIOPosix

/// bcrypt off the event loops, with a bound on how many run at once (each is ~0.3 s of CPU).
public struct PasswordHasher: Sendable {
    let cost: UInt8
    let pool: NIOThreadPool
    /// A hash to verify against for unknown addresses, so both answers take the same time.
    let decoy: String

    public init(cost: UInt8 = 10, pool: NIOThreadPool = .singleton) {
        self.cost = cost
        self.pool = pool
        self.decoy = Bcrypt.hash("decoy-password-for-unknown-users", cost: cost)
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await pool.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String?) async throws -> Bool {
        let target = hash ?? decoy
        let matches = try await pool.runIfActive { Bcrypt.verify(password, hash: target) }
        return hash != nil && matches
    }
}
