#if canImport(UIKit)
import UIKit

/// Forwards the platform's signals to the wallet as events:
///
/// * screenshots — `UIApplication.userDidTakeScreenshotNotification` → `.screenshot` (posted after
///   the screenshot is taken: the wallet voids the captured code and shows a new one);
/// * screen capture (recording, AirPlay mirroring) — iOS 17+: the window scene's
///   `traitCollection.sceneCaptureState`; iOS 15–16: `UIScreen.isCaptured` and its
///   `capturedDidChangeNotification` → `.screenCaptureStarted` / `.screenCaptureStopped`
///   (the code is hidden while captured);
/// * foreground/background — `willEnterForeground` / `didEnterBackground` → `.foreground` /
///   `.background`.
///
/// Create it on the main actor when the payment screen appears, keep it while the screen is
/// shown, and call `stop()` when it goes away.
@MainActor
public final class PlatformSignals {
    private let wallet: PayCodeWallet
    private var observers: [NSObjectProtocol] = []
    private weak var scene: UIWindowScene?
    private var traitRegistration: (any UITraitChangeRegistration)?
    private var captured = false

    /// - Parameter scene: the payment screen's window scene (for the iOS 17+ capture state).
    public init(wallet: PayCodeWallet, scene: UIWindowScene?) {
        self.wallet = wallet
        self.scene = scene
        let center = NotificationCenter.default
        observe(center, UIApplication.userDidTakeScreenshotNotification) { $0.wallet.handle(.screenshot) }
        observe(center, UIApplication.willEnterForegroundNotification) { $0.wallet.handle(.foreground) }
        observe(center, UIApplication.didEnterBackgroundNotification) { $0.wallet.handle(.background) }
        if #available(iOS 17.0, *), let scene {
            traitRegistration = scene.registerForTraitChanges([UITraitSceneCaptureState.self]) {
                [weak self] (scene: UIWindowScene, _: UITraitCollection) in
                self?.setCaptured(scene.traitCollection.sceneCaptureState == .active)
            }
            setCaptured(scene.traitCollection.sceneCaptureState == .active)
        } else {
            let screen = scene?.screen ?? UIScreen.main
            observe(center, UIScreen.capturedDidChangeNotification) { $0.setCaptured(screen.isCaptured) }
            setCaptured(screen.isCaptured)
        }
    }

    /// Stops forwarding.
    public func stop() {
        for observer in observers {
            NotificationCenter.default.removeObserver(observer)
        }
        observers.removeAll()
        if #available(iOS 17.0, *), let scene, let registration = traitRegistration {
            scene.unregisterForTraitChanges(registration)
        }
        traitRegistration = nil
    }

    private func observe(
        _ center: NotificationCenter,
        _ name: Notification.Name,
        _ action: @escaping @MainActor (PlatformSignals) -> Void
    ) {
        let token = center.addObserver(forName: name, object: nil, queue: .main) { [weak self] _ in
            MainActor.assumeIsolated {
                if let self {
                    action(self)
                }
            }
        }
        observers.append(token)
    }

    private func setCaptured(_ now: Bool) {
        guard now != captured else { return }
        captured = now
        wallet.handle(now ? .screenCaptureStarted : .screenCaptureStopped)
    }
}
#endif
