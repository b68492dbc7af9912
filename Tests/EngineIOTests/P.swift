import Testing
@testable import EngineIO
@Test func placeholder() { #expect(true) }
