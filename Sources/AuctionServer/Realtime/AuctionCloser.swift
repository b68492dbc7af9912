import Logging
import ServiceLifecycle

/// Closes auctions at their end, exactly once across all instances: every instance looks for
/// due auctions twice a second, and the conditional `UPDATE` in ``BidLedger/closeIfDue`` lets
/// only one of them win each.
struct AuctionCloser: Service {
    let items: ItemRepository
    let ledger: BidLedger
    let gateway: AuctionGateway
    let logger: Logger
    var interval: Duration = .milliseconds(500)

    func run() async throws {
        // Shutdown cancels the loop; that is the normal end, not an error.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.closeDueAuctions()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    func closeDueAuctions() async {
        do {
            for itemKey in try await items.dueForClosing(limit: 100) {
                if let closing = try await ledger.closeIfDue(itemKey: itemKey, publish: { await gateway.publish($0) }) {
                    logger.info("auction closed", metadata: ["item": "\(closing.itemId)", "price": "\(closing.price)"])
                }
            }
        } catch {
            logger.debug("closing deferred: storage unavailable", metadata: ["error": "\(error)"])
        }
    }
}
