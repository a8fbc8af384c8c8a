//! Shared configuration machinery (in progress).
