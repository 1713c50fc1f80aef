#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A counting semaphore (POSIX `sem_t`): how a thread blocks in this library
/// once there is nothing left to help with. No Foundation.
final class Semaphore: @unchecked Sendable {
    private let sem = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(sem, 0, 0) }

    deinit {
        sem_destroy(sem)
        sem.deallocate()
    }

    func signal() { sem_post(sem) }

    /// Blocks until a `signal()` (restarts after signal interruptions).
    func wait() {
        while sem_wait(sem) != 0 {}
    }
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Runs `body` on a new detached pthread (for waits that must not block the
/// caller: a shutdown awaited from async code, a pool released without
/// shutdown). Returns false, without running `body`, if no thread could be made.
@discardableResult
func detachThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let rc = pthread_create(&thread, &attr, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, box)
    pthread_attr_destroy(&attr)
    if rc != 0 {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        return false
    }
    return true
}

/// Writes one line to standard error (no Foundation).
func logError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
