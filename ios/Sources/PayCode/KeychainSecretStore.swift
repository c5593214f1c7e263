#if canImport(Security)
import Foundation
import Security

/// The wallet's `SecretStore` on Apple platforms: generic-password items in the data-protection
/// keychain, readable only while the device is unlocked and never migrated to another device
/// (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`: not in iCloud Keychain, not in backups
/// restored elsewhere — a restored phone must log in again).
///
/// Reading while the device is locked throws `StoreError.Locked`; the wallet then shows
/// `.locked` until the user unlocks. Each `put` replaces the item in one keychain call (atomic).
/// Thread-safe: the keychain API is, and this type holds only constants.
public final class KeychainSecretStore: SecretStore {
    private let service: String
    private let accessGroup: String?

    /// - Parameters:
    ///   - service: the keychain service of the items (one per wallet namespace is fine).
    ///   - accessGroup: a keychain access group to share with app extensions, or nil.
    public init(service: String = "io.paycode.secret-store", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
    }

    private func query(_ name: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: name,
            kSecUseDataProtectionKeychain as String: true,
        ]
        if let accessGroup {
            query[kSecAttrAccessGroup as String] = accessGroup
        }
        return query
    }

    public func put(name: String, value: Data) throws {
        let attributes: [String: Any] = [
            kSecValueData as String: value,
            kSecAttrAccessible as String: kSecAttrAccessibleWhenUnlockedThisDeviceOnly,
        ]
        var status = SecItemUpdate(query(name) as CFDictionary, attributes as CFDictionary)
        if status == errSecItemNotFound {
            let item = query(name).merging(attributes) { _, new in new }
            status = SecItemAdd(item as CFDictionary, nil)
        }
        try check(status, "put")
    }

    public func get(name: String) throws -> Data? {
        var item = query(name)
        item[kSecReturnData as String] = true
        item[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        let status = SecItemCopyMatching(item as CFDictionary, &result)
        if status == errSecItemNotFound {
            return nil
        }
        try check(status, "get")
        guard let data = result as? Data else {
            throw StoreError.Corrupt(reason: "keychain item \(name) holds no data")
        }
        return data
    }

    public func delete(name: String) throws {
        let status = SecItemDelete(query(name) as CFDictionary)
        if status == errSecItemNotFound {
            return
        }
        try check(status, "delete")
    }

    private func check(_ status: OSStatus, _ operation: String) throws {
        switch status {
        case errSecSuccess:
            return
        case errSecInteractionNotAllowed:
            // The device is locked (WhenUnlocked items are unreadable until it is unlocked).
            throw StoreError.Locked
        default:
            let message = SecCopyErrorMessageString(status, nil) as String? ?? "OSStatus \(status)"
            throw StoreError.Unavailable(reason: "keychain \(operation): \(message)")
        }
    }
}
#endif
