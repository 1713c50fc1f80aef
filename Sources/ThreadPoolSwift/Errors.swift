import CThreadPool

/// An error from the thread pool: one case per failure of the C runtime, plus
/// ``cancelled`` for a value-returning task dropped by a cancelling shutdown.
/// (The C error codes themselves are not part of the Swift API.)
public enum ThreadPoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An argument or configuration value is invalid; the text says which.
    case invalidArgument(String)
    /// Memory or threads could not be obtained.
    case outOfMemory
    /// The pool is shutting down or stopped; nothing was queued.
    case shutdown
    /// The bounded queue is full; nothing was queued.
    case queueFull
    /// A wait ended before its condition held.
    case timedOut
    /// The call would wait for the calling thread itself.
    case deadlock
    /// The task was dropped by a cancelling shutdown before it ran.
    case cancelled

    /// Maps a C error code (`CTP_E*`) to its case; `detail` explains an invalid argument.
    init(code: Int32, detail: String = "") {
        switch code {
        case Int32(CTP_ENOMEM): self = .outOfMemory
        case Int32(CTP_ESHUTDOWN): self = .shutdown
        case Int32(CTP_EFULL): self = .queueFull
        case Int32(CTP_ETIMEDOUT): self = .timedOut
        case Int32(CTP_EDEADLK): self = .deadlock
        default: self = .invalidArgument(detail.isEmpty ? String(cString: ctp_strerror(code)) : detail)
        }
    }

    /// The C error code of this error (`CTP_ECANCELLED` does not exist in C: -100).
    var code: Int32 {
        switch self {
        case .invalidArgument: return Int32(CTP_EINVAL)
        case .outOfMemory: return Int32(CTP_ENOMEM)
        case .shutdown: return Int32(CTP_ESHUTDOWN)
        case .queueFull: return Int32(CTP_EFULL)
        case .timedOut: return Int32(CTP_ETIMEDOUT)
        case .deadlock: return Int32(CTP_EDEADLK)
        case .cancelled: return -100
        }
    }

    /// A sentence describing the error.
    public var description: String {
        switch self {
        case .invalidArgument(let why): return "invalid argument: \(why)"
        case .cancelled: return "the task was cancelled by a shutdown before it ran"
        default: return String(cString: ctp_strerror(code))
        }
    }
}

@inline(__always)
func check(_ rc: Int32) throws {
    if rc != Int32(CTP_OK) { throw ThreadPoolError(code: rc) }
}
